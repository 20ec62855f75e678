# Green threads must replace blocking I/O before anything imports sockets, or broker tests hang.
import eventlet

eventlet.monkey_patch()

import os  # noqa: E402

import pytest  # noqa: E402


def pytest_collection_modifyitems(config, items):
    for item in items:
        path = str(item.fspath)
        if f"{os.sep}integration{os.sep}" in path:
            item.add_marker(pytest.mark.integration)
        elif f"{os.sep}e2e{os.sep}" in path:
            item.add_marker(pytest.mark.e2e)
