"""A worker's side of sharing a 529 cap: notes carry each model's calls in flight and
cap estimate, and the board's ticks move the held level to the worker's part."""

from __future__ import annotations

from stream.backlog_board import BacklogBoard, BacklogNote, decode, encode
from stream.cap_sharing import CapShares
from stream.concurrency import AIMDLimit, Limiter, ManualClock
from stream.concurrency.cap_share import CapEstimate, PeerCap


def _holding(clock: ManualClock, inflight: int) -> Limiter:
    """A limiter whose AIMD limit learned a cap: refused at ``inflight`` + 1 in flight."""
    limit = AIMDLimit(initial=16, max_limit=256, learn_cap=True, cap_probe_rounds=3)
    limiter = Limiter(limit, clock)
    limiter.raise_to(40)  # where a blind ramp took it
    limit.on_sample(now=0.0, rtt=0.01, inflight=inflight + 1, dropped=True, overloaded=True)
    assert limiter.held == inflight
    return limiter


def test_notes_carry_each_model_s_use_and_old_notes_still_decode() -> None:
    use = {"m": PeerCap(12, CapEstimate(64, 5.0)), "n": PeerCap(0, None)}
    note = BacklogNote("g", "a", 30, 7.0, use)
    assert decode(encode(note)) == note
    old = b'{"group":"g","member":"a","backlog":3,"at":1.0}'
    assert decode(old) == BacklogNote("g", "a", 3, 1.0)


def test_the_board_gives_each_peer_s_use_with_the_time_of_its_note() -> None:
    board = BacklogBoard("g", "a", wall=lambda: 10.0)
    board.note(BacklogNote("g", "b", 5, 9.5, {"m": PeerCap(7, None)}))
    board.note(BacklogNote("g", "c", 5, 1.0, {"m": PeerCap(9, None)}))  # too old: gone
    assert board.peer_caps() == {"m": [PeerCap(7, None, at=9.5)]}


def test_a_worker_above_its_part_gives_back_and_an_idle_one_holds_an_even_part() -> None:
    """Held 29 of the group's 64 (a 529 after the first success, peers at 18 and 17)
    with a third of the backlog: 21. With nothing to do: 64 // 3 = 21 as well; with
    most of the backlog, grown only on notes newer than the job's start."""
    clock, wall = ManualClock(), [100.0]
    limiter = _holding(clock, 29)
    shares = CapShares(lambda: {"m": limiter}, wall=lambda: wall[0])
    peers = {"m": [PeerCap(18, None, at=99.0), PeerCap(17, None, at=99.0)]}
    shares.share(peers, None)
    shares.answered("m")
    shares.refused("m", 30, None)  # the calls beside it and the peers': 64
    assert shares.uses() == {"m": PeerCap(0, CapEstimate(64, 100.0))}
    shares.share(peers, 1 / 3)
    assert limiter.limit == 21
    shares.share(peers, None)
    assert limiter.limit == 21
    wall[0] = 101.0
    shares.share(peers, 0.9)  # the job began at 101: notes of 99 say nothing of it
    assert limiter.limit == 21
    fresh = {"m": [PeerCap(10, None, at=101.1), PeerCap(10, None, at=101.1)]}
    shares.share(fresh, 0.9)
    assert limiter.limit == 21 + 15  # toward 58, by a third of the 44 free (64 - 20)


def test_no_estimate_from_a_529_before_the_first_success() -> None:
    clock = ManualClock()
    limiter = _holding(clock, 20)
    shares = CapShares(lambda: {"m": limiter}, wall=lambda: 1.0)
    shares.share({"m": [PeerCap(40, None)]}, 0.5)
    shares.refused("m", 21, None)
    assert shares.uses() == {"m": PeerCap(0, None)}


def test_the_first_success_gives_the_first_estimate_from_the_level_held() -> None:
    """The ramp's 529s taught 20; at the first answer the peers hold 22 and 21: 63. The
    next answers change nothing (only 529s do from then on)."""
    clock = ManualClock()
    limiter = _holding(clock, 20)
    shares = CapShares(lambda: {"m": limiter}, wall=lambda: 5.0)
    shares.share({"m": [PeerCap(22, None), PeerCap(21, None)]}, 0.3)
    shares.answered("m")
    assert shares.uses()["m"].cap == CapEstimate(63, 5.0)
    shares.share({"m": [PeerCap(30, None), PeerCap(30, None)]}, 0.3)
    shares.answered("m")
    assert shares.uses()["m"].cap == CapEstimate(63, 5.0)
