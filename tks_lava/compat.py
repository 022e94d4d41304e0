"""Python 3.11 compatibility for lava-nc 0.10.0, applied at import time, scoped to one module.

Why: ``lava.magma.compiler.var_model`` declares dataclass fields whose defaults are instances of
another (mutable, hence unhashable) dataclass, e.g. ``x: ByteEncoder = ByteEncoder()``. Python
3.11 rejects such defaults (``ValueError: mutable default ... use default_factory``), so every
``import lava...`` that reaches the compiler fails. Upstream Lava was archived before fixing it.

What: a ``sys.meta_path`` finder that handles exactly ``lava.magma.compiler.var_model``. It loads
the installed source, rewrites each such class-level default ``Cls()`` into
``dataclasses.field(default_factory=Cls)`` on the AST, and compiles it in memory. Nothing in
site-packages is read-modified-written, and no bytecode cache is written for the patched module.
On Python < 3.11 :func:`install` does nothing.
"""

from __future__ import annotations

import ast
import importlib.abc
import importlib.machinery
import sys
from types import CodeType

TARGET = "lava.magma.compiler.var_model"
_FIELD_ALIAS = "_tks_lava_dataclass_field"


class _MutableDefaultToFactory(ast.NodeTransformer):
    """Rewrite ``name: T = Cls()`` in dataclass bodies to ``field(default_factory=Cls)``.

    Only zero-argument calls of classes that the same module decorates with ``@dataclass``
    are rewritten: those are exactly the defaults Python 3.11 rejects.
    """

    def __init__(self, dataclass_names: set[str]) -> None:
        self.dataclass_names = dataclass_names
        self.rewrites = 0

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.ClassDef:
        for stmt in node.body:
            value = stmt.value if isinstance(stmt, ast.AnnAssign) else None
            if (
                isinstance(value, ast.Call)
                and isinstance(value.func, ast.Name)
                and value.func.id in self.dataclass_names
                and not value.args
                and not value.keywords
            ):
                stmt.value = ast.Call(
                    func=ast.Name(id=_FIELD_ALIAS, ctx=ast.Load()),
                    args=[],
                    keywords=[ast.keyword(arg="default_factory", value=value.func)],
                )
                self.rewrites += 1
        return node


def _dataclass_names(tree: ast.Module) -> set[str]:
    def is_dataclass_decorator(dec: ast.expr) -> bool:
        target = dec.func if isinstance(dec, ast.Call) else dec
        return (isinstance(target, ast.Name) and target.id == "dataclass") or (
            isinstance(target, ast.Attribute) and target.attr == "dataclass"
        )

    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.ClassDef) and any(map(is_dataclass_decorator, node.decorator_list))
    }


def patch_source(source: str | bytes, filename: str = "<var_model>") -> tuple[CodeType, int]:
    """Compile ``source`` with mutable dataclass defaults turned into factories.

    Returns the code object and the number of fields rewritten.
    """
    tree = ast.parse(source, filename)
    transformer = _MutableDefaultToFactory(_dataclass_names(tree))
    tree = transformer.visit(tree)
    # Import ``field`` under a private alias after any ``from __future__`` imports.
    insert_at = next(
        (
            i
            for i, stmt in enumerate(tree.body)
            if not (isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__")
            and not (i == 0 and isinstance(stmt, ast.Expr))  # module docstring
        ),
        len(tree.body),
    )
    tree.body.insert(
        insert_at,
        ast.ImportFrom(
            module="dataclasses", names=[ast.alias(name="field", asname=_FIELD_ALIAS)], level=0
        ),
    )
    ast.fix_missing_locations(tree)
    return compile(tree, filename, "exec", dont_inherit=True), transformer.rewrites


class _PatchedSourceLoader(importlib.machinery.SourceFileLoader):
    """Source loader that compiles the target through :func:`patch_source`, bypassing .pyc."""

    def get_code(self, fullname: str) -> CodeType:
        code, _ = patch_source(self.get_data(self.path), self.path)
        return code


class _VarModelFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):  # noqa: ANN001 - importlib protocol
        if fullname != TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return spec
        spec.loader = _PatchedSourceLoader(fullname, spec.origin)
        return spec


def needed() -> bool:
    """True where the Lava fix applies (Python >= 3.11)."""
    return sys.version_info >= (3, 11)


def install() -> bool:
    """Register the import hook once; returns whether it is active."""
    if not needed():
        return False
    if any(isinstance(f, _VarModelFinder) for f in sys.meta_path):
        return True
    if TARGET in sys.modules:  # already imported (then it imported fine): nothing to do
        return False
    sys.meta_path.insert(0, _VarModelFinder())
    return True
