"""A portal process's ticket filings go to intake together: while one request of filings is
out, those that arrive meanwhile wait and go in the next, all of them (``create_tickets``).
Under a burst one RPC round trip and one insert serve several filings (a round trip alone
cost its caller, the broker and the service ~1.2 CPU-ms on this machine; BENCHMARKS.md,
twenty-fourth round); a filing that arrives alone waits for nothing."""
from __future__ import annotations

from eventlet.event import Event
from nameko.exceptions import RpcTimeout

from services.common import correlation
from services.common.coalesce import Coalescer
from services.intake.schemas import FILINGS_PER_REQUEST

from .rpc import RpcPool


class FilingBatches:
    def __init__(self, rpc: RpcPool, most: int = FILINGS_PER_REQUEST):
        self.rpc = rpc
        self._requests: Coalescer[tuple[dict, str | None, Event]] = Coalescer(
            self._send, "filings sent to intake", most=most)

    def file(self, command: dict) -> dict:
        """intake's answer to this create_ticket command, as create_ticket gives it; raises
        what the request raised (RpcTimeout when no answer came in time), and RpcTimeout
        when intake could not write this filing and asks for it again (under its key)."""
        answered = Event()
        self._requests.add((command, correlation.current(), answered))
        return answered.wait()

    def _send(self, batch: list[tuple[dict, str | None, Event]]) -> None:
        # The request's own correlation id is its first filing's; each filing carries its own.
        correlation.bind(batch[0][1])
        try:
            answers = self.rpc.call("intake", "create_tickets", [
                {"command": command, "correlation_id": correlation_id}
                for command, correlation_id, _ in batch])
        except Exception as exc:  # noqa: BLE001 - each caller raises it: theirs as much
            for *_, answered in batch:
                answered.send_exception(exc)
            return
        if isinstance(answers, dict):  # the request itself refused (a malformed filing)
            answers = [answers] * len(batch)
        for (*_, answered), answer in zip(batch, answers):
            if answer.get("again"):
                answered.send_exception(RpcTimeout("intake asks for this filing again"))
            else:
                answered.send(answer)
