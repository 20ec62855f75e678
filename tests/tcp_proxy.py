"""A TCP proxy for tests that need a real server to fail the way networks fail.

    with TcpProxy("127.0.0.1", 9200) as proxy:      # proxy.url -> http://127.0.0.1:<port>
        proxy.refuse()     # new connections refused, existing ones closed (node down)
        proxy.blackhole()  # connections accepted, nothing ever answered (node hung)
        proxy.forward()    # back to normal

Green threads (eventlet; the test suite monkey-patches sockets), one pair per connection.
"""
from __future__ import annotations

import socket

import eventlet

FORWARD, REFUSE, BLACKHOLE = "forward", "refuse", "blackhole"
CHUNK = 65536


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int, listen_host: str = "127.0.0.1"):
        self.upstream = (upstream_host, upstream_port)
        self.host = listen_host
        self.port = 0
        self.mode = FORWARD
        self._listener: socket.socket | None = None
        self._connections: set[socket.socket] = set()
        self.accepted = 0  # connections taken, any mode (lets a test see it was used)

    # ------------------------------------------------------------------ control

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "TcpProxy":
        self._listen()
        return self

    def forward(self) -> None:
        self.mode = FORWARD
        self._listen()

    def blackhole(self) -> None:
        """Accept, read and drop everything, never answer; open connections go silent too."""
        self.mode = BLACKHOLE
        self._listen()

    def refuse(self) -> None:
        """Stop listening (new connections get RST) and close every open connection."""
        self.mode = REFUSE
        self._stop_listening()
        self._close_all()

    stop = refuse

    def __enter__(self) -> "TcpProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ internals

    # Each socket is closed only by the green thread that reads it; others merely shut it
    # down, which wakes that reader.  (Closing a socket another green thread waits on lets a
    # new socket reuse the descriptor while eventlet's hub still treats it as closed.)

    def _listen(self) -> None:
        if self._listener is not None:
            return
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        for attempt in range(50):  # the same port again after refuse(); its old listener
            try:                   # is closed by the accept loop it wakes
                listener.bind((self.host, self.port))
                break
            except OSError:
                if attempt == 49:
                    raise
                eventlet.sleep(0.1)
        listener.listen(128)
        self.port = listener.getsockname()[1]
        self._listener = listener
        eventlet.spawn(self._accept_loop, listener)

    def _stop_listening(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            _wake(listener)

    def _close_all(self) -> None:
        for sock in list(self._connections):
            _wake(sock)

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                listener.close()  # refuse()/stop() shut it down
                return
            if listener is not self._listener:  # shut down while this one was arriving
                client.close()
                continue
            self.accepted += 1
            self._connections.add(client)
            eventlet.spawn(self._serve, client)

    def _serve(self, client: socket.socket) -> None:
        if self.mode == BLACKHOLE:
            self._pump(client, None)
            return
        try:
            upstream = socket.create_connection(self.upstream, timeout=5)
            upstream.settimeout(None)
        except OSError:
            self._connections.discard(client)
            client.close()
            return
        self._connections.add(upstream)
        eventlet.spawn(self._pump, upstream, client)
        self._pump(client, upstream)

    def _pump(self, source: socket.socket, target: socket.socket | None) -> None:
        """Copy bytes one way; in blackhole mode (or with no target) they are dropped."""
        try:
            while data := source.recv(CHUNK):
                if target is not None and self.mode == FORWARD:
                    target.sendall(data)
        except OSError:
            pass
        finally:
            self._connections.discard(source)
            if target is not None:
                _wake(target)  # its own pump sees the end and closes it
            source.close()


def _wake(sock: socket.socket) -> None:
    """Shut a socket down: a green thread blocked in recv()/accept() on it returns."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
