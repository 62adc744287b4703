"""CPU seconds of the processes a benchmark runs, read from ``/proc/<pid>/stat``.

A job's CPU per document is split by process (worker(s), simulator, embedded broker and
the benchmark's own process, which publishes and reads the results back) and by phase:
start-up (spawn to the last assignment change), the idle wait until the job starts, the
job itself (first publish to the last result read back) and, for the workers, the
shutdown after it. User + system time of every thread of the process; Linux only (the
figures are left out elsewhere).
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass

__all__ = ["CpuProbe", "ProcessCpu", "process_cpu_s", "self_cpu_s"]

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_UTIME_FIELD = 13  # utime, stime: fields 14 and 15 of /proc/<pid>/stat, counted from 1


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` so far (None: gone, or no /proc)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            text = stat.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = text[text.rindex(")") + 2 :].split()
    offset = _UTIME_FIELD - 2
    return (int(fields[offset]) + int(fields[offset + 1])) / _TICKS


def self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass(slots=True)
class ProcessCpu:
    """CPU seconds of one process by phase (see the module docstring)."""

    name: str
    startup_s: float = 0.0
    idle_s: float = 0.0
    job_s: float = 0.0
    after_s: float | None = None  # workers only: after the job to their exit


class CpuProbe:
    """Snapshots of named processes' CPU; ``None`` as a pid means this process."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self._pids = pids
        self.marks: dict[str, dict[str, float]] = {}

    def read(self) -> dict[str, float]:
        now: dict[str, float] = {}
        for name, pid in self._pids.items():
            value = self_cpu_s() if pid is None else process_cpu_s(pid)
            if value is not None:
                now[name] = value
        return now

    def mark(self, label: str, values: dict[str, float] | None = None) -> None:
        self.marks[label] = self.read() if values is None else values

    def phases(self, ready: str, start: str, end: str) -> list[ProcessCpu]:
        """Per process: start-up = CPU at ``ready`` (all of it for child processes; for
        this process, too, since its own start), idle = ``ready`` -> ``start``, job =
        ``start`` -> ``end``."""
        at_ready, at_start, at_end = (self.marks.get(k, {}) for k in (ready, start, end))
        out = []
        for name in self._pids:
            if name not in at_end:
                continue
            r, s = at_ready.get(name, 0.0), at_start.get(name, 0.0)
            out.append(ProcessCpu(name, startup_s=r, idle_s=s - r, job_s=at_end[name] - s))
        return out
