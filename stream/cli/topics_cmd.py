"""``docstream topics create``: the input, results and DLQ topics, named by the config."""

from __future__ import annotations

import asyncio

import click

from stream.cli.common import CliState, build_settings, command_telemetry, fail_with, pass_state
from stream.errors import DocstreamError

__all__ = ["topics"]


@click.group("topics")
def topics() -> None:
    """Manage docstream's Kafka topics."""


@topics.command("create")
@click.option("--bootstrap", help="Kafka bootstrap servers (kafka.bootstrap_servers).")
@click.option(
    "--partitions",
    type=click.IntRange(1, 10_000),
    default=None,
    help="Partitions per topic (default: kafka.topics.partitions).",
)
@click.option(
    "--replication-factor",
    type=click.IntRange(1, 32),
    default=None,
    help="Replicas per partition (default: kafka.topics.replication_factor).",
)
@pass_state
def create(
    state: CliState, bootstrap: str | None, partitions: int | None, replication_factor: int | None
) -> None:
    """Create the input, results and DLQ topics; existing ones are left as they are."""
    from stream.kafka.admin import ensure_topics, topic_names, topic_partitions

    settings = build_settings(
        state,
        {
            "kafka.bootstrap_servers": bootstrap,
            "kafka.topics.partitions": partitions,
            "kafka.topics.replication_factor": replication_factor,
        },
    )
    kafka = settings.kafka

    async def _run() -> tuple[list[str], dict[str, int]]:
        created = await ensure_topics(kafka)
        return created, await topic_partitions(kafka, topic_names(kafka))

    try:
        with command_telemetry(settings):
            created, counts = asyncio.run(_run())
    except DocstreamError as exc:
        fail_with(exc)
    for name in topic_names(kafka):
        status = "created" if name in created else "already exists"
        click.echo(f"{name}: {status} ({counts.get(name, '?')} partitions)")
