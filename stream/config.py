"""Settings: nested Kafka / Claude / Limits / Processing / Telemetry sections.

Precedence, highest first: CLI flag > environment (``DOCSTREAM_`` prefix, ``__`` between
section and field, e.g. ``DOCSTREAM_KAFKA__BOOTSTRAP_SERVERS``) > YAML file (``--config``)
> default. The API key is a secret: it comes from ``ANTHROPIC_API_KEY`` (or
``DOCSTREAM_CLAUDE__API_KEY``, or a key file) and is only ever shown masked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from stream.caching.rules import CACHE_READ_MULTIPLIER, CACHE_WRITE_MULTIPLIERS
from stream.concurrency.algorithms import DEFAULT_ALGORITHM, LIMIT_ALGORITHMS
from stream.errors import DocstreamError

__all__ = [
    "ClaudeSettings",
    "ConfigError",
    "KafkaSettings",
    "LimitsSettings",
    "ModelPrice",
    "ProcessingSettings",
    "Settings",
    "TelemetrySettings",
    "TopicSettings",
    "load_settings",
]


class ConfigError(DocstreamError):
    """A configuration value is wrong; the message names the field and what is allowed."""


class _Section(BaseModel):
    # inf/nan would pass every range check (inf > 0) and then loop or never time out.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class TopicSettings(_Section):
    input: str = Field("documents", min_length=1)
    results: str = Field("documents.results", min_length=1)
    dlq: str = Field("documents.dlq", min_length=1)
    dedup: str = Field(
        "documents.dedup", min_length=1, description="compacted; used with processing.dedup"
    )
    partitions: int = Field(4, ge=1, le=10_000)
    replication_factor: int = Field(1, ge=1, le=32)

    @model_validator(mode="after")
    def _distinct(self) -> TopicSettings:
        # A DLQ or results topic that is also the input feeds the worker its own output:
        # one bad record becomes a DLQ record, which is bad input again, and so on.
        named = {"input": self.input, "results": self.results, "dlq": self.dlq}
        for first, second in (("results", "input"), ("dlq", "input"), ("dlq", "results")):
            if named[first] == named[second]:
                raise ValueError(
                    f"{first} and {second} must be different topics (both {named[first]!r})"
                )
        return self


class KafkaSettings(_Section):
    bootstrap_servers: str = Field("127.0.0.1:9092", min_length=1, description="host:port[,...]")
    profile: Literal["kafka", "embedded"] = Field(
        "kafka",
        description="embedded = the Tansu test broker: the idempotent producer is switched off "
        "because Tansu rejects aiokafka's InitProducerId v0",
    )
    group_id: str = Field("docstream", min_length=1)
    # KIP-345 static membership: a worker restarted with the same id within the session
    # timeout gets its partitions back without a rebalance (Kafka 2.3+). One id per worker
    # (e.g. the pod name of a StatefulSet); two live workers must never share one.
    group_instance_id: str | None = Field(
        None,
        min_length=1,
        max_length=249,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="static group membership (KIP-345): this worker's stable id in the group",
    )
    client_id: str = "docstream"
    topics: TopicSettings = TopicSettings()
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    session_timeout_ms: int = Field(10_000, ge=1_000)
    heartbeat_interval_ms: int = Field(3_000, ge=100)
    max_poll_interval_ms: int = Field(300_000, ge=1_000)
    # Kafka-correct production default; the embedded profile turns it off because Tansu
    # rejects aiokafka's InitProducerId v0 (design.md section 3).
    enable_idempotence: bool = True
    # zstd: about a third of lz4's CPU per record in aiokafka (which uses lz4 level 9),
    # with a better ratio.
    compression: Literal["none", "gzip", "lz4", "zstd", "snappy"] = "zstd"
    linger_ms: int = Field(5, ge=0)
    fetch_max_wait_ms: int = Field(
        500, ge=0, description="how long a fetch that finds nothing waits at the broker"
    )
    request_timeout_ms: int = Field(30_000, ge=1_000)
    max_request_size: int = Field(1_048_576, ge=1024)

    @model_validator(mode="after")
    def _heartbeat_below_session(self) -> KafkaSettings:
        if self.heartbeat_interval_ms >= self.session_timeout_ms:
            raise ValueError("heartbeat_interval_ms must be below session_timeout_ms")
        return self


class ModelPrice(_Section):
    """USD per million tokens. A missing cache price is derived from ``input`` with
    Anthropic's list multipliers (``stream.claude.cost``)."""

    input: Decimal = Field(ge=0)
    output: Decimal = Field(ge=0)
    cache_write: Decimal | None = Field(None, ge=0, description="5-minute cache write")
    cache_write_1h: Decimal | None = Field(None, ge=0, description="1-hour cache write")
    cache_read: Decimal | None = Field(None, ge=0)


def _listed(input_usd: str, output_usd: str, write_5m: str | None = None) -> ModelPrice:
    # Cache prices written out rather than derived, so the table reads like the price
    # page: 5-minute write 1.25x input (the page rounds Haiku 3's), 1-hour 2x, read 0.1x.
    base = Decimal(input_usd)
    return ModelPrice(
        input=base,
        output=Decimal(output_usd),
        cache_write=Decimal(write_5m) if write_5m else base * CACHE_WRITE_MULTIPLIERS["5m"],
        cache_write_1h=base * CACHE_WRITE_MULTIPLIERS["1h"],
        cache_read=base * CACHE_READ_MULTIPLIER,
    )


def _default_prices() -> dict[str, ModelPrice]:
    # Anthropic list prices (2026-12) in USD per million tokens, matched by the longest
    # model-name prefix; override in the config file for your contract or newer models.
    return {
        "claude-opus-4": _listed("15", "75"),  # Opus 4 and 4.1
        "claude-opus-4-5": _listed("5", "25"),
        "claude-opus-4-6": _listed("5", "25"),
        "claude-sonnet-4": _listed("3", "15"),  # Sonnet 4, 4.5 and 4.6
        "claude-3-7-sonnet": _listed("3", "15"),
        "claude-haiku-4": _listed("1", "5"),  # Haiku 4.5
        "claude-3-5-haiku": _listed("0.8", "4"),
        "claude-3-haiku": _listed("0.25", "1.25", write_5m="0.30"),
    }


class ClaudeSettings(_Section):
    api_key: SecretStr | None = None
    api_key_file: Path | None = None
    base_url: str | None = Field(
        None, description="None = api.anthropic.com with a key, else the local simulator"
    )
    model: str = Field("claude-sonnet-4-6", min_length=1)
    max_tokens: int = Field(1024, ge=1, le=128_000)
    timeout_s: float = Field(120.0, gt=0)
    connect_timeout_s: float = Field(5.0, gt=0)
    stream: bool = Field(
        False, description="stream responses (time to first token, in-stream errors)"
    )
    prices: dict[str, ModelPrice] = Field(default_factory=_default_prices)


class LimitsSettings(_Section):
    algorithm: str = Field(
        DEFAULT_ALGORITHM,
        description="concurrency limit algorithm",
        json_schema_extra={"enum": list(LIMIT_ALGORITHMS)},
    )
    initial_concurrency: int = Field(16, ge=1)
    min_concurrency: int = Field(1, ge=1)
    max_concurrency: int = Field(256, ge=1)
    ramp_start: int = Field(4, ge=1, description="calls sent before the first answer, at first")
    ramp_doubling_s: float = Field(
        0.1, gt=0, description="the blind ramp doubles that every so often until an answer"
    )
    backlog_board: bool = Field(
        False,
        description="share the account among the group's workers by their backlogs, "
        "written to the compacted topic <input>.backlog (else by partitions and headers)",
    )
    max_attempts: int = Field(6, ge=1, le=100)
    document_deadline_s: float = Field(600.0, gt=0)
    backoff_base_s: float = Field(0.5, gt=0)
    backoff_max_s: float = Field(30.0, gt=0)
    breaker_failures: int = Field(20, ge=1, description="consecutive transient failures to open")
    breaker_error_rate: float = Field(0.5, gt=0, le=1)
    breaker_open_s: float = Field(30.0, gt=0)
    budget_usd_per_hour: float | None = Field(
        None, gt=0, description="spend budget: calls wait rather than spend faster than this"
    )
    budget_usd_per_day: float | None = Field(None, gt=0)
    pause_on_fatal_s: float = Field(
        300.0, gt=0, description="auth/spend-cap pause before exiting non-zero"
    )

    @field_validator("algorithm")
    @classmethod
    def _known_algorithm(cls, name: str) -> str:
        if name not in LIMIT_ALGORITHMS:
            raise ValueError(f"one of {', '.join(LIMIT_ALGORITHMS)} (got {name!r})")
        return name

    @model_validator(mode="after")
    def _ordered(self) -> LimitsSettings:
        if not self.min_concurrency <= self.initial_concurrency <= self.max_concurrency:
            raise ValueError(
                "need min_concurrency <= initial_concurrency <= max_concurrency "
                f"(got {self.min_concurrency}, {self.initial_concurrency}, {self.max_concurrency})"
            )
        if self.backoff_base_s > self.backoff_max_s:
            raise ValueError("backoff_base_s must not exceed backoff_max_s")
        return self


class ProcessingSettings(_Section):
    ordering: Literal["unordered", "key", "partition"] = "unordered"
    pipeline_file: Path | None = Field(None, description="YAML stages; None = built-in summarize")
    max_text_bytes: int = Field(200_000, ge=1, description="documents above this go to the DLQ")
    buffer_size: int = Field(1000, ge=1, description="records held in memory before pausing")
    commit_interval_s: float = Field(2.0, gt=0)
    commit_every: int = Field(1000, ge=1)
    drain_deadline_s: float = Field(30.0, ge=0)
    truncation: Literal["flag", "dlq"] = "flag"
    max_replays: int = Field(3, ge=0)
    dedup: bool = Field(
        False,
        description="documents identical (for the pipeline) to one processed within the "
        "horizon get its stored outputs instead of new calls (kafka.topics.dedup)",
    )
    dedup_horizon_s: float = Field(7 * 86_400.0, gt=0)
    dedup_max_entries: int = Field(1_000_000, ge=1, description="oldest dropped past this")
    skip_finished: bool = Field(
        False,
        description="remember offsets finished above the committed one (compacted topic "
        "<input>.finished) and skip them after a restart or rebalance",
    )
    worker_id: str = Field(default_factory=lambda: f"{os.uname().nodename}-{os.getpid()}")


class TelemetrySettings(_Section):
    exporter: Literal["none", "console", "otlp"] = "none"
    service_name: str = "docstream"
    capture_content: bool = Field(False, description="put prompts and outputs in spans")
    http_port: int | None = Field(
        None,
        ge=0,
        le=65_535,
        description="docstream run: serve /livez, /readyz and Prometheus /metrics on this port "
        "(None = off, 0 = any free port)",
    )
    http_host: str = Field("0.0.0.0", min_length=1, description="address for http_port")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DOCSTREAM_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    kafka: KafkaSettings = KafkaSettings()
    claude: ClaudeSettings = ClaudeSettings()
    limits: LimitsSettings = LimitsSettings()
    processing: ProcessingSettings = ProcessingSettings()
    telemetry: TelemetrySettings = TelemetrySettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - no .env layer
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        file_values = _FILE_VALUES.get("values", {})
        return (
            init_settings,
            env_settings,
            InitSettingsSource(settings_cls, init_kwargs=dict(file_values)),
        )

    def api_key(self) -> str | None:
        """The Anthropic key: config/env field, then ANTHROPIC_API_KEY, then the key file.

        Raises ConfigError naming the key file (never its content) when it cannot be read.
        """
        if self.claude.api_key is not None:
            return self.claude.api_key.get_secret_value()
        env_key = os.environ.get("ANTHROPIC_API_KEY")
        if env_key:
            return env_key
        path = self.claude.api_key_file
        if path is None:
            return None
        try:
            return path.read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            problem = f"claude.api_key_file {path}: cannot read it ({exc.strerror})"
            raise ConfigError(problem) from None

    def masked(self) -> dict[str, Any]:
        """The effective configuration as plain data, every secret replaced by a mask."""
        data = self.model_dump(mode="json")
        key = self.api_key()
        data["claude"]["api_key"] = _mask(key)
        if self.kafka.sasl_password is not None:
            data["kafka"]["sasl_password"] = "**********"
        return data


def _mask(secret: str | None) -> str | None:
    if not secret:
        return None
    return "**********" + (secret[-4:] if len(secret) >= 20 else "")


# The YAML layer sits between env and defaults; pydantic-settings builds sources per
# class, so the loaded file is handed over through this module-level slot.
_FILE_VALUES: dict[str, Mapping[str, Any]] = {}


def _read_yaml(path: Path) -> Mapping[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path}: not found") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path}: not valid YAML ({exc})") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {path}: the top level must be a mapping of sections")
    return loaded


def load_settings(
    config_file: Path | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Build Settings from the layers; raise ConfigError with one line per bad field."""
    _check_env_sections(os.environ)
    _FILE_VALUES["values"] = _read_yaml(config_file) if config_file is not None else {}
    try:
        return Settings(**_nest(overrides or {}))
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    finally:
        _FILE_VALUES.clear()


# DOCSTREAM_* variables that are not settings fields.
_NON_SETTINGS_ENV = frozenset({"DOCSTREAM_CONFIG"})


def _check_env_sections(environ: Mapping[str, str]) -> None:
    """A misspelt section (DOCSTREAM_LIMIT__MAX_CONCURRENCY) is an error, as a misspelt
    field is: pydantic-settings only looks up the sections it knows, so it would be
    silently ignored."""
    sections = {name.upper() for name in Settings.model_fields}
    unknown = sorted(
        name
        for name in environ
        if name.upper().startswith("DOCSTREAM_")
        and name.upper() not in _NON_SETTINGS_ENV
        and name.upper().removeprefix("DOCSTREAM_").split("__")[0] not in sections
    )
    if unknown:
        known = ", ".join(f"DOCSTREAM_{s}__..." for s in sorted(sections))
        raise ConfigError(f"{unknown[0]}: not a docstream setting (sections: {known})")


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """{"kafka.group_id": "g"} -> {"kafka": {"group_id": "g"}}; None values are dropped."""
    nested: dict[str, Any] = {}
    for dotted, value in flat.items():
        if value is None:
            continue
        node = nested
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "settings"
        shown = "" if "input" not in err or isinstance(err["input"], dict) else err["input"]
        got = f" (got {shown!r})" if shown != "" and "api_key" not in field else ""
        lines.append(f"{field}: {err['msg']}{got}")
    return "; ".join(lines)
