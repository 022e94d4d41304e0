"""Layout rules of the package, read from the source with ``ast`` (nothing is imported).

The rules (ARCHITECTURE.md states them too):

* **No import circles** between ``tks_lava`` modules. An edge ``A -> B`` is an import statement
  that runs when ``A`` is imported: at module level, also inside ``if``/``try``/``with``/class
  bodies, but not inside a function (a *lazy* import, which runs on call) and not under
  ``if TYPE_CHECKING:`` (which never runs). ``import a.b`` and ``from a import b`` where ``b`` is
  a submodule give an edge to ``a.b``; ``from a import name`` for any other name gives an edge
  to the package ``a`` (its ``__init__``). Parent packages that Python runs on the way are not
  edges. So a package ``__init__`` that re-exports its submodules plus a submodule that imports
  the package is a circle. Lazy imports are not edges (the count is in the failure message).
* **Imports use current paths**: every import of a package module, lazy or not, names a module
  that exists, not an old path kept working by ``tks_lava._moved``.
* **No module over 400 lines.**
* **No function over 60 lines** (``def`` line to last line, docstring included, nested
  functions counted in the function that holds them), except argument parsers: functions
  named ``build_parser``, ``add_*arguments`` or ``*_parser``, which are one long list of
  options.
* **No ``# fmt: skip`` / ``# fmt: off``** in ``tks_lava/``, ``tests/``, ``benchmarks/``: a table
  that reads better aligned is kept in a data structure the formatter leaves alone.

Each failure lists every offender as ``path:line`` with its length or its circle.
"""

from __future__ import annotations

import ast
import fnmatch
import functools
import io
import re
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "tks_lava"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
PARSER_NAMES = ("build_parser", "add_*arguments", "*_parser")
FORMATTER_ESCAPE = re.compile(r"#\s*fmt:\s*(skip|off)\b")


@dataclass(frozen=True)
class Import:
    """One import of a package module: where it stands and the module it runs."""

    path: str  # file, relative to the repository
    line: int
    target: str  # dotted module name
    lazy: bool  # inside a function body


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package (``__init__`` = package)."""
    modules = {}
    for path in sorted((REPO / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk_imports(node: ast.AST, lazy: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    """Import nodes under ``node``, each with whether it sits inside a function."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            child = ast.Module(body=child.orelse, type_ignores=[])  # its body never runs
        elif isinstance(child, ast.Import | ast.ImportFrom):
            yield child, lazy
        inner = lazy or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        yield from _walk_imports(child, inner)


def _base(name: str, module: str | None, level: int, is_package: bool) -> str:
    """The absolute dotted name an ``ImportFrom`` in module ``name`` imports from."""
    if not level:
        return module or ""
    parts = name.split(".") if is_package else name.split(".")[:-1]
    parts = parts[: len(parts) - (level - 1)]
    return ".".join(parts + ([module] if module else []))


def imports(modules: dict[str, Path]) -> list[Import]:
    """Every import of a package module in the package, resolved as the docstring says."""
    found = []
    for name, path in modules.items():
        rel = str(path.relative_to(REPO))
        tree = ast.parse(path.read_text(), filename=rel)
        for node, lazy in _walk_imports(tree):
            for target in _targets(node, name, path.name == "__init__.py", modules):
                found.append(Import(rel, node.lineno, target, lazy))
    return found


@functools.cache
def moved_paths() -> frozenset[str]:
    """The old module paths ``tks_lava._moved.MOVED`` aliases (read from its source)."""
    tree = ast.parse((REPO / PACKAGE / "_moved.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "MOVED":
            return frozenset(ast.literal_eval(node.value))
    raise AssertionError(f"{PACKAGE}/_moved.py defines no MOVED table")


def _targets(node: ast.AST, name: str, is_package: bool, modules: dict) -> list[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = _base(name, node.module, node.level, is_package)
        old = moved_paths()
        names = [
            f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules.keys() | old else base
            for alias in node.names
        ]
    return sorted({n for n in names if n == PACKAGE or n.startswith(PACKAGE + ".")})


def circles(edges: dict[str, dict[str, Import]]) -> list[list[str]]:
    """Strongly connected components with more than one module, or a module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        for succ in edges.get(node, {}):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in edges.get(node, {}):
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _describe(component: list[str], edges: dict[str, dict[str, Import]]) -> str:
    inside = set(component)
    lines = [f"  circle of {len(component)}: " + ", ".join(component)]
    for source in component:
        for target, imp in sorted(edges.get(source, {}).items()):
            if target in inside:
                lines.append(f"    {imp.path}:{imp.line} {source} -> {target}")
    return "\n".join(lines)


def test_no_import_circles():
    """Module-level imports between package modules form no circle (see the module docstring)."""
    modules = module_files()
    all_imports = imports(modules)
    edges: dict[str, dict[str, Import]] = {}
    for imp in all_imports:
        if not imp.lazy:
            edges.setdefault(module_of(imp.path, modules), {}).setdefault(imp.target, imp)
    found = circles(edges)
    lazy = sum(imp.lazy for imp in all_imports)
    assert not found, (
        f"{len(found)} import circle(s) in {PACKAGE}/ ({lazy} lazy imports not counted as "
        "edges); break each by moving the shared piece into a module both can import, or by "
        "not re-exporting it from the package __init__:\n"
        + "\n".join(_describe(c, edges) for c in found)
    )


def module_of(rel: str, modules: dict[str, Path]) -> str:
    """The dotted name of the module in file ``rel``."""
    return next(name for name, path in modules.items() if str(path.relative_to(REPO)) == rel)


def test_imports_name_current_modules():
    """Every import of a package module, lazy or not, names a module that exists under its
    current path (an old path works through ``tks_lava._moved``, with a DeprecationWarning)."""
    modules = module_files()
    found = imports(modules)
    missing = [imp for imp in found if imp.target not in modules]
    lazy = sum(imp.lazy for imp in found)
    assert lazy, "expected the package's lazy imports (torch-free CLIs) to be found"
    assert not missing, (
        f"{len(missing)} of {len(found)} imports ({lazy} lazy) name no module: a missing one, "
        "or an old path (tks_lava/_moved.py lists them; import the new one):\n"
        + "\n".join(f"  {imp.path}:{imp.line} {imp.target}" for imp in missing)
    )


def line_counts() -> dict[Path, int]:
    """Lines of each package module."""
    return {path: len(path.read_text().splitlines()) for path in module_files().values()}


def test_modules_are_short():
    """No module of the package over MAX_MODULE_LINES lines."""
    long = [(p, n) for p, n in line_counts().items() if n > MAX_MODULE_LINES]
    assert not long, (
        f"{len(long)} module(s) over {MAX_MODULE_LINES} lines; split at a seam:\n"
        + "\n".join(f"  {p.relative_to(REPO)}:1 {n} lines" for p, n in long)
    )


def is_parser(name: str) -> bool:
    """Argument parsers may be long: ``build_parser``, ``add_*arguments``, ``*_parser``."""
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in PARSER_NAMES)


def long_functions(path: Path) -> list[tuple[int, str, int]]:
    """(line, qualified name, length) of each function in ``path`` over MAX_FUNCTION_LINES."""
    found = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                length = child.end_lineno - child.lineno + 1
                if (
                    not isinstance(child, ast.ClassDef)
                    and length > MAX_FUNCTION_LINES
                    and not is_parser(child.name)
                ):
                    found.append((child.lineno, name, length))
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(ast.parse(path.read_text()), "")
    return found


def test_functions_are_short():
    """No function over MAX_FUNCTION_LINES lines, argument parsers excepted."""
    long = [
        f"  {path.relative_to(REPO)}:{line} {name}: {length} lines"
        for path in module_files().values()
        for line, name, length in long_functions(path)
    ]
    assert not long, (
        f"{len(long)} function(s) over {MAX_FUNCTION_LINES} lines (parsers named "
        f"{', '.join(PARSER_NAMES)} excepted); split at their seams:\n" + "\n".join(long)
    )


def formatter_escapes(path: Path) -> list[tuple[int, str]]:
    """(line, comment) of each ``fmt: skip``/``fmt: off`` comment in ``path`` (not in strings)."""
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
    return [
        (tok.start[0], tok.string)
        for tok in tokens
        if tok.type == tokenize.COMMENT and FORMATTER_ESCAPE.search(tok.string)
    ]


def test_no_formatter_escapes():
    """No ``fmt: skip``/``fmt: off`` comment in the package, the tests or the benchmarks."""
    found = [
        f"  {path.relative_to(REPO)}:{line} {comment}"
        for folder in (PACKAGE, "tests", "benchmarks")
        for path in sorted((REPO / folder).rglob("*.py"))
        for line, comment in formatter_escapes(path)
    ]
    assert not found, (
        f"{len(found)} formatter escape(s); keep an aligned table in a data structure the "
        "formatter leaves alone, then run ruff format on the file:\n" + "\n".join(found)
    )


def test_rules_see_what_they_check():
    """The rules resolve imports as documented and find circles in a made-up graph."""
    modules = module_files()
    assert len(modules) > 40 and "tks_lava.metrics.accuracy" in modules
    source = (
        "from tks_lava.metrics import accuracy, early_exit\n"
        "from . import stats\n"
        "from tks_lava import loihi2\n"
        "import tks_lava.model.card\n"
        "if TYPE_CHECKING:\n    import tks_lava.training\n"
        "def f():\n    import tks_lava.deploy.window\n"
    )
    found = [
        (target, lazy)
        for node, lazy in _walk_imports(ast.parse(source))
        for target in _targets(node, "tks_lava.metrics.plots", False, modules)
    ]
    assert found == [
        ("tks_lava.metrics", False),  # early_exit is a name, not a submodule
        ("tks_lava.metrics.accuracy", False),
        ("tks_lava.metrics.stats", False),
        ("tks_lava.loihi2", False),  # an old path: the test above reports it
        ("tks_lava.model.card", False),
        ("tks_lava.deploy.window", True),
    ]
    edges = {"a": {"b": None}, "b": {"a": None}, "c": {"c": None}, "d": {"a": None}}
    assert circles(edges) == [["a", "b"], ["c"]]
    assert is_parser("build_parser") and is_parser("add_train_arguments")
    assert is_parser("run_parser") and not is_parser("parse_args")
