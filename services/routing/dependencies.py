from nameko.extensions import DependencyProvider

from services.common.nameko_support import ServiceDatabase

from .repository import RoutingRepository


class RoutingStore(ServiceDatabase):
    repository = RoutingRepository


class SlotsBeingTaken(DependencyProvider):
    """The agents whose slot a worker of this process has taken, until that worker ends (its
    transaction committed or given up).  Placements running side by side read the same loads;
    told which agents the others are taking, each tries another first instead of colliding
    on one agent's load and starting its transaction over (``domain.rank_candidates``)."""

    def setup(self) -> None:
        self.held: dict[str, set[str]] = {}  # worker call id -> agent ids

    def get_dependency(self, worker_ctx) -> "WorkerSlots":
        return WorkerSlots(self.held, worker_ctx.call_id)

    def worker_teardown(self, worker_ctx) -> None:
        self.held.pop(worker_ctx.call_id, None)


class WorkerSlots:
    """One worker's view of ``SlotsBeingTaken``."""

    def __init__(self, held: dict[str, set[str]], worker: str):
        self._held, self._worker = held, worker

    def by_others(self) -> set[str]:
        return set().union(*(agents for worker, agents in self._held.items()
                             if worker != self._worker))

    def hold(self, agent_id: str) -> None:
        self._held.setdefault(self._worker, set()).add(agent_id)
