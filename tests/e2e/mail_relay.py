"""The suite's outbound mail relay: the demo's Maildir handler, which a test can make slow (as a
distant relay is) to see that nothing a caller waits for depends on sending mail.

    python -m aiosmtpd -n -l 127.0.0.1:PORT -c tests.e2e.mail_relay.SlowableMailbox MAILDIR

While the file MAILDIR.delay exists, every message is held that many seconds before it is
stored (other connections are served meanwhile)."""
from __future__ import annotations

import asyncio
from pathlib import Path

from deploy.local.maildir_sink import RawMaildir


def delay_file(maildir: Path) -> Path:
    return maildir.with_name(maildir.name + ".delay")


class SlowableMailbox(RawMaildir):
    async def handle_DATA(self, server, session, envelope):
        slow = delay_file(Path(self.mail_dir))
        if slow.exists():
            await asyncio.sleep(float(slow.read_text() or 0))
        return await super().handle_DATA(server, session, envelope)
