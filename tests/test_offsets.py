"""The offset tracker never lets a commit pass an unfinished offset."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream.offsets import OffsetTracker

TP0 = ("t", 0)


def test_tracker_in_order_completion_advances_one_by_one() -> None:
    """Completing 0, 1, 2 in order moves the position to 1, 2, 3."""
    tracker = OffsetTracker()
    tickets = [tracker.track(TP0, o) for o in range(3)]
    for ticket in tickets:
        tracker.complete(ticket)
        assert tracker.position(TP0) == ticket.offset + 1


def test_tracker_out_of_order_completion_waits_for_the_gap() -> None:
    """2 and 1 done but 0 running: nothing committable past 0; 0 done releases all."""
    tracker = OffsetTracker()
    t0, t1, t2 = (tracker.track(TP0, o) for o in (0, 1, 2))
    tracker.complete(t2)
    tracker.complete(t1)
    assert tracker.committable() == {TP0: 0}
    tracker.complete(t0)
    assert tracker.committable() == {TP0: 3}


def test_tracker_skipped_offsets_do_not_block_the_position() -> None:
    """Offsets never fetched (compaction, markers) don't hold the position back."""
    tracker = OffsetTracker()
    t5 = tracker.track(TP0, 5)
    t9 = tracker.track(TP0, 9)
    tracker.complete(t5)
    assert tracker.position(TP0) == 6
    tracker.complete(t9)
    assert tracker.position(TP0) == 10


def test_tracker_stale_generation_completion_is_ignored() -> None:
    """Work that outlived a revoke cannot move the position of a later assignment."""
    tracker = OffsetTracker()
    stale = tracker.track(TP0, 0)
    tracker.revoke(TP0)
    tracker.assign(TP0)
    fresh = tracker.track(TP0, 0)
    assert tracker.complete(stale) is False
    assert tracker.position(TP0) == 0
    assert tracker.complete(fresh) is True
    assert tracker.position(TP0) == 1


def test_tracker_committable_reports_only_moved_positions() -> None:
    """After mark_committed, an unchanged partition is not offered again."""
    tracker = OffsetTracker()
    tracker.complete(tracker.track(TP0, 0))
    offsets = tracker.committable()
    tracker.mark_committed(offsets)
    assert tracker.committable() == {}


def test_tracker_rejects_offsets_fetched_out_of_order() -> None:
    """A partition's offsets must increase; anything else is a bug upstream."""
    tracker = OffsetTracker()
    tracker.track(TP0, 4)
    with pytest.raises(ValueError, match="fetched after"):
        tracker.track(TP0, 4)


@given(
    st.lists(st.integers(min_value=1, max_value=3), min_size=1, max_size=60),
    st.randoms(use_true_random=False),
    st.integers(min_value=0, max_value=60),
)
def test_tracker_commit_never_passes_an_unfinished_offset(
    gaps: list[int], rnd: object, stop_after: int
) -> None:
    """Any completion order, any gaps: the position never exceeds the lowest unfinished
    offset, and once all are done it is one past the last."""
    import random

    assert isinstance(rnd, random.Random)
    offsets = []
    current = 0
    for gap in gaps:
        current += gap
        offsets.append(current)
    tracker = OffsetTracker()
    tickets = [tracker.track(TP0, o) for o in offsets]
    order = list(tickets)
    rnd.shuffle(order)
    finished: set[int] = set()
    for i, ticket in enumerate(order):
        if i == stop_after:
            break
        tracker.complete(ticket)
        finished.add(ticket.offset)
        position = tracker.position(TP0)
        assert position is not None
        unfinished = [o for o in offsets if o not in finished]
        if unfinished:
            assert position <= min(unfinished)
            # every fetched offset below the position is finished
            assert all(o in finished for o in offsets if o < position)
        else:
            assert position == offsets[-1] + 1
    assert tracker.pending(TP0) == len(offsets) - len(finished)


def test_tracker_span_runs_from_the_last_commit_to_the_highest_tracked_offset() -> None:
    """Finished records above an unfinished one still count in the span until a commit
    passes them; before any commit the span starts at the first fetched offset."""
    tracker = OffsetTracker()
    assert tracker.span(TP0) == 0
    tickets = [tracker.track(TP0, o) for o in range(10, 15)]
    for ticket in tickets[1:]:
        tracker.complete(ticket)
    assert tracker.span(TP0) == 5
    tracker.complete(tickets[0])
    assert tracker.span(TP0) == 5  # all done, nothing committed yet
    tracker.mark_committed(tracker.committable())
    assert tracker.span(TP0) == 0
    tracker.track(TP0, 15)
    assert tracker.span(TP0) == 1


def test_a_late_assignment_callback_keeps_the_records_tracked_before_it() -> None:
    """Records fetched before on_partitions_assigned ran stay tracked: the commit never
    passes offset 0 while it runs."""
    tracker = OffsetTracker()
    t0 = tracker.track(TP0, 0)
    tracker.assign(TP0)
    t1 = tracker.track(TP0, 1)
    tracker.complete(t1)
    assert tracker.committable() == {TP0: 0}
    assert tracker.complete(t0) is True
    assert tracker.committable() == {TP0: 2}
