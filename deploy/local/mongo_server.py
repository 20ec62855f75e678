"""Runs the secantusdb wire server (``python -m deploy.local.mongo_server`` + its daemon's
flags) with a short transaction lifetime.

A process killed mid-transaction leaves its transaction open on the server (drivers may send a
transaction's statements over several connections, so a closed connection does not end it,
exactly as with mongod).  Until the server reaps it, every write to the documents it touched
conflicts: with the 60 s default, one killed replica stalls the writers behind it for a
minute.  Our transactions last milliseconds, so ten seconds is ample.  On a real mongod the same
knob is ``setParameter transactionLifetimeLimitSeconds``.  The daemon's command line has no
flag for it, so its constructor gets the value here."""
import functools
import os
import sys

from secantus import cli
from secantus.server import SecantusDBServer


def main() -> int:
    lifetime = float(os.environ.get("HELPDESK_MONGO_TXN_LIFETIME", "10"))
    cli.SecantusDBServer = functools.partial(SecantusDBServer,
                                             transaction_lifetime_seconds=lifetime)
    return cli.main()


if __name__ == "__main__":
    sys.exit(main())
