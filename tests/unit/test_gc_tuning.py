"""The collector tuning of service processes (run in a child process: the test process's own
collector is left as it is)."""
import json
import subprocess
import sys

from services.common import gc_tuning


def test_a_serving_process_freezes_what_it_built_and_collects_the_young_less_often():
    probe = ("import gc, json; from services.common.gc_tuning import tune_for_serving; "
             "kept = [[i] for i in range(1000)]; before = gc.get_freeze_count(); "
             "tune_for_serving(); "
             "print(json.dumps([before, gc.get_freeze_count(), gc.get_threshold()]))")
    before, frozen, threshold = json.loads(subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout)
    assert before == 0
    assert frozen >= 1000  # the lists built before it, at least
    assert threshold == [gc_tuning.YOUNG_COLLECTION_EVERY, gc_tuning.OLDER_COLLECTION_EVERY,
                         gc_tuning.OLDER_COLLECTION_EVERY]
