"""AMQP connections that read what the broker has sent in one go, not frame part by part.

py-amqp's TCP transport asks the socket for exactly the bytes it needs next: a frame's 7-byte
header, then its payload, then its end byte.  A delivered message is three frames, so nine
reads, each a system call and, under eventlet, a trip through its green socket (plus one that
finds nothing yet); under a burst of filings the portal made ~19 reads per ticket and intake
~24 (strace, BENCHMARKS.md twenty-third round).  Here a read takes up to READ_AHEAD bytes and
keeps the rest for the frames after: py-amqp already keeps a read buffer between frames, and
every reader of the connection (nameko's consumers, kombu's drain_events) reads through it.
Installed for every kombu ``pyamqp://`` connection of the process, as transient_rpc is."""
from __future__ import annotations

from amqp.transport import TCPTransport
from kombu.transport import pyamqp

# Enough for the frames of several event messages at once; a larger payload is still read in
# full (the read asks for at least what the frame needs).
READ_AHEAD = 16 * 1024


class ReadAheadTransport(TCPTransport):
    def _setup_transport(self):
        """py-amqp's own reads, whose loop keeps what comes beyond a frame in its buffer; each
        asks the socket for at least READ_AHEAD bytes."""
        super()._setup_transport()
        recv = self.sock.recv
        self._quick_recv = lambda wanted: recv(max(wanted, READ_AHEAD))


class ReadAheadConnection(pyamqp.Connection):
    """kombu's py-amqp connection over ReadAheadTransport (TLS ones keep py-amqp's own)."""

    def Transport(self, host, connect_timeout, ssl=False, read_timeout=None,  # noqa: N802
                  write_timeout=None, socket_settings=None, **kwargs):
        if ssl:
            return super().Transport(host, connect_timeout, ssl, read_timeout, write_timeout,
                                     socket_settings, **kwargs)
        return ReadAheadTransport(host, connect_timeout=connect_timeout,
                                  read_timeout=read_timeout, write_timeout=write_timeout,
                                  socket_settings=socket_settings, **kwargs)


def use_read_ahead() -> None:
    pyamqp.Transport.Connection = ReadAheadConnection
