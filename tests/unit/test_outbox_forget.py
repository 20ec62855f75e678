"""Published events leave the outbox in one delete per collection, a moment later."""
import eventlet
from pymongo.errors import AutoReconnect

from services.common import outbox


class RecordingCollection:
    def __init__(self, name, fail=False):
        self.full_name, self.fail, self.deletes = name, fail, []

    def delete_many(self, query):
        if self.fail:
            raise AutoReconnect("connection lost")
        self.deletes.append(sorted(query["_id"]["$in"]))


def test_ids_published_close_together_are_deleted_by_one_command_per_collection():
    published = outbox._Published()
    intake, routing = RecordingCollection("intake.outbox"), RecordingCollection("routing.outbox")
    published.forget(intake, ["e1"])
    published.forget(routing, ["r1"])
    published.forget(intake, ["e2", "e3"])
    assert intake.deletes == [] and routing.deletes == []  # not yet: the others may follow
    eventlet.sleep(outbox.FORGET_AFTER * 2)
    assert intake.deletes == [["e1", "e2", "e3"]]
    assert routing.deletes == [["r1"]]
    published.forget(intake, ["e4"])  # a later publish starts the next round
    eventlet.sleep(outbox.FORGET_AFTER * 2)
    assert intake.deletes == [["e1", "e2", "e3"], ["e4"]]


def test_a_failed_delete_is_logged_and_leaves_the_rows_to_the_sweep(caplog):
    published = outbox._Published()
    down = RecordingCollection("intake.outbox", fail=True)
    published.forget(down, ["e1"])
    eventlet.sleep(outbox.FORGET_AFTER * 2)
    assert "the sweep sends them again" in caplog.text
    published.forget(down, ["e2"])  # the next publish is not stuck behind the failure
    down.fail = False
    eventlet.sleep(outbox.FORGET_AFTER * 2)
    assert down.deletes == [["e2"]]
