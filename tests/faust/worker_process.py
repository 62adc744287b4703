"""The README's Faust app as a worker process (``python docs_app.py worker``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from stream.config import Settings
from tests.readme_blocks import readme_block

ROOT = Path(__file__).resolve().parents[2]


def write_app(directory: Path) -> Path:
    app = directory / "docs_app.py"
    app.write_text(readme_block("# docs_app.py"), encoding="utf-8")
    return app


def settings_env(settings: Settings) -> dict[str, str]:
    """The DOCSTREAM_* variables the README app reads through ``Settings()``."""
    kafka, topics = settings.kafka, settings.kafka.topics
    return {
        "DOCSTREAM_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "DOCSTREAM_KAFKA__PROFILE": kafka.profile,
        "DOCSTREAM_KAFKA__GROUP_ID": kafka.group_id,
        "DOCSTREAM_KAFKA__TOPICS__INPUT": topics.input,
        "DOCSTREAM_KAFKA__TOPICS__RESULTS": topics.results,
        "DOCSTREAM_KAFKA__TOPICS__DLQ": topics.dlq,
        "DOCSTREAM_CLAUDE__BASE_URL": settings.claude.base_url or "",
        "DOCSTREAM_CLAUDE__TIMEOUT_S": str(settings.claude.timeout_s),
        "DOCSTREAM_LIMITS__ALGORITHM": settings.limits.algorithm,
        "DOCSTREAM_LIMITS__INITIAL_CONCURRENCY": str(settings.limits.initial_concurrency),
        "DOCSTREAM_LIMITS__MIN_CONCURRENCY": str(settings.limits.min_concurrency),
        "DOCSTREAM_LIMITS__MAX_CONCURRENCY": str(settings.limits.max_concurrency),
    }


class FaustWorker:
    """One ``docs_app.py worker`` process; its log goes to a file in the app's directory."""

    def __init__(self, app: Path, settings: Settings, name: str) -> None:
        self.log_path = app.parent / f"{name}.log"
        env = {**os.environ, "PYTHONPATH": str(ROOT), **settings_env(settings)}
        self._log = self.log_path.open("wb")
        self._process = subprocess.Popen(
            [sys.executable, str(app), "worker", "-l", "info", "--without-web"],
            cwd=app.parent,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        """kill -9: no shutdown, no final commit."""
        self._process.kill()
        self._process.wait(timeout=30)
        self._log.close()

    def stop(self) -> int:
        """SIGTERM, as an orchestrator would; Faust stops its services and exits."""
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=30)
        self._log.close()
        return self._process.returncode
