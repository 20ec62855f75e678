"""An outbound mail as its recipient's mail program reads it: from the bytes sent."""
import email
import email.policy
from email.message import EmailMessage, Message


def as_received(msg: Message) -> EmailMessage:
    return email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
