"""The package's public surface is what __all__ says, and the package stands alone."""

from __future__ import annotations

import ast
import pathlib

import stream.concurrency as concurrency


def test_concurrency_all_names_exist_and_are_re_exported() -> None:
    """Every name in __all__ resolves, and every module's public names are re-exported."""
    for name in concurrency.__all__:
        assert getattr(concurrency, name) is not None
    for module in (
        "algorithms",
        "backoff",
        "breaker",
        "clock",
        "fatal",
        "gate",
        "limit",
        "limiter",
        "pacing",
    ):
        public = __import__(f"stream.concurrency.{module}", fromlist=["__all__"]).__all__
        assert set(public) <= set(concurrency.__all__), module


def test_concurrency_imports_nothing_from_the_rest_of_stream() -> None:
    """concurrency/ is pure: its only project imports are its own modules."""
    root = pathlib.Path(concurrency.__file__).parent
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                if name.startswith("stream"):
                    assert name.startswith("stream.concurrency"), (path.name, name)
                assert name.split(".")[0] not in {"anthropic", "aiokafka", "httpx"}, name
