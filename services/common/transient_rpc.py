"""RPC requests and replies travel as transient messages; events stay persistent.

A caller waits for its reply a few seconds at most (the portal then asks once more under the
same idempotency key), and its reply queue is gone after a broker restart anyway, so writing
requests and replies to the broker's disk keeps nothing anyone could use, for about twice the
broker's CPU per message (a publish confirmed and consumed: ~0.25 against ~0.5 ms here).
nameko's RPC client and responder build their publisher from ``publisher_cls``: both get one
whose delivery mode is transient.  Replies are not confirmed either: a confirm only tells the
responder that its reply reached the broker, and a lost reply is handled by the caller's
timeout whatever the responder learns (requests keep theirs: nameko learns from it that no
service is listening).  A caller that asks the broker once per service whether it listens
(the portal's RpcPool) needs no confirm for that either: ``UnconfirmedMethodProxy``.  Events
go through nameko's event dispatcher, untouched."""
from __future__ import annotations

from nameko.amqp.publish import Publisher
from nameko.constants import NON_PERSISTENT
from nameko.rpc import MethodProxy, Responder


class TransientPublisher(Publisher):
    delivery_mode = NON_PERSISTENT


class UnconfirmedReplyPublisher(TransientPublisher):
    use_confirms = False


class UnconfirmedRequestPublisher(UnconfirmedReplyPublisher):
    """Requests neither confirmed nor mandatory: unconfirmed, a request nobody could take
    would come back (basic.return) on a connection nothing reads."""

    def publish(self, payload, **kwargs):
        super().publish(payload, **dict(kwargs, mandatory=False))


class UnconfirmedMethodProxy(MethodProxy):
    """nameko's RPC call, sent unconfirmed: for a caller that has made sure the service
    listens (its queue exists) before it first asks it anything."""

    publisher_cls = UnconfirmedRequestPublisher


def use_transient_rpc() -> None:
    MethodProxy.publisher_cls = TransientPublisher
    Responder.publisher_cls = UnconfirmedReplyPublisher
