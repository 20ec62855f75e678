"""RPC requests and replies are transient; only requests are confirmed (nameko learns from the
confirm that no service listens), replies are not (a lost one is the caller's timeout)."""
from nameko.amqp.publish import Publisher
from nameko.constants import NON_PERSISTENT
from nameko.rpc import MethodProxy, Responder

import services.common.nameko_support  # noqa: F401  (installs the publishers)
from services.common.transient_rpc import UnconfirmedMethodProxy


def test_requests_are_transient_and_confirmed():
    publisher = MethodProxy.publisher_cls("memory://")
    assert publisher.delivery_mode == NON_PERSISTENT and publisher.use_confirms


def test_replies_are_transient_and_not_confirmed():
    publisher = Responder.publisher_cls("memory://")
    assert publisher.delivery_mode == NON_PERSISTENT and not publisher.use_confirms


def test_the_portals_requests_are_transient_unconfirmed_and_never_mandatory(monkeypatch):
    """Unconfirmed, a mandatory request nobody could take would come back on a connection
    nothing reads: the portal's pool checks instead that the service listens."""
    sent = {}
    monkeypatch.setattr(Publisher, "publish", lambda self, payload, **kwargs: sent.update(kwargs))
    publisher = UnconfirmedMethodProxy.publisher_cls("memory://")
    publisher.publish({"args": []}, mandatory=True, routing_key="intake.create_ticket")
    assert publisher.delivery_mode == NON_PERSISTENT and not publisher.use_confirms
    assert sent == {"mandatory": False, "routing_key": "intake.create_ticket"}
