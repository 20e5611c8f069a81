"""Imports run one way (DESIGN.md section 6): every import goes from a higher layer to a lower one,
and no two modules import each other, directly or through others. Lazy imports inside functions
count too: a cycle hidden in a function is still a cycle.

Layers, low to high (a package's ``config`` module sits with the config sections, its ``cli``
module with the command line):

    foundation   config_base registry ids columns < schema ray_config < schema_docs stage_stats
    sections     <package>.config (pure settings: config_base and their own package only)
    io < media < stage < shots probe < capabilities (clips quality faces audio sync identity captions)
    composition  config (assembles the sections)
    ray_compute report < jobs humoset < dataset_ops train < command line (cli, <package>.cli)
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "humo_data"
LAYERS: dict[str, int] = {
    **dict.fromkeys(("config_base", "registry", "ids", "columns", "devices"), 0),
    **dict.fromkeys(("schema", "ray_config"), 1),
    **dict.fromkeys(("schema_docs", "stage_stats"), 2),
    "io": 4,
    "media": 5,
    "stage": 6,
    **dict.fromkeys(("shots", "probe"), 7),
    **dict.fromkeys(("clips", "quality", "faces", "audio", "sync", "identity", "captions"), 8),
    "config": 9,
    **dict.fromkeys(("ray_compute", "report"), 10),
    **dict.fromkeys(("jobs", "humoset"), 11),
    **dict.fromkeys(("dataset_ops", "train", "rehearsal"), 12),
}
SECTIONS, COMMAND_LINE = 3, 13


def modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*up, *([node.module] if node.module else [])])
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for target in targets:
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if target.startswith("humo_data") and target != name:
                    edges[name].add(target)
    return edges


def unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "humo_data"


def layer(module: str) -> int:
    parts = module.split(".")
    if module == "humo_data.cli" or (len(parts) > 2 and parts[-1] == "cli"):
        return COMMAND_LINE + (module == "humo_data.cli")  # the root command registers the others
    if len(parts) > 2 and parts[-1] == "config":
        return SECTIONS
    return LAYERS.get(unit(module), -1)


def test_every_package_has_a_layer():
    unknown = sorted(
        {unit(m) for m in modules() if unit(m) not in ("humo_data", "cli") and unit(m) not in LAYERS}
    )
    assert not unknown, f"add these to LAYERS in tests/test_layers.py: {unknown}"


def test_no_import_runs_upward():
    upward = []
    for src, targets in import_graph().items():
        for dst in targets:
            if unit(src) != unit(dst) and layer(dst) >= layer(src):
                upward.append(f"{src} (layer {layer(src)}) imports {dst} (layer {layer(dst)})")
    assert not upward, "imports from a lower (or the same) layer up:\n" + "\n".join(sorted(upward))


def test_no_import_cycles():
    edges = import_graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(modules()):
        if module not in index:
            visit(module)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)
