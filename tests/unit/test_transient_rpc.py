"""RPC requests and replies are transient; only requests are confirmed (nameko learns from the
confirm that no service listens), replies are not (a lost one is the caller's timeout)."""
from nameko.constants import NON_PERSISTENT
from nameko.rpc import MethodProxy, Responder

import services.common.nameko_support  # noqa: F401  (installs the publishers)


def test_requests_are_transient_and_confirmed():
    publisher = MethodProxy.publisher_cls("memory://")
    assert publisher.delivery_mode == NON_PERSISTENT and publisher.use_confirms


def test_replies_are_transient_and_not_confirmed():
    publisher = Responder.publisher_cls("memory://")
    assert publisher.delivery_mode == NON_PERSISTENT and not publisher.use_confirms
