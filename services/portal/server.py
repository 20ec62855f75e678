"""Runs the portal: ``python -m services.portal.server``.  eventlet's WSGI server, because the
nameko RPC clients are green-threaded; one process serves many concurrent requests."""
import eventlet

eventlet.monkey_patch()

import logging  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402

import eventlet.wsgi  # noqa: E402

from services.common import gc_tuning, logs  # noqa: E402
from services.common.clock import SystemClock  # noqa: E402

from .dependencies import nameko_config, rpc_pool, user_repository  # noqa: E402
from .live import LiveFeed  # noqa: E402
from .live_amqp import EventListener  # noqa: E402
from .service import create_app  # noqa: E402


# The app refuses URLs over service.MAX_URL_BYTES with the documented JSON 414.  eventlet's own
# limit (8 KiB by default) would answer first, with an empty body, so it sits far above; only
# past it does eventlet's bare 414 remain.
SERVER_URL_LIMIT = 1024 * 1024


def listen(host: str, port: int) -> socket.socket:
    """The portal's listening socket, with TCP_NODELAY (Linux gives it to every accepted
    connection): eventlet writes a page's headers and body apart, and Nagle's algorithm then
    held the body's last segment until the browser's delayed ACK, ~40 ms a page
    (BENCHMARKS.md, "Agent console queue")."""
    sock = eventlet.listen((host, port), backlog=1024)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def main() -> None:
    logs.configure("portal")
    live = LiveFeed()
    EventListener(nameko_config()["AMQP_URI"], live).start()
    app = create_app(rpc_pool(), user_repository(), SystemClock(), live)
    host = os.environ.get("HELPDESK_PORTAL_HOST", "127.0.0.1")
    port = int(os.environ.get("HELPDESK_PORTAL_PORT", "8080"))
    sock = listen(host, port)
    gc_tuning.tune_for_serving()
    logging.getLogger(__name__).info("portal listening on http://%s:%d/", host, port)
    # Requests are logged (JSON, with their correlation id) by services/portal/observability.py;
    # eventlet's own log only reports server errors, through the same JSON handler.
    eventlet.wsgi.server(sock, app, log=logging.getLogger("eventlet.wsgi"), log_output=False,
                         max_size=2000, keepalive=True, url_length_limit=SERVER_URL_LIMIT)


if __name__ == "__main__":
    main()
