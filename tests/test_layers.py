"""The layers of lib/joulebook, as README's "Layout" section describes them, and defaults that live once.

Every module is parsed (not imported) with :mod:`ast` and placed in its layer: the package directly under
``joulebook/`` (``joulebook/__init__.py`` and ``__main__.py`` are the root). Three rules:

(a) a module imports only its own layer and the layers :data:`ALLOWED` lists for it;
(b) no import cycle between modules (imports at module level; Tarjan's strongly connected components);
(c) no joulebook import inside a function (a lazy import hides a cycle or a layer breach; lazy imports of heavy
    third-party packages such as matplotlib or papermill are fine).

And (d): ``notebooks/reports.toml`` carries only overrides, the matrix and test parameters; no value in it equals
the notebook's own default (papermill reads the defaults from the ``parameters`` cell).

:data:`PENDING` lists the modules other branches of issue 11 are fixing: the rules skip them until the lead
empties it at merge; a listed module that is clean now fails :func:`test_pending_list_only_shrinks`.
"""

from __future__ import annotations

import ast
import functools
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lib" / "joulebook"
NOTEBOOKS = ROOT / "notebooks"

LAYERS = ("core", "data", "models", "measure", "display", "stories", "sweeps", "site", "cli", "testing")
ALLOWED: dict[str, set[str]] = {
    "core": {"core"},
    "data": {"core", "data"},
    "models": {"core", "data", "models"},
    "measure": {"core", "data", "measure"},
    "display": {"core", "data", "display"},
    # sweeps sit beside models (they import core, data, models only); the sweep explorer story runs one
    "stories": {"core", "data", "models", "measure", "display", "sweeps", "stories"},
    "sweeps": {"core", "data", "models", "sweeps"},
    "site": {"core", "data", "models", "measure", "display", "stories", "sweeps", "site"},
    "cli": set(LAYERS) | {"root"},
    "testing": {"core", "data", "measure", "testing"},
    "root": set(LAYERS) | {"root"},
}
"""Layer -> the layers it may import. Anyone may import the bare ``joulebook`` package (its version string)."""

# Modules other engineers are fixing on their own branches (issue 11). Shrink only: the lead empties it at merge.
PENDING: set[str] = set()


# --------------------------------------------------------------------------- reading the tree

def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else "root"


def _resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute module an ImportFrom names (relative imports resolved against ``module``)."""
    if not node.level:
        return node.module or ""
    is_pkg = MODULES[module].name == "__init__.py"
    base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_pkg else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The joulebook modules an import statement loads (``from pkg import mod`` -> ``pkg.mod`` when mod is one)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = _resolve(module, node)
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
    out = []
    for name in names:
        if name == "joulebook" or name.startswith("joulebook."):
            while name not in MODULES and "." in name:  # an attribute of a module: the module
                name = name.rsplit(".", 1)[0]
            out.append(name)
    return list(dict.fromkeys(out))


def _type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def imports(module: str) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool, bool]]:
    """Every import statement of ``module``: (node, inside a function, under ``if TYPE_CHECKING``)."""
    yield from _imports(module)


@functools.cache
def _imports(module: str) -> tuple[tuple[ast.Import | ast.ImportFrom, bool, bool], ...]:
    """:func:`imports`, each module parsed once per test process (the rules below all walk every module)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"), filename=str(MODULES[module]))

    def walk(node: ast.AST, in_function: bool, typing_only: bool):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, in_function, typing_only
            yield from walk(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)),
                            typing_only or _type_checking(child))

    return tuple(walk(tree, False, False))


def _where(module: str, node: ast.AST) -> str:
    return f"{MODULES[module].relative_to(ROOT)}:{node.lineno}"


def layer_breaches() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for m in MODULES:
        for node, _, _ in imports(m):
            for t in _targets(m, node):
                if t != "joulebook" and layer(t) not in ALLOWED[layer(m)]:
                    out.setdefault(m, []).append(f"{_where(m, node)} {layer(m)} -> {layer(t)} ({t})")
    return out


def function_imports() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for m in MODULES:
        for node, in_function, _ in imports(m):
            for t in _targets(m, node):
                if in_function:
                    out.setdefault(m, []).append(f"{_where(m, node)} imports {t} inside a function")
    return out


def graph() -> dict[str, set[str]]:
    """Module -> the modules it imports at module level (TYPE_CHECKING blocks and functions left out)."""
    g: dict[str, set[str]] = {m: set() for m in MODULES}
    for m in MODULES:
        for node, in_function, typing_only in imports(m):
            if not in_function and not typing_only:
                g[m].update(t for t in _targets(m, node) if t != m)
    return g


def strongly_connected(g: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative): the strongly connected components of ``g``."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for start in sorted(g):
        if start in index:
            continue
        work = [(start, iter(sorted(g[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(g.get(w, ())))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    out.append(sorted(comp))
    return out


def cycles() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for comp in strongly_connected(graph()):
        if len(comp) > 1:
            for m in comp:
                out.setdefault(m, []).append("import cycle: " + " <-> ".join(comp))
    return out


def _report(found: dict[str, list[str]]) -> str:
    return "\n".join(line for m in sorted(found) for line in found[m])


# --------------------------------------------------------------------------- the rules

def test_every_module_has_a_layer():
    assert MODULES, "no modules found under lib/joulebook"
    assert {layer(m) for m in MODULES} <= set(LAYERS) | {"root"}
    for name in LAYERS:
        assert f"joulebook.{name}" in MODULES, f"lib/joulebook/{name}/__init__.py is missing"
    assert not [t for node, _, _ in imports("joulebook") for t in _targets("joulebook", node)], \
        "joulebook/__init__.py imports nothing of joulebook (every layer may import it for the version)"


def test_no_module_imports_a_layer_it_may_not():
    found = {m: v for m, v in layer_breaches().items() if m not in PENDING}
    assert not found, "imports across layers (README, Layout):\n" + _report(found)


def test_no_import_cycles():
    found = {m: v for m, v in cycles().items() if m not in PENDING}
    assert not found, "cycles between modules (move the shared piece down a layer):\n" + _report(found)


def test_no_joulebook_import_inside_a_function():
    found = {m: v for m, v in function_imports().items() if m not in PENDING}
    assert not found, "hoist these imports to the top of the module:\n" + _report(found)


def test_pending_list_only_shrinks():
    offenders = set(layer_breaches()) | set(cycles()) | set(function_imports())
    unknown = PENDING - set(MODULES)
    assert not unknown, f"PENDING names modules that do not exist: {sorted(unknown)}"
    clean = PENDING - offenders
    assert not clean, f"these modules follow the rules now: remove them from PENDING: {sorted(clean)}"


# the checker itself: each rule must be able to fail

def test_the_checker_finds_a_cycle_and_a_breach():
    comps = strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()})
    assert sorted(c for c in comps if len(c) > 1) == [["a", "b", "c"]]
    assert layer("joulebook.models.training") == "models" and layer("joulebook.__main__") == "root"
    assert "display" not in ALLOWED["models"] and "cli" not in ALLOWED["site"]
    node = ast.parse("from joulebook.display import plots, tables as t\nfrom joulebook.core.errors import InputError")
    assert _targets("joulebook.models.training", node.body[0]) == ["joulebook.display.plots", "joulebook.display.tables"]
    assert _targets("joulebook.models.training", node.body[1]) == ["joulebook.core.errors"]


# --------------------------------------------------------------------------- (d) defaults live once

def _reports() -> list[dict]:
    with (NOTEBOOKS / "reports.toml").open("rb") as fh:
        return tomllib.load(fh)["report"]


def _same(a, b) -> bool:
    return isinstance(a, bool) == isinstance(b, bool) and type(a) is not type(None) and a == b


@pytest.mark.parametrize("block", _reports(), ids=lambda b: b["id"])
def test_reports_toml_repeats_no_notebook_default(block):
    papermill = pytest.importorskip("papermill")
    declared = papermill.inspect_notebook(str(NOTEBOOKS / block["notebook"]))
    defaults = {k: ast.literal_eval(v["default"]) for k, v in declared.items()}
    given = block.get("parameters", {})
    repeats = [k for k, v in given.items() if k in defaults and _same(v, defaults[k])]
    assert not repeats, (f"{block['id']}: [report.parameters] repeats the notebook's defaults for {repeats}; "
                         "leave them out (defaults live in the notebook's parameters cell)")
    effective = {**defaults, **given, **{k: v[0] for k, v in block.get("matrix", {}).items() if v}}
    test_repeats = [k for k, v in block.get("test_parameters", {}).items() if k in effective and _same(v, effective[k])]
    assert not test_repeats, f"{block['id']}: [report.test_parameters] repeats values already in force: {test_repeats}"
