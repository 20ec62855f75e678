"""Ticket numbers from blocks of the shared counter (intake.repository.NumberBlocks)."""
from services.intake.repository import NumberBlocks


class Counter:
    """The shared counter document: ``reserve(n)`` adds n and returns the new value."""

    def __init__(self, value: int = 999):
        self.value, self.writes = value, 0

    def reserve(self, count: int) -> int:
        self.value += count
        self.writes += 1
        return self.value


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_sparse_filings_get_consecutive_numbers_one_counter_write_each():
    counter, clock = Counter(), Clock()
    numbers = NumberBlocks(clock=clock)
    got = []
    for _ in range(5):
        got.append(numbers.next("db", counter.reserve))
        clock.now += 1.5
    assert got == [1000, 1001, 1002, 1003, 1004]
    assert counter.writes == 5 and counter.value == 1004  # nothing skipped


def test_a_burst_takes_growing_blocks_with_fewer_counter_writes_and_no_repeats():
    counter, clock = Counter(), Clock()
    numbers = NumberBlocks(most=8, clock=clock)
    got = []
    for _ in range(100):
        got.append(numbers.next("db", counter.reserve))
        clock.now += 0.01
    assert got == list(range(1000, 1100))  # one process: consecutive, in filing order
    assert counter.writes < 25 and counter.value - 1099 < 8  # at most a block's rest unused


def test_replicas_sharing_the_counter_never_hand_out_the_same_number():
    counter, clock = Counter(), Clock()
    replicas = [NumberBlocks(clock=clock) for _ in range(3)]
    got = []
    for n in range(300):
        got.append(replicas[n % 3].next("db", counter.reserve))
        clock.now += 0.005
    assert len(set(got)) == 300


def test_each_database_has_its_own_blocks():
    counters, clock = {"a": Counter(), "b": Counter(4999)}, Clock()
    numbers = NumberBlocks(clock=clock)
    assert [numbers.next(db, counters[db].reserve) for db in "abab"] == [1000, 5000, 1001, 5001]
