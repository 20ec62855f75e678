"""An SMTP server's handler that keeps every message exactly as received, one file each, in a
Maildir: the demo's outgoing-mail catcher (with no relay configured) and the suite's relay.

    python -m aiosmtpd -n -l 127.0.0.1:PORT -c deploy.local.maildir_sink.RawMaildir MAILDIR

aiosmtpd's own ``Mailbox`` handler parses each message and prints it back (two passes of the
``email`` package, ~2 CPU-ms a message); the bytes need neither.  ``mailbox.Maildir.add`` also
fsyncs every message, holding the sink's one event loop for each (about 0.3 of the sink's
1.3-1.8 CPU-ms a mail in a burst of filings, BENCHMARKS.md nineteenth round).  Mail caught for
showing, not relayed on, needs no fsync: a message is delivered the way Maildir delivers
(written under a unique name in ``tmp/``, then renamed into ``new/``), without it."""
from __future__ import annotations

import itertools
import mailbox
import os
import socket
import time


class OffersPipelining:
    """An aiosmtpd handler that says what aiosmtpd does: it reads a client's commands in
    order from what it has received, so it takes them pipelined (RFC 2920), two round trips a
    mail instead of four (services/common/smtp.py), as Postfix, Exim and the big mail
    services offer it."""

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname  # aiosmtpd leaves it to a handler that answers EHLO
        return [*responses[:-1], "250-PIPELINING", responses[-1]]


class RawMaildir(OffersPipelining):
    def __init__(self, mail_dir: str):
        self.mail_dir = mail_dir
        mailbox.Maildir(mail_dir, create=True)  # tmp/, new/ and cur/
        self.host = socket.gethostname().replace("/", r"\057").replace(":", r"\072")
        self.delivered = itertools.count()

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error("one argument: the Maildir's directory")
        return cls(args[0])

    async def handle_DATA(self, server, session, envelope) -> str:
        now = time.time_ns()
        name = f"{now // 10**9}.M{now // 1000 % 10**6}P{os.getpid()}Q{next(self.delivered)}." \
               f"{self.host}"
        written = os.path.join(self.mail_dir, "tmp", name)
        with open(written, "xb") as message:
            message.write(envelope.original_content or envelope.content)
        os.rename(written, os.path.join(self.mail_dir, "new", name))
        return "250 OK"
