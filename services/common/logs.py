"""JSON-lines logs: one object per line with time, level, service, logger, message, and the
correlation id and ticket number of the work in progress when there is one.

nameko processes get it from deploy/nameko.yaml (``LOGGING``, formatter ``()`` this class);
the portal and the SMTP listener call ``configure``.
"""
from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timezone

from . import correlation

_process_service: str | None = None

# The lines carry none of thread, process or source position: skip finding them for every
# record (the logging HOWTO's "Optimization"; under eventlet the thread lookup is costly).
logging.logThreads = False
logging.logProcesses = False
logging.logMultiprocessing = False
logging._srcfile = None


def set_process_service(name: str) -> None:
    """The service this process runs (when a log line comes from outside any worker)."""
    global _process_service
    _process_service = name


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc)
                          .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "service": correlation.service() or _process_service
            or os.environ.get("HELPDESK_SERVICE_NAME") or "helpdesk",
            "logger": record.name,
            "message": record.getMessage(),
        }
        if correlation.current():
            entry["correlation_id"] = correlation.current()
        if correlation.ticket() is not None:
            entry["ticket"] = correlation.ticket()
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(service: str) -> None:
    """JSON lines on stderr at ``HELPDESK_LOG_LEVEL`` for a process that is not ``nameko run``."""
    set_process_service(service)
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=os.environ.get("HELPDESK_LOG_LEVEL", "INFO"), handlers=[handler],
                        force=True)
    for noisy in ("kombu", "amqp", "elasticsearch", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
