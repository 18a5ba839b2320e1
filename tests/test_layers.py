"""genfw's modules form one-way layers: no import cycle, type-only imports included.

The graph is read from the source (AST), not from ``sys.modules``, so an import delayed into a
function or kept under ``if TYPE_CHECKING:`` counts as much as one at the top of a module: a
delayed import hides a cycle, it does not remove it.

The rule for one edge: ``import a.b.c`` and ``from a.b import c`` (``c`` a submodule) are edges
to the module ``a.b.c``; ``from a.b import name`` (``name`` defined in ``a/b.py`` or
``a/b/__init__.py``) is an edge to ``a.b``. The parents a Python import initialises on the way
(``a``, ``a.b``) are not edges of their own: they are imported, but what they import is their
own edge, so a package's ``__init__`` that imports its submodules is no cycle by itself. It
becomes one when a submodule imports a name *through its package* (``from genfw.evaluation
import x`` inside ``genfw/evaluation/context.py``) while the package imports that submodule:
import siblings by their own module path instead.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "genfw"

#: Old module paths kept importable for one release (each re-exports its names and warns once,
#: naming the new place). genfw's own code imports the new places, never these; nor the names
#: the packages ``genfw`` and ``genfw.config`` forward.
DEPRECATED_SHIMS = frozenset({
    "genfw", "genfw.components", "genfw.config", "genfw.evaluation.context", "genfw.hookspecs", "genfw.plugins",
    "genfw.registry",
})

#: The one module plugin authors import from; it sits above everything, so genfw imports it nowhere.
FACADE = "genfw.api"


def module_name(path: Path, root: Path = REPO) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def genfw_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path, name: str, known: set[str], prefix: str = "genfw") -> set[str]:
    """The modules under ``prefix`` that the file imports anywhere (top level, functions,
    TYPE_CHECKING blocks), each resolved to a module by the rule in this file's docstring."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the file's package, up node.level - 1 more packages
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
    return {m for m in found if m == prefix or m.startswith(prefix + ".")}


def import_graph() -> dict[str, set[str]]:
    modules = genfw_modules()
    known = set(modules)
    return {name: imports_of(path, name, known) & known for name, path in modules.items()}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: the components with more than one module (or a self-import)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph[node]:
                    out.append(sorted(component))
    return out


def one_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """A shortest cycle through the component's first module, for the failure message."""
    members = set(component)
    start = component[0]
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(graph[node] & members):
            if child == start:
                return paths[node] + [start]
            if child not in paths:
                paths[child] = paths[node] + [child]
                queue.append(child)
    return component


def test_genfw_has_no_import_cycle():
    graph = import_graph()
    cycles = strongly_connected(graph)
    report = "\n".join(f"{len(c)} modules: {', '.join(c)}\n  e.g. {' -> '.join(one_cycle(graph, c))}" for c in cycles)
    assert not cycles, f"import cycles in genfw/ (type-only and delayed imports count):\n{report}"


def test_no_genfw_module_imports_a_deprecated_shim_or_the_facade():
    graph = import_graph()
    offenders = sorted(f"{m} imports {t}" for m, targets in graph.items() for t in targets
                       if (t in DEPRECATED_SHIMS or t == FACADE) and m not in DEPRECATED_SHIMS and m != FACADE)
    assert not offenders, "genfw's own code imports a deprecated path or genfw.api:\n" + "\n".join(offenders)


#: Code written as a plugin author writes it: it may import genfw.api and nothing else of genfw.
PLUGIN_CODE = ("plugins", "docs/examples", "examples")


def test_plugins_and_examples_import_only_genfw_api():
    offenders = []
    for folder in PLUGIN_CODE:
        for path in sorted((REPO / folder).rglob("*.py")):
            name = module_name(path)
            for target in imports_of(path, name, set()):
                if target != FACADE:
                    offenders.append(f"{path.relative_to(REPO)} imports {target}")
    assert not offenders, "plugin code imports genfw's inside instead of genfw.api:\n" + "\n".join(offenders)


def test_old_paths_still_import_with_one_warning_naming_the_new_place():
    """A plugin written against the old module paths keeps working for one release: each old path
    warns once (one DeprecationWarning, one line), naming where to import from now."""
    script = textwrap.dedent("""
        import json, warnings
        out = {}
        for old in ("genfw.components", "genfw.hookspecs", "genfw.registry", "genfw.plugins",
                    "genfw.evaluation.context"):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                exec(f"import {old}")  # as plugin code imports it
            out[old] = [(w.category.__name__, str(w.message), w.filename) for w in caught
                        if issubclass(w.category, DeprecationWarning)]
        import genfw, genfw.config
        for owner, name in ((genfw, "hookimpl"), (genfw.config, "load_config_and_plugins")):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                getattr(owner, name)
            out[f"{owner.__name__}.{name}"] = [(w.category.__name__, str(w.message), w.filename) for w in caught]
        from genfw.components import NetworkContext
        from genfw.api import NetworkContext as new
        out["same"] = NetworkContext is new
        print(json.dumps(out))
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert found.pop("same") is True
    expected_place = {"genfw.components": "genfw.api", "genfw.hookspecs": "genfw.api", "genfw.registry": "genfw.plugin.registry",
                      "genfw.plugins": "genfw.plugin.loading", "genfw.evaluation.context": "genfw.api",
                      "genfw.hookimpl": "genfw.api.hookimpl", "genfw.config.load_config_and_plugins": "genfw.session"}
    for old, warnings_seen in found.items():
        assert len(warnings_seen) == 1, (old, warnings_seen)
        category, message, filename = warnings_seen[0]
        assert category == "DeprecationWarning" and "\n" not in message, (old, message)
        assert message.startswith(f"{old} is deprecated") and expected_place[old] in message, (old, message)
        assert filename == "<string>", (old, filename)  # it points at the importing code, not at genfw


def test_genfw_api_is_cheap_to_import():
    """genfw.api pulls in torch, pydantic and pluggy, never what only some commands need."""
    script = ("import sys, genfw.api\n"
              "print(sorted(m for m in ('onnx', 'onnxruntime', 'matplotlib', 'scipy', 'sklearn', 'torchvision', 'h5py')"
              " if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_genfw_api_lists_what_it_exports():
    import genfw.api

    missing = [name for name in genfw.api.__all__ if getattr(genfw.api, name, None) is None]
    assert not missing
    undocumented = [name for name in genfw.api.__all__ if f"``{name}``" not in (genfw.api.__doc__ or "")]
    assert not undocumented, f"genfw.api's docstring is its reference list; it lacks {undocumented}"
    # genfw.api lists its hook names by hand (linters read __all__ statically); genfw.hookimpl's
    # deprecation forwarding reads PLUGIN_NAMES: the two must name the same things.
    from genfw.plugin.hookspecs import PLUGIN_NAMES

    assert set(PLUGIN_NAMES) <= set(genfw.api.__all__)
    assert {n for n in genfw.api.__all__ if n == "hookimpl" or n.startswith("Register")} == set(PLUGIN_NAMES)


def test_the_graph_reader_sees_delayed_and_type_only_imports(tmp_path):
    """The rule itself: function-level, TYPE_CHECKING and relative imports are edges; a name
    imported through a package is an edge to the package; a submodule named in ``from`` is an
    edge to the submodule."""
    pkg = tmp_path / "genfw" / "sub"
    pkg.mkdir(parents=True)
    (tmp_path / "genfw" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("from genfw.sub import a\n")
    (pkg / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from genfw.sub import b\n"
                              "def f():\n    from . import c\n    from genfw.sub import NAME\n")
    for leaf in ("b", "c"):
        (pkg / f"{leaf}.py").write_text("")
    known = {"genfw", "genfw.sub", "genfw.sub.a", "genfw.sub.b", "genfw.sub.c"}
    assert imports_of(pkg / "__init__.py", "genfw.sub", known) == {"genfw.sub.a"}
    assert imports_of(pkg / "a.py", "genfw.sub.a", known) == {"genfw.sub.b", "genfw.sub.c", "genfw.sub"}
    graph = {"genfw.sub": {"genfw.sub.a"}, "genfw.sub.a": {"genfw.sub"}, "genfw": set()}
    assert strongly_connected(graph) == [["genfw.sub", "genfw.sub.a"]]


if __name__ == "__main__":  # print the graph's cycles (a developer's look at the layers)
    g = import_graph()
    for c in strongly_connected(g):
        print(len(c), c, " -> ".join(one_cycle(g, c)))
    sys.exit(0)
