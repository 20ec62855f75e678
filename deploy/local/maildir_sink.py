"""An SMTP server's handler that keeps every message exactly as received, one file each, in a
Maildir: the demo's outgoing-mail catcher (with no relay configured) and the suite's relay.

    python -m aiosmtpd -n -l 127.0.0.1:PORT -c deploy.local.maildir_sink.RawMaildir MAILDIR

aiosmtpd's own ``Mailbox`` handler parses each message and prints it back (two passes of the
``email`` package, ~2 CPU-ms a message); the bytes need neither."""
from __future__ import annotations

import mailbox


class RawMaildir:
    def __init__(self, mail_dir: str):
        self.mail_dir = mail_dir
        self.mailbox = mailbox.Maildir(mail_dir, create=True)

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error("one argument: the Maildir's directory")
        return cls(args[0])

    async def handle_DATA(self, server, session, envelope) -> str:
        self.mailbox.add(envelope.original_content or envelope.content)
        return "250 OK"
