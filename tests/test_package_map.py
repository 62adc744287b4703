"""The README's package map names every module and package, and the core's imports
point the way it says (never at an entry point or an adapter)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STREAM = ROOT / "stream"
_ENTRY_AND_ADAPTERS = (
    "stream.cli",
    "stream.worker",
    "stream.library",
    "stream.faust",
    "stream.demo",
    "stream.bench",
    "stream.kafka",
    "stream.embedded",
    "stream.simulator",
)


def _map_rows() -> list[tuple[str, str]]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Package map", 1)[1].split("\n## ", 1)[0]
    rows, layer = [], ""
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[1].startswith("`stream/"):
            layer = cells[0] or layer
            rows.append((layer, cells[1].strip("`")))
    return rows


def _on_disk() -> set[str]:
    modules = {f"stream/{p.name}" for p in STREAM.glob("*.py") if p.name != "__init__.py"}
    packages = {f"stream/{p.name}/" for p in STREAM.iterdir() if (p / "__init__.py").exists()}
    return modules | packages


def test_the_package_map_names_every_module_and_package_and_nothing_else() -> None:
    named = [path for _, path in _map_rows()]
    assert len(named) == len(set(named))
    assert set(named) == _on_disk()


def test_the_core_imports_no_entry_point_and_no_adapter() -> None:
    core = [path for layer, path in _map_rows() if layer in ("core", "ports and protocols")]
    assert core
    for path in core:
        files = sorted((ROOT / path).rglob("*.py")) if path.endswith("/") else [ROOT / path]
        for file in files:
            for name in _imported(file):
                bad = [p for p in _ENTRY_AND_ADAPTERS if name == p or name.startswith(p + ".")]
                assert not bad, f"{file.relative_to(ROOT)} imports {name}"


def _imported(file: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return [n for n in names if re.match(r"stream(\.|$)", n)]
