"""AMQP connections read what the broker sent in one go (services/common/amqp_reads.py), on the
real broker: every message arrives whole and in order, one larger than a read among them, in
a fraction of the reads from the socket py-amqp's own transport made (nine a message)."""
import kombu

from services.common.amqp_reads import READ_AHEAD, ReadAheadTransport, use_read_ahead

SIZES = [10, 2_000, 3 * READ_AHEAD + 17, 1, 500] * 10  # one in five larger than a read


def test_messages_arrive_whole_and_in_order_in_fewer_reads_than_frames(config):
    use_read_ahead()  # as every service and the portal do at import
    queue = kombu.Queue("read-ahead-test", exclusive=True)
    sent = [bytes([n % 251]) * size for n, size in enumerate(SIZES)]
    with kombu.Connection(config["AMQP_URI"]) as connection:
        connection.connect()
        transport = connection.connection._transport
        assert isinstance(transport, ReadAheadTransport)
        reads, recv = [], transport._quick_recv
        transport._quick_recv = lambda size: reads.append(size) or recv(size)

        received = []
        with connection.Consumer(queue, callbacks=[lambda body, m: (received.append(body),
                                                                    m.ack())],
                                 accept=["application/data"]):
            producer = connection.Producer()
            for body in sent:
                producer.publish(body, routing_key=queue.name, content_type="application/data",
                                 content_encoding="binary")
            while len(received) < len(sent):
                connection.drain_events(timeout=10)
    assert received == sent
    # A delivery is three frames (method, header, body): py-amqp's own transport read each
    # in three parts, nine reads a message.  Here the small ones share reads; each larger one
    # takes a few (77 reads for these 50 messages when written).
    assert len(reads) <= 2 * len(sent), reads
