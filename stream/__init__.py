"""docstream: an asynchronous Kafka stream processor for Claude workloads.

The library API (see the README, "docstream as a library")::

    from stream import Docstream, Result

    async with Docstream(model="claude-haiku-4-5") as ds:
        outcome = await ds.process({"id": "d1", "text": "..."})

``import stream`` stays light: each name below is imported on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "ConfigError": "stream.config",
    "DeadLetter": "stream.models",
    "Docstream": "stream.library",
    "Document": "stream.models",
    "FatalOutcome": "stream.errors",
    "Result": "stream.models",
    "Settings": "stream.config",
    "load_settings": "stream.config",
    "read_results": "stream.library",
}

__all__ = [
    "ConfigError",
    "DeadLetter",
    "Docstream",
    "Document",
    "FatalOutcome",
    "Result",
    "Settings",
    "__version__",
    "load_settings",
    "read_results",
]

if TYPE_CHECKING:
    from stream.config import ConfigError, Settings, load_settings
    from stream.errors import FatalOutcome
    from stream.library import Docstream, read_results
    from stream.models import DeadLetter, Document, Result


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'stream' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
