"""A process's recent reads of admin-made settings: kept for the TTL, forgotten at once on a
write in the same process, and never shared with a caller."""
from services.common.cache import RecentReads


class FakeClock:
    def __init__(self):
        self.at = 100.0

    def __call__(self) -> float:
        return self.at


class Source:
    """Stands in for Mongo: counts the loads, hands out what is stored now."""

    def __init__(self, value):
        self.value, self.loads = value, 0

    def __call__(self):
        self.loads += 1
        return {"rules": list(self.value)}


def test_a_read_is_kept_until_the_ttl_has_passed():
    clock, source = FakeClock(), Source(["a"])
    reads = RecentReads(ttl=2.0, clock=clock)
    assert reads.get("db", "rules", source) == {"rules": ["a"]}
    source.value = ["b"]  # another replica's write: not seen yet
    clock.at += 1.9
    assert reads.get("db", "rules", source) == {"rules": ["a"]}
    assert source.loads == 1
    clock.at += 0.1
    assert reads.get("db", "rules", source) == {"rules": ["b"]}
    assert source.loads == 2


def test_a_write_in_this_process_is_seen_at_once_and_only_its_database_forgets():
    clock, rules, other = FakeClock(), Source(["a"]), Source(["x"])
    reads = RecentReads(ttl=2.0, clock=clock)
    reads.get("db", "rules", rules)
    reads.get("db", ("department", "billing"), rules)
    reads.get("other", "rules", other)
    rules.value = ["b"]
    reads.forget("db")
    assert reads.get("db", "rules", rules) == {"rules": ["b"]}
    assert reads.get("db", ("department", "billing"), rules) == {"rules": ["b"]}
    assert reads.get("other", "rules", other) == {"rules": ["x"]}
    assert (rules.loads, other.loads) == (4, 1)


def test_a_read_that_a_write_overtook_is_not_kept():
    clock, source = FakeClock(), Source(["old"])
    reads = RecentReads(ttl=2.0, clock=clock)

    def load_then_write_lands():
        value = source()  # read before the write...
        source.value = ["new"]
        reads.forget("db")  # ...which forgets while this load is still running
        return value

    assert reads.get("db", "rules", load_then_write_lands) == {"rules": ["old"]}
    assert reads.get("db", "rules", source) == {"rules": ["new"]}


def test_every_caller_gets_its_own_copy():
    reads = RecentReads(ttl=2.0, clock=FakeClock())
    source = Source(["a"])
    first = reads.get("db", "rules", source)
    first["rules"].append("changed by the first caller")
    second = reads.get("db", "rules", source)
    assert second == {"rules": ["a"]}
    second["rules"].clear()
    assert reads.get("db", "rules", source) == {"rules": ["a"]}
    assert source.loads == 1


def test_none_is_kept_too():
    """A setting an admin never saved (None) is not asked for again within the TTL."""
    clock, loads = FakeClock(), []
    reads = RecentReads(ttl=2.0, clock=clock)
    for _ in range(3):
        assert reads.get("db", "mail", lambda: loads.append(1)) is None
    assert len(loads) == 1
