"""A click group whose subcommands are imported on first use.

Keeps ``docstream --help`` fast (no aiokafka/anthropic/OTel import) and lets each
command live in its own module. Every command it hands out also accepts the shared
options (``--config``), so they work after the subcommand name too.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable

import click

__all__ = ["LazyGroup"]


class LazyGroup(click.Group):
    def __init__(
        self,
        *args: object,
        lazy: dict[str, str],
        shared: Callable[[], click.Option] | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._lazy = lazy
        self._shared = shared

    def list_commands(self, ctx: click.Context) -> list[str]:
        available = {n for n, target in self._lazy.items() if _exists(target)}
        return sorted({*super().list_commands(ctx), *available})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self._lazy and _exists(self._lazy[cmd_name]):
            module_name, attr = self._lazy[cmd_name].split(":")
            loaded = getattr(importlib.import_module(module_name), attr)
            if not isinstance(loaded, click.Command):
                raise TypeError(f"{self._lazy[cmd_name]} is not a click command")
            command: click.Command | None = loaded
        else:
            command = super().get_command(ctx, cmd_name)
        if command is not None and self._shared is not None:
            _add_shared(command, self._shared())
        return command


def _add_shared(command: click.Command, option: click.Option) -> None:
    """Give ``command`` (and, for a group, each of its commands) ``option`` once."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _add_shared(sub, option)
    elif option.name not in {p.name for p in command.params}:
        command.params.append(option)


def _exists(target: str) -> bool:
    return importlib.util.find_spec(target.split(":")[0]) is not None
