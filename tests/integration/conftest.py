import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from services.common.storage import service_database
from tests.integration.mail_sink import running_sink
from tests.support import delete_vhost, isolated_config


@pytest.fixture(scope="module")
def config():
    cfg = isolated_config()
    yield cfg
    delete_vhost(cfg["_vhost"])


@pytest.fixture(scope="module")
def rpc(config):
    with ClusterRpcProxy({"AMQP_URI": config["AMQP_URI"], "serializer": "json"},
                         timeout=20) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def db(config):
    """The services' own databases (tests read them to check what really got written)."""
    return lambda service: service_database(config["MONGO_URI"], config["MONGO_DB"], service)


@pytest.fixture(scope="module")
def sink():
    """A real SMTP server on 127.0.0.1 that keeps what the services send (their relay)."""
    handler, stop = running_sink()
    yield handler
    stop()
