"""A portal process's filings go to intake together (services/portal/filings.py): those that
arrive while a request is out go in the next one, each answered with its own answer and
carrying its own correlation id; what a request raised reaches each of its callers, and a
filing intake asks for again raises RpcTimeout (resolved_filing then asks under its key)."""
import eventlet
from nameko.exceptions import RpcTimeout

from services.common import correlation
from services.portal.filings import FilingBatches


class Intake:
    """create_tickets: answers each filing with its subject after a green-thread switch, or
    with what ``answers`` holds for that subject; raises ``fail_with`` once if set."""

    def __init__(self, answers: dict | None = None):
        self.requests, self.answers, self.fail_with = [], answers or {}, None

    def call(self, service, method, filings):
        assert (service, method) == ("intake", "create_tickets")
        self.requests.append(filings)
        eventlet.sleep(0.01)
        if self.fail_with is not None:
            failure, self.fail_with = self.fail_with, None
            raise failure
        return [self.answers.get(f["command"]["subject"],
                                 {"ok": True, "ticket": f["command"]["subject"]})
                for f in filings]


def _file_together(batches: FilingBatches, subjects: list[str]) -> list:
    def file(subject):
        correlation.bind(f"id-{subject}")
        try:
            return batches.file({"subject": subject})
        except RpcTimeout as exc:
            return exc

    pool = eventlet.GreenPool()
    answers = []
    for subject in subjects:
        answers.append(pool.spawn(file, subject))
        eventlet.sleep(0)  # each hands in its filing before the next
    return [a.wait() for a in answers]


def test_filings_arriving_while_a_request_is_out_go_together_in_the_next():
    intake = Intake()
    answers = _file_together(FilingBatches(intake), [f"t{i}" for i in range(6)])
    assert [a["ticket"] for a in answers] == [f"t{i}" for i in range(6)]
    # The first went alone, at once; the five that came meanwhile went in one request.
    assert [[f["command"]["subject"] for f in r] for r in intake.requests] == \
        [["t0"], ["t1", "t2", "t3", "t4", "t5"]]
    assert [f["correlation_id"] for f in intake.requests[1]] == \
        [f"id-t{i}" for i in range(1, 6)]


def test_a_request_carries_at_most_so_many_filings():
    intake = Intake()
    _file_together(FilingBatches(intake, most=2), [f"t{i}" for i in range(6)])
    assert [len(r) for r in intake.requests] == [1, 2, 2, 1]


def test_a_request_that_timed_out_reaches_each_of_its_callers_and_the_next_goes_on():
    intake = Intake()
    intake.fail_with = RpcTimeout("intake far behind")
    answers = _file_together(FilingBatches(intake), ["t0", "t1"])
    assert isinstance(answers[0], RpcTimeout) and answers[1] == {"ok": True, "ticket": "t1"}


def test_a_filing_intake_asks_for_again_raises_rpc_timeout_for_its_caller_alone():
    intake = Intake(answers={"t2": {"ok": False, "again": True},
                             "t3": {"ok": False, "status": 400, "errors": {"subject": ["x"]}}})
    answers = _file_together(FilingBatches(intake), ["t0", "t1", "t2", "t3"])
    assert answers[1] == {"ok": True, "ticket": "t1"}
    assert isinstance(answers[2], RpcTimeout)
    assert answers[3]["status"] == 400


def test_a_refused_request_is_each_filings_answer():
    class Refusing(Intake):
        def call(self, service, method, filings):
            return {"ok": False, "status": 400, "errors": {"filings": ["too many"]}}

    answers = _file_together(FilingBatches(Refusing()), ["t0", "t1"])
    assert [a["status"] for a in answers] == [400, 400]
