"""One 529 cap shared by backlog among a group's workers (``cap_share``), in literal
numbers and in the event simulation of ``cap_sim``."""

from __future__ import annotations

from stream.concurrency.cap_share import (
    CapEstimate,
    PeerCap,
    cap_after_refusal,
    group_cap,
    idle_level,
    shared_level,
)
from tests.concurrency.cap_sim import run_cap
from tests.concurrency.test_cap_hold import aimd


def _peers(*inflight: int) -> list[PeerCap]:
    return [PeerCap(n, None) for n in inflight]


def test_above_its_part_a_worker_holds_its_part_at_once() -> None:
    """29 held of a cap of 64 with a third of the backlog: 21, whatever is in flight."""
    level = shared_level(
        level=29, inflight=29, cap=64, share=1 / 3, peers=_peers(18, 17), grow=True
    )
    assert level == 21


def test_below_its_part_a_worker_grows_by_an_even_part_of_the_free_room() -> None:
    """Target 32; 64 less 17 + 20 + 9 in flight leaves 18 free, which all three workers
    may be reading at once: +6 now, not +15."""
    level = shared_level(level=17, inflight=17, cap=64, share=0.5, peers=_peers(20, 9), grow=True)
    assert level == 23
    full = shared_level(level=17, inflight=17, cap=64, share=0.5, peers=_peers(25, 22), grow=True)
    assert full == 17  # no room: a drained worker's calls have not ended yet


def test_a_worker_does_not_grow_on_notes_older_than_its_job() -> None:
    level = shared_level(level=21, inflight=0, cap=64, share=1.0, peers=_peers(0, 0), grow=False)
    assert level == 21


def test_an_idle_worker_holds_an_even_part() -> None:
    assert idle_level(64, 2) == 21
    assert idle_level(2, 4) == 1


def test_a_529_counts_the_peers_calls_in_flight() -> None:
    """Refused as the 23rd call of this worker with 20 and 22 in flight elsewhere: 64."""
    assert cap_after_refusal(23, None, _peers(20, 22), None) == 64


def test_a_529_no_probe_explains_lowers_the_group_s_cap() -> None:
    """Granted at 20 under a held 22 (not a probe): the group believed in 66 and was
    over the cap, so at most 65, even if the peers' notes add up to more."""
    assert cap_after_refusal(20, 22, _peers(25, 30), 66) == 65
    assert cap_after_refusal(23, 22, _peers(25, 30), 66) == 77  # our probe: a reading


def test_the_latest_estimate_on_the_board_is_the_group_s_cap() -> None:
    peers = [PeerCap(3, CapEstimate(70, 10.0)), PeerCap(4, CapEstimate(64, 12.0))]
    assert group_cap(CapEstimate(60, 11.0), peers) == 64
    assert group_cap(None, _peers(1)) is None


def test_staggered_ramps_share_the_cap_and_finish_together() -> None:
    """Backlogs 171, 159 and 170, ramps started 0, 30 and 80 ms apart: alone each holds
    what its ramp found (the last learns the least and ends at 10.1 s); sharing by
    backlog ends them together, nearly a round trip sooner, with no more refusals."""
    args = {"cap": 64, "backlog": [171, 159, 170], "until": 60.0, "ramp": (4, 0.1)}
    offsets = [0.0, 0.03, 0.08]
    alone = run_cap([aimd(), aimd(), aimd()], offsets=offsets, gap=0.002, **args)  # type: ignore[arg-type]
    shared = run_cap([aimd(), aimd(), aimd()], offsets=offsets, gap=0.002, board=0.05, **args)  # type: ignore[arg-type]
    assert shared.done == alone.done == [171, 159, 170]
    assert max(shared.finished_at) < max(alone.finished_at) - 0.7
    assert max(shared.finished_at) - min(shared.finished_at) < 0.2
    assert shared.refused <= alone.refused


def test_a_drained_worker_s_slots_go_to_the_others() -> None:
    """Backlogs 60, 300 and 300: the job ends at about 11.1 s instead of 12.0 s."""
    args = {"cap": 64, "backlog": [60, 300, 300], "until": 60.0, "ramp": (4, 0.1)}
    alone = run_cap([aimd(), aimd(), aimd()], gap=0.002, **args)  # type: ignore[arg-type]
    shared = run_cap([aimd(), aimd(), aimd()], gap=0.002, board=0.05, **args)  # type: ignore[arg-type]
    assert shared.done == [60, 300, 300]
    assert max(shared.finished_at) < max(alone.finished_at) - 0.7
    assert shared.refused <= alone.refused
