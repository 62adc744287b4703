"""``docstream bench coldstart``: from ``docstream run`` starting to its first Claude call.

One document waits on a fresh topic; ``python -m stream -v run --max-documents 1``
starts as a child process (settings by environment, as a deployment would give them)
against the simulator (50 ms answers). Timestamps, all taken in this process:

- spawn: the child is started;
- subscribed: aiokafka's ``Subscribed to topic(s)`` log line arrives on stderr (our
  set-up is done, the group join starts);
- assigned: our ``assigned [...]`` log line arrives (the group join is done);
- first call: the simulator saw the first request (``/stats`` ``first_request_s``);
- exit: the child exited after the one document.

Two phases are also measured on their own, each in a fresh interpreter: the interpreter
start (``python -c pass``) and importing what ``docstream run`` imports. The rest of
spawn -> assigned is settings, topic checks, the clients' start and the join itself,
which on the embedded broker waits half the session timeout: so each run is made with
the production default (10 s) and with a short one (2 s).

``--restarts`` also times a *restart*: the same command runs once on the group (one
document, then it exits as a SIGTERMed worker would: drain, commit, stop), a second
document is published, and the same command is timed again, once as a dynamic member
(it left the group on stop) and once with ``kafka.group_instance_id`` (static
membership: it stayed, and the restart takes its place).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

import click

from stream.bench.overhead import make_documents
from stream.cli.common import CliState, fail, pass_state
from stream.config import Settings, load_settings
from stream.embedded import EmbeddedBroker
from stream.errors import DocstreamError
from stream.simulator import SimulatorConfig, SimulatorProcess

__all__ = ["ColdStart", "command", "measure_cold_start"]

_IMPORTS = "import stream.cli.main, stream.cli.run_cmd, stream.worker"
_SUBSCRIBED = b"aiokafka.consumer.consumer: Subscribed to topic"  # set-up done, joining
_ASSIGNED = b"stream.processor: assigned ["  # the join is done
_MARKS = (_SUBSCRIBED, _ASSIGNED)
_TIMEOUT_S = 120.0
# (restart, group instance id): a new group; a restart as a dynamic and as a static member
_STARTS: tuple[tuple[bool, str | None], ...] = ((False, None), (True, None), (True, "bench-0"))


@dataclass(frozen=True, slots=True)
class ColdStart:
    session_timeout_ms: int
    start: str  # "cold" (a new group), "restart" or "static restart" (same instance id)
    interpreter_s: float
    imports_s: float
    spawn_to_subscribed_s: float  # interpreter, imports, settings, set-up before joining
    subscribed_to_assigned_s: float  # the group join
    assigned_to_first_call_s: float
    spawn_to_first_call_s: float
    spawn_to_exit_s: float


def _timed(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=_child_env({}))
    return time.perf_counter() - start


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSTREAM_")}
    return {**env, **extra}


def _run_env(
    bootstrap: str, base_url: str, session_ms: int, instance_id: str | None
) -> dict[str, str]:
    name = f"coldstart-{uuid.uuid4().hex[:10]}"
    static = {} if instance_id is None else {"DOCSTREAM_KAFKA__GROUP_INSTANCE_ID": instance_id}
    return {
        **static,
        "DOCSTREAM_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "DOCSTREAM_KAFKA__PROFILE": "embedded",
        "DOCSTREAM_KAFKA__GROUP_ID": name,
        "DOCSTREAM_KAFKA__TOPICS__INPUT": name,
        "DOCSTREAM_KAFKA__TOPICS__RESULTS": f"{name}.results",
        "DOCSTREAM_KAFKA__TOPICS__DLQ": f"{name}.dlq",
        "DOCSTREAM_KAFKA__SESSION_TIMEOUT_MS": str(session_ms),
        "DOCSTREAM_KAFKA__HEARTBEAT_INTERVAL_MS": str(max(100, session_ms // 4)),
        "DOCSTREAM_CLAUDE__BASE_URL": base_url,
        "DOCSTREAM_CLAUDE__API_KEY": "sim-bench-key",
    }


def _publish_one(env: dict[str, str]) -> None:
    """The topics and the one waiting document (before the child starts)."""
    import asyncio

    from stream.kafka.admin import ensure_topics
    from stream.kafka.producer import KafkaSink, OutRecord

    values = {
        "kafka.bootstrap_servers": env["DOCSTREAM_KAFKA__BOOTSTRAP_SERVERS"],
        "kafka.profile": "embedded",
        "kafka.topics.input": env["DOCSTREAM_KAFKA__TOPICS__INPUT"],
        "kafka.topics.results": env["DOCSTREAM_KAFKA__TOPICS__RESULTS"],
        "kafka.topics.dlq": env["DOCSTREAM_KAFKA__TOPICS__DLQ"],
    }
    settings: Settings = load_settings(None, values)

    async def go() -> None:
        await ensure_topics(settings.kafka)
        async with KafkaSink(settings.kafka) as sink:
            doc = next(iter(make_documents(1)))
            futures = await sink.send_many(
                settings.kafka.topics.input, [OutRecord(doc.value, doc.key, [])]
            )
            await asyncio.gather(*futures)

    asyncio.run(go())


def measure_cold_start(
    bootstrap: str, session_ms: int, *, restart: bool = False, instance_id: str | None = None
) -> ColdStart:
    """One cold start of ``docstream run`` (see the module docstring); ``restart``: the
    second of two runs on the same group, the first one untimed."""
    interpreter = _timed("pass")
    imports = _timed(_IMPORTS)
    with SimulatorProcess(SimulatorConfig(base_latency_s=0.05)) as sim:
        env = _run_env(bootstrap, sim.base_url, session_ms, instance_id)
        if restart:
            _publish_one(env)
            _run_once(env, {})
        _publish_one(env)
        sim.reset()
        origin = time.time()
        marks: dict[bytes, float] = {}
        spawn, end, code = _run_once(env, marks)
        first = sim.stats().get("first_request_s")
    if len(marks) < len(_MARKS) or first is None or code != 0:
        raise DocstreamError(f"docstream run exited {code} without a call")
    first_call = origin + float(first)
    subscribed, assigned = marks[_SUBSCRIBED], marks[_ASSIGNED]
    start = "cold" if not restart else "restart" if instance_id is None else "static restart"
    return ColdStart(
        session_timeout_ms=session_ms,
        start=start,
        interpreter_s=round(interpreter, 3),
        imports_s=round(imports, 3),
        spawn_to_subscribed_s=round(subscribed - spawn, 3),
        subscribed_to_assigned_s=round(assigned - subscribed, 3),
        assigned_to_first_call_s=round(first_call - assigned, 3),
        spawn_to_first_call_s=round(first_call - spawn, 3),
        spawn_to_exit_s=round(end - spawn, 3),
    )


def _run_once(env: dict[str, str], marks: dict[bytes, float]) -> tuple[float, float, int]:
    """``docstream run --max-documents 1`` to its exit: (spawn, exit, exit code)."""
    args = [sys.executable, "-m", "stream", "-v", "run", "--max-documents", "1"]
    spawn = time.time()
    proc = subprocess.Popen(
        args, env=_child_env(env), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    reader = threading.Thread(target=_watch, args=(proc, marks), daemon=True)
    reader.start()
    try:
        proc.wait(timeout=_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise DocstreamError("docstream run did not finish its one document") from None
    end = time.time()
    reader.join(5.0)
    return spawn, end, proc.returncode


def _watch(proc: subprocess.Popen[bytes], marks: dict[bytes, float]) -> None:
    """Arrival time of the first log line containing each of ``_MARKS``."""
    assert proc.stderr is not None
    for line in proc.stderr:
        for mark in _MARKS:
            if mark not in marks and mark in line:
                marks[mark] = time.time()


def format_cold(rows: list[ColdStart]) -> str:
    lines = [
        "cold start of `docstream run` (seconds): session | start | interpreter | imports | "
        "spawn->subscribed (set-up) | join | assigned->first call | spawn->first call | "
        "spawn->exit"
    ]
    for r in rows:
        lines.append(
            f"  {r.session_timeout_ms / 1000:g} s | {r.start} | {r.interpreter_s:.3f} | "
            f"{r.imports_s:.3f} | "
            f"{r.spawn_to_subscribed_s:.3f} | {r.subscribed_to_assigned_s:.3f} | "
            f"{r.assigned_to_first_call_s:.3f} | "
            f"{r.spawn_to_first_call_s:.3f} | {r.spawn_to_exit_s:.3f}"
        )
    return "\n".join(lines)


@click.command("coldstart")
@click.option("--runs", default=2, show_default=True, type=click.IntRange(min=1))
@click.option("--bootstrap", default=None, help="A running embedded-profile broker.")
@click.option(
    "--restarts",
    is_flag=True,
    help="Also time restarts on the same group, without and with a group instance id.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@pass_state
def command(
    state: CliState, runs: int, bootstrap: str | None, restarts: bool, as_json: bool
) -> None:
    """Time from `docstream run` to its first Claude call, by phase."""
    del state
    broker = EmbeddedBroker() if bootstrap is None else None
    rows: list[ColdStart] = []
    starts = _STARTS if restarts else _STARTS[:1]
    try:
        address = broker.start() if broker is not None else str(bootstrap)
        for session_ms in (10_000, 2_000):
            for restart, instance_id in starts:
                rows += [
                    measure_cold_start(
                        address, session_ms, restart=restart, instance_id=instance_id
                    )
                    for _ in range(runs)
                ]
    except DocstreamError as exc:
        fail(str(exc), code=1)
    finally:
        if broker is not None:
            broker.stop()
    out: Any = [asdict(r) for r in rows]
    click.echo(json.dumps(out, indent=2) if as_json else format_cold(rows))
