"""A deterministic sample corpus: a few hundred varied documents, a few deliberately bad.

The documents read like what operations teams feed an LLM: incident reports, customer
emails, log excerpts, meeting notes, change requests. A handful carry simulator fault
markers (``[[sim:...]]``) so the demo shows retries and every DLQ path; against real
Claude those markers are inert text.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

__all__ = ["BAD_RECORDS", "corpus", "corpus_lines"]

_SERVICES = ["checkout", "search", "billing", "auth", "inventory", "notifications", "payments"]
_REGIONS = ["eu-west-1", "us-east-1", "ap-southeast-2", "us-west-2"]
_PEOPLE = ["Amara", "Bjorn", "Chen", "Dalia", "Emeka", "Fatima", "Goran", "Hiro", "Ines"]
_SYMPTOMS = [
    "p99 latency rose from 180 ms to 2.4 s",
    "error rate climbed to 7% on the write path",
    "a deploy left two pods in CrashLoopBackOff",
    "the consumer group lag grew past 40,000 records",
    "TLS handshakes failed for clients on an old cipher suite",
    "disk usage on the primary reached 93%",
]
_CAUSES = [
    "a connection pool sized for the old instance type",
    "a retry storm after a dependency timed out",
    "a schema migration that locked a hot table",
    "an expired certificate on an internal load balancer",
    "a cache stampede after a mass invalidation",
]


def _incident(rng: random.Random, i: int) -> str:
    svc, region = rng.choice(_SERVICES), rng.choice(_REGIONS)
    return (
        f"Incident INC-{4100 + i}: {svc} in {region}.\n"
        f"At {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d} UTC {rng.choice(_SYMPTOMS)}. "
        f"On-call ({rng.choice(_PEOPLE)}) traced it to {rng.choice(_CAUSES)}. "
        f"Mitigation took {rng.randint(4, 95)} minutes; {rng.randint(0, 3000)} requests failed. "
        "Follow-ups: add an alert on saturation, write a runbook entry, review capacity."
    )


def _email(rng: random.Random, i: int) -> str:
    issue = rng.choice(
        [
            "was charged twice for the annual plan",
            "cannot reset the password because the email never arrives",
            "sees an empty dashboard since this morning",
            "wants to export all invoices as CSV",
            "reports that search ignores accented characters",
        ]
    )
    return (
        f"From: customer{i}@example.com\nSubject: help needed\n\n"
        f"Hello, our team {issue}. We have {rng.randint(3, 400)} seats and this blocks "
        f"our month-end close. Ticket reference #{90000 + i}. Please advise. Regards, "
        f"{rng.choice(_PEOPLE)}"
    )


def _logs(rng: random.Random, i: int) -> str:
    lines = []
    for n in range(rng.randint(4, 9)):
        level = rng.choice(["INFO", "INFO", "WARN", "ERROR"])
        lines.append(
            f"2026-11-{rng.randint(1, 20):02d}T10:{n:02d}:{rng.randint(0, 59):02d}Z {level} "
            f"{rng.choice(_SERVICES)} request_id=r{i}{n} status={rng.choice([200, 200, 429, 503])} "
            f"duration_ms={rng.randint(3, 4000)}"
        )
    return "Log excerpt:\n" + "\n".join(lines)


def _notes(rng: random.Random, i: int) -> str:
    who = ", ".join(rng.sample(_PEOPLE, 3))
    return (
        f"Meeting notes, week {i % 52 + 1}. Present: {who}.\n"
        f"- Decided to move the {rng.choice(_SERVICES)} queue to a partitioned topic.\n"
        f"- Budget for LLM calls is ${rng.randint(200, 5000)} per month; cost per document "
        "must be reported.\n- Open question: who owns the dead-letter replay runbook?"
    )


def _change(rng: random.Random, i: int) -> str:
    return (
        f"Change request CR-{700 + i}: raise the {rng.choice(_SERVICES)} rate limit from "
        f"{rng.randint(100, 900)} to {rng.randint(1000, 5000)} requests/minute in "
        f"{rng.choice(_REGIONS)}. Risk: {rng.choice(['low', 'medium', 'high'])}. Rollback: "
        "revert the config map and restart the deployment."
    )


_KINDS = [_incident, _email, _logs, _notes, _change]

# Document ids that carry simulator fault markers, to show each path in the demo.
_MARKED = {
    7: ("[[sim:error500*2]]", "fails twice with 500, then succeeds on retry"),
    19: ("[[sim:overloaded*1]]", "one 529, retried"),
    31: ("[[sim:refusal]]", "the model refuses: DLQ, outcome refused"),
    43: ("[[sim:prompt_too_long]]", "400 prompt too long: DLQ on the first attempt"),
    55: ("[[sim:max_tokens]]", "truncated: text stages flag it, a JSON stage dead-letters it"),
    67: ("[[sim:badjson*1]]", "invalid JSON once: repaired on the second try"),
}


def corpus(count: int = 300, seed: int = 7) -> Iterator[dict[str, object]]:
    """Valid documents (as dicts), deterministic for a seed."""
    rng = random.Random(seed)
    for i in range(count):
        kind = _KINDS[i % len(_KINDS)]
        text = kind(rng, i)
        marker = _MARKED.get(i)
        if marker is not None:
            text = f"{text}\n{marker[0]}"
        yield {
            "id": f"doc-{i:04d}",
            "text": text,
            "metadata": {"kind": kind.__name__.strip("_"), "source": "demo"},
        }


def corpus_lines(count: int = 300, seed: int = 7) -> Iterator[str]:
    for doc in corpus(count, seed):
        yield json.dumps(doc, ensure_ascii=False)


# Raw records that never become Documents; the demo writes them straight to the topic
# (the publisher would refuse them) so the worker's bad-input path shows in the DLQ.
BAD_RECORDS: list[tuple[bytes, bytes]] = [
    (b"bad-utf8", b'{"id": "bad-utf8", "text": "caf\xe9 \xff\xfe"}'),
    (b"bad-json", b'{"id": "bad-json", "text": "unterminated'),
    (b"bad-schema", b'{"id": "", "text": 42, "metadata": "not an object"}'),
    (b"bad-size", json.dumps({"id": "bad-size", "text": "x" * 300_000}).encode()),
]
