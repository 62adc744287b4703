"""What one call took from the pacer's buckets (split from ``pacing``: one job each)."""

from __future__ import annotations

__all__ = ["Reservation"]


class Reservation:
    """Budget taken for one call; settled once by ``reconcile`` or ``release``."""

    __slots__ = (
        "_blind",
        "_refused",
        "_settled",
        "_synced",
        "input_tokens",
        "output_tokens",
        "requests",
        "sent_at",
        "seq",
    )

    def __init__(self, seq: int, input_tokens: int, output_tokens: int) -> None:
        self.seq = seq
        self.requests = 1
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self._settled = False
        self._synced = False  # its own response's headers were adopted
        self._refused = False  # answered 429/529: the server did not count it
        self._blind = False  # reserved before the first answer (the blind ramp)
        # Clock time the call went out (set by the caller). The server computes the
        # headers when it admits the call, so they describe the buckets as of then.
        self.sent_at: float | None = None

    @property
    def settled(self) -> bool:
        return self._settled

    def amounts(self) -> dict[str, float]:
        return {
            "requests": float(self.requests),
            "input-tokens": float(self.input_tokens),
            "output-tokens": float(self.output_tokens),
        }

    def __repr__(self) -> str:
        return f"<Reservation #{self.seq} in={self.input_tokens} out={self.output_tokens}>"
