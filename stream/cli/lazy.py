"""A click group whose subcommands are imported on first use.

Keeps ``docstream --help`` fast (no aiokafka/anthropic/OTel import) and lets each
command live in its own module.
"""

from __future__ import annotations

import importlib
import importlib.util

import click

__all__ = ["LazyGroup"]


class LazyGroup(click.Group):
    def __init__(self, *args: object, lazy: dict[str, str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        available = {n for n, target in self._lazy.items() if _exists(target)}
        return sorted({*super().list_commands(ctx), *available})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self._lazy and _exists(self._lazy[cmd_name]):
            module_name, attr = self._lazy[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attr)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self._lazy[cmd_name]} is not a click command")
            return command
        return super().get_command(ctx, cmd_name)


def _exists(target: str) -> bool:
    return importlib.util.find_spec(target.split(":")[0]) is not None
