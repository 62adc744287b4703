"""``docstream broker``: run the embedded Kafka broker (Tansu) in the foreground."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import click

from stream.cli.common import fail, fail_with
from stream.embedded import EmbeddedBroker
from stream.errors import BrokerError

__all__ = ["broker"]


@click.command("broker")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Port on 127.0.0.1 (default: a free one).",
)
@click.option(
    "--log-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Keep Tansu's own log in this file (default: a temp file, removed on exit).",
)
def broker(port: int | None, log_file: Path | None) -> None:
    """Run an in-memory Kafka-compatible broker until Ctrl-C or SIGTERM.

    For the demo and local runs: data lives in memory only and is gone when it stops.
    """
    embedded = EmbeddedBroker(port, log_path=log_file)
    try:
        bootstrap = embedded.start()
    except BrokerError as exc:
        fail_with(exc)
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _on_signal)
    click.echo(f"embedded Kafka broker (Tansu) listening on {bootstrap} (pid {embedded.pid})")
    click.echo("use it from another shell with:")
    click.echo(f"  export DOCSTREAM_KAFKA__BOOTSTRAP_SERVERS={bootstrap}")
    click.echo("  export DOCSTREAM_KAFKA__PROFILE=embedded")
    click.echo("memory only: topics and records are gone when it stops. Ctrl-C to stop.")
    try:
        while not stop.wait(0.5):
            if not embedded.running:
                fail(f"the broker exited unexpectedly; log:\n{embedded.log_text()}", code=1)
    finally:
        embedded.stop()
    click.echo("broker stopped")
