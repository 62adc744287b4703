"""The chaos suite's four invariants, counted per input offset, and its table.

- I1: every input offset ends as exactly one result or DLQ record; more than one only
  in a scenario that crashed a worker (kill -9, SIGSTOP past the session, a fatal exit).
- I2: per partition, the extra outputs are at most ``buffer_size`` per crash (the crash
  window; README "The crash window").
- I3: no DLQ record for a fault that the retry budget covers: only the records a scenario
  meant to dead-letter are in the DLQ.
- I4: no commit past an unfinished record: at every checkpoint taken while no worker
  was writing, every offset below a committed position already had its output.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

from stream.config import Settings
from tests.processor.helpers import Accounting, Coord, account, committed, read_all

__all__ = ["Books", "Row", "format_table", "input_coords"]


async def input_coords(settings: Settings) -> set[Coord]:
    """Every offset of the input topic (replayed copies included)."""
    return {(r.partition, r.offset) for r in await read_all(settings, settings.kafka.topics.input)}


@dataclass(frozen=True, slots=True)
class Row:
    scenario: str
    inputs: int
    outputs: int
    duplicates: int
    worst_partition: int  # the most duplicates in one partition (I2 bounds this)
    crashes: int
    window: int
    dead_lettered: int
    i1: bool
    i2: bool
    i3: bool
    i4: bool
    seconds: float
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.i1 and self.i2 and self.i3 and self.i4

    def problems(self) -> list[str]:
        held = {"I1": self.i1, "I2": self.i2, "I3": self.i3, "I4": self.i4}
        return [name for name, ok in held.items() if not ok]


@dataclass
class Books:
    """Checkpoints and crashes of one scenario; ``close`` turns them into a Row."""

    settings: Settings
    crashes: int = 0
    expected_dlq: set[Coord] = field(default_factory=set)
    commit_violations: list[tuple[int, int]] = field(default_factory=list)

    async def checkpoint(self) -> None:
        """I4 at a moment no worker writes: offsets below each committed position are done."""
        positions = await committed(self.settings)
        done = set((await account(self.settings)).outcomes())
        inputs = await input_coords(self.settings)
        for partition, offset in sorted(inputs):
            if offset < positions.get(partition, 0) and (partition, offset) not in done:
                self.commit_violations.append((partition, offset))

    async def close(self, scenario: str, seconds: float, note: str = "") -> Row:
        await self.checkpoint()
        inputs = await input_coords(self.settings)
        books = await account(self.settings)
        outputs = books.outcomes()
        window = self.settings.processing.buffer_size
        extra: Counter[int] = Counter()
        for (partition, _), count in outputs.items():
            extra[partition] += count - 1
        once = all(n == 1 for n in outputs.values())
        exact = set(outputs) == inputs and (self.crashes > 0 or once)
        unexpected_dlq = set(books.dead) - self.expected_dlq
        row = Row(
            scenario=scenario,
            inputs=len(inputs),
            outputs=sum(outputs.values()),
            duplicates=sum(extra.values()),
            worst_partition=max(extra.values(), default=0),
            crashes=self.crashes,
            window=window,
            dead_lettered=sum(books.dead.values()),
            i1=exact,
            i2=all(n <= window * self.crashes for n in extra.values()),
            i3=not unexpected_dlq,
            i4=not self.commit_violations,
            seconds=seconds,
            note=note,
        )
        if row.ok:
            return row
        return replace(row, note="; ".join(filter(None, [note, _who_wrote_twice(books, outputs)])))


def _who_wrote_twice(books: Accounting, outputs: Counter[Coord], most: int = 8) -> str:
    """Which worker processes wrote the first duplicated offsets: the handover to look at."""
    writers: dict[Coord, list[str]] = {}
    for value in books.result_values:
        source = value["source"]
        assert isinstance(source, dict)
        coord = (int(source["partition"]), int(source["offset"]))
        if outputs[coord] > 1:
            writers.setdefault(coord, []).append(str(value["worker_id"]).rsplit("-", 1)[-1])
    shown = sorted(writers)[:most]
    return "written twice: " + ", ".join(f"{c[0]}/{c[1]} by {'+'.join(writers[c])}" for c in shown)


_HEAD = (
    "scenario", "inputs", "outputs", "dup", "dup/partition", "crashes", "window", "dlq",
    "I1", "I2", "I3", "I4", "s", "note",
)  # fmt: skip


def format_table(rows: list[Row]) -> str:
    """A Markdown table, so the README can hold it as printed."""

    def mark(held: bool) -> str:
        return "ok" if held else "FAIL"

    lines = ["| " + " | ".join(_HEAD) + " |", "|" + "---|" * len(_HEAD)]
    for r in rows:
        cells = (
            r.scenario, r.inputs, r.outputs, r.duplicates, r.worst_partition, r.crashes, r.window,
            r.dead_lettered, mark(r.i1), mark(r.i2), mark(r.i3), mark(r.i4),
            f"{r.seconds:.0f}", r.note,
        )  # fmt: skip
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)
