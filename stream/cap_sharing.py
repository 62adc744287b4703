"""A worker's side of sharing 529 caps with its group (``stream.concurrency.cap_share``).

The caller tells it of every 529 (with the calls in flight when the refused call was
granted), the backlog board asks it what to publish and gives it the peers' notes and
the worker's backlog share each tick; it then moves each model's held level to the
worker's part of the group's cap.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from stream.concurrency import Limiter
from stream.concurrency.cap_share import (
    CapEstimate,
    PeerCap,
    cap_after_refusal,
    group_cap,
    idle_level,
    shared_level,
)

__all__ = ["CapShares"]


class CapShares:
    def __init__(
        self, limiters: Callable[[], Mapping[str, Limiter]], wall: Callable[[], float] = time.time
    ) -> None:
        self._limiters = limiters
        self._wall = wall
        self._estimates: dict[str, CapEstimate] = {}
        self._peers: Mapping[str, list[PeerCap]] = {}
        self._busy_since: float | None = None  # when this worker's backlog last left 0
        self._answered: set[str] = set()  # models with a success back

    def answered(self, model: str) -> None:
        """A call of ``model`` succeeded. The first: the ramp's calls are coming back, the
        pool has been full at the level its 529s taught for a round trip, and so have the
        others': that level and the peers' calls in flight are the group's first
        estimate (otherwise sharing waited for the next probe, three round trips on)."""
        if model in self._answered:
            return
        self._answered.add(model)
        limiter = self._limiters().get(model)
        peers = self._peers.get(model, [])
        if limiter is not None and limiter.held is not None and peers:
            value = limiter.held + sum(p.inflight for p in peers)
            self._estimates[model] = CapEstimate(value, self._wall())

    def refused(self, model: str, granted: int, held: int | None) -> None:
        """A 529 of a call granted with ``granted`` in flight, the limit holding ``held``
        before it: what it says of the group's cap, made before the limit learns. Not
        before the model's first success: in the first ramp the notes lag the calls by
        a tick and new connections reach the server 30-90 ms late, so the others' calls
        in flight were misread (three cold workers sent 73-139 529s in a 500-document
        job, 13-41 without sharing)."""
        if model not in self._answered:
            return
        peers = self._peers.get(model, [])
        current = group_cap(self._estimates.get(model), peers)
        value = cap_after_refusal(granted, held, peers, current)
        self._estimates[model] = CapEstimate(value, self._wall())

    def uses(self) -> Mapping[str, PeerCap]:
        return {
            model: PeerCap(limiter.inflight, self._estimates.get(model))
            for model, limiter in self._limiters().items()
        }

    def share(self, peers: Mapping[str, list[PeerCap]], share: float | None) -> None:
        self._peers = peers
        now = self._wall()
        if share is None:
            self._busy_since = None
        elif self._busy_since is None:
            self._busy_since = now
        for model, limiter in self._limiters().items():
            others = peers.get(model, [])
            cap = group_cap(self._estimates.get(model), others)
            held = limiter.held
            if cap is None or held is None or not others:
                continue  # alone, or no cap learned: the limit's own rules hold it
            level = self._level(held, limiter.inflight, cap, share, others)
            if level != held:
                limiter.share_hold(level)

    def _level(
        self, held: int, inflight: int, cap: int, share: float | None, others: list[PeerCap]
    ) -> int:
        if share is None:
            return idle_level(cap, len(others))
        since = self._busy_since
        return shared_level(
            level=held,
            inflight=inflight,
            cap=cap,
            share=share,
            peers=others,
            grow=since is not None and all(p.at >= since for p in others),
        )
