"""Finished offsets above the committed one: encoding, when they are skipped, what is saved."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from stream.finished import FinishedAbove, FinishedKeeper, SkipList, decode, encode
from stream.ports import TP

TP0 = ("t", 0)


@given(st.integers(0, 10**6), st.frozensets(st.integers(0, 5000), max_size=300))
def test_encoding_round_trips_any_set_of_offsets(position: int, offsets: frozenset[int]) -> None:
    """Runs are stored as ranges; decoding gives back exactly the offsets written."""
    state = FinishedAbove(position, offsets)
    assert decode(encode(state)) == state


def test_encoding_keeps_a_run_of_offsets_small() -> None:
    """1,000 consecutive finished offsets take one range, not 1,000 numbers."""
    assert len(encode(FinishedAbove(0, frozenset(range(1, 1001))))) < 50


def test_skip_list_skips_remembered_offsets_once_from_the_first_fetch_on() -> None:
    """Fetching resumes at the remembered position: exactly the remembered offsets skip."""
    skips = SkipList()
    skips.arm(TP0, FinishedAbove(10, frozenset({12, 13, 20})))
    skipped = [o for o in range(10, 25) if skips.finished(TP0, o)]
    assert skipped == [12, 13, 20]
    assert not skips.finished(TP0, 12)  # a second fetch of 12 (after a seek) is not skipped


def test_skip_list_ignores_a_state_above_where_fetching_starts() -> None:
    """Offsets reset backwards (or a recreated topic): the operator asked for reprocessing,
    so nothing is skipped."""
    skips = SkipList()
    skips.arm(TP0, FinishedAbove(10, frozenset({12, 13})))
    assert [o for o in range(15) if skips.finished(TP0, o)] == []


def test_skip_list_forgets_a_revoked_partition() -> None:
    skips = SkipList()
    skips.arm(TP0, FinishedAbove(0, frozenset({1})))
    skips.drop(TP0)
    assert not skips.finished(TP0, 0)
    assert not skips.finished(TP0, 1)


class MemoryLedger:
    def __init__(self) -> None:
        self.states: dict[TP, FinishedAbove] = {}
        self.writes: list[dict[TP, FinishedAbove]] = []

    async def load(self, tps: Sequence[TP]) -> dict[TP, FinishedAbove]:
        return {tp: self.states[tp] for tp in tps if tp in self.states}

    async def save(self, states: dict[TP, FinishedAbove]) -> bool:
        self.writes.append(dict(states))
        self.states.update(states)
        return True


async def test_keeper_saves_only_changes_and_clears_a_partition_once_caught_up() -> None:
    """Nothing finished above the position: no write; a change: one write; caught up:
    one clearing write, then silence."""
    ledger = MemoryLedger()
    keeper = FinishedKeeper(ledger)
    await keeper.save({TP0: (5, frozenset())})
    assert ledger.writes == []
    await keeper.save({TP0: (5, frozenset({7, 8}))})
    await keeper.save({TP0: (5, frozenset({7, 8}))})
    assert ledger.writes == [{TP0: FinishedAbove(5, frozenset({7, 8}))}]
    await keeper.save({TP0: (9, frozenset())})
    await keeper.save({TP0: (9, frozenset())})
    assert ledger.writes[1:] == [{TP0: FinishedAbove(9, frozenset())}]


async def test_keeper_skips_after_loading_what_a_previous_owner_saved() -> None:
    """The state one keeper saved is what the next one skips after assignment."""
    ledger = MemoryLedger()
    await FinishedKeeper(ledger).save({TP0: (3, frozenset({4, 6}))})
    keeper = FinishedKeeper(ledger)
    assert keeper.begin([TP0])
    assert keeper.loading(TP0)  # its records wait until the state is known
    await keeper.load([TP0])
    assert not keeper.loading(TP0)
    assert [o for o in range(3, 8) if keeper.finished(TP0, o)] == [4, 6]
    assert not FinishedKeeper(None).begin([TP0])
    assert not FinishedKeeper(None).finished(TP0, 4)
