"""In-order acks: whatever order events finish in, each partition's events are handed
back for acking in arrival order, and only once everything before them finished."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stream.faust.acks import InOrderAcks


def test_a_finished_event_waits_for_the_one_before_it() -> None:
    acks: InOrderAcks[str] = InOrderAcks()
    first, second, third = (acks.arrived("p0", e) for e in ("e0", "e1", "e2"))
    other = acks.arrived("p1", "f0")
    assert acks.finish(second) == []  # e0 still running: acking e1 would let
    assert acks.finish(third) == []  # Faust commit past e0
    assert acks.finish(other) == ["f0"]  # partitions are independent
    assert acks.finish(first) == ["e0", "e1", "e2"]
    assert acks.pending() == 0


@given(st.lists(st.tuples(st.integers(0, 2), st.integers()), max_size=40), st.randoms())
def test_any_finishing_order_acks_each_partition_in_arrival_order(
    events: list[tuple[int, int]], rng: object
) -> None:
    acks: InOrderAcks[int] = InOrderAcks()
    slots = [acks.arrived(p, i) for i, (p, _) in enumerate(events)]
    order = list(range(len(slots)))
    rng.shuffle(order)  # type: ignore[attr-defined]
    acked: list[int] = []
    finished: set[int] = set()
    for index in order:
        slot = slots[index]
        finished.add(index)
        for event in acks.finish(slot):
            assert all(j in finished for j in range(event + 1) if events[j][0] == slot.partition)
            acked.append(event)
    for partition in {p for p, _ in events}:
        mine = [i for i in acked if events[i][0] == partition]
        assert mine == sorted(mine) == [i for i, (p, _) in enumerate(events) if p == partition]
    assert acks.pending() == 0
