from datetime import datetime, timezone

from prometheus_client.core import GaugeMetricFamily

from services.common.nameko_support import ServiceDatabase

from .domain import TARGETS
from .repository import SlaRepository

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class SlaStore(ServiceDatabase):
    repository = SlaRepository


def at_risk_gauges(db) -> list[GaugeMetricFamily]:
    """Clocks warned but neither breached nor met yet, per target (metrics scrape).  Such a
    clock still has its breach check pending, so the range on the ``next_check`` index
    narrows the count to running clocks."""
    gauge = GaugeMetricFamily("helpdesk_sla_at_risk",
                              "SLA targets past their warning, not yet breached or met",
                              labels=["target"])
    for target in TARGETS:
        gauge.add_metric([target], db.clocks.count_documents({
            "next_check": {"$gte": EPOCH}, f"targets.{target}.warned": True,
            f"targets.{target}.breached": False, f"targets.{target}.met_at": None}))
    return [gauge]
