"""Compatibility fixes for lava-nc 0.10.0, applied at import time, each scoped to one module.

Why: ``lava.magma.compiler.var_model`` declares dataclass fields whose defaults are instances of
another (mutable, hence unhashable) dataclass, e.g. ``x: ByteEncoder = ByteEncoder()``. Python
3.11 rejects such defaults (``ValueError: mutable default ... use default_factory``), so every
``import lava...`` that reaches the compiler fails. Upstream Lava was archived before fixing it.

What: a ``sys.meta_path`` finder that handles exactly ``lava.magma.compiler.var_model``. It loads
the installed source, rewrites each such class-level default ``Cls()`` into
``dataclasses.field(default_factory=Cls)`` on the AST, and compiles it in memory. Nothing in
site-packages is read-modified-written, and no bytecode cache is written for the patched module.
On Python < 3.11 this fix is not installed.

A second, version-independent fix: ``lava.magma.runtime.message_infrastructure.multiprocessing``
calls ``multiprocessing.set_start_method('fork')`` at import, which raises ``RuntimeError:
context has already been set`` whenever anything (tqdm's lock, a DataLoader, a Pool) used
multiprocessing first, even when the method already is 'fork'. While that one module executes,
``set_start_method`` is made a no-op if the requested method is already the current one; any
real conflict (e.g. 'spawn' was chosen) still raises, with the reason.

A third fix, for numpy >= 2.1 (Python 3.13 has no numpy < 2 wheel): ``ReshapePort`` in
``lava.magma.core.process.ports.ports`` builds its transforms as ``ft.partial(np.reshape,
newshape=...)``. numpy 2.1 renamed that keyword to ``shape`` (``newshape`` warns) and numpy 2.4
removed it, so every run through a reshaped port fails in a child process with ``TypeError:
reshape() got an unexpected keyword argument 'newshape'``. When that module is imported with
numpy >= 2.1, ``newshape=`` is rewritten to ``shape=`` in its ``np.reshape`` calls, the same
way (AST, in memory). With numpy < 2.1 the module loads unchanged.

Import noise, silenced at its source and nowhere else (:func:`quiet_known_noise`): lava-dl's
``prophesee_automotive`` module prints a three-line notice to stdout on every ``import
lava.lib.dl.slayer`` (an optional object-detection toolbox this project never uses); torch's
``cpp_extension`` logs "No CUDA runtime is found" when SLAYER imports it on a CPU machine; and
SLAYER's use of ``torch.nn.utils.weight_norm`` raises torch's deprecation FutureWarning on every
model built. Each is matched by its module and message, so any other output still shows.
"""

from __future__ import annotations

import ast
import importlib.abc
import importlib.machinery
import sys
from types import CodeType

TARGET = "lava.magma.compiler.var_model"
PROPHESEE_TARGET = "lava.lib.dl.slayer.object_detection.dataset.prophesee_automotive"
MP_TARGET = "lava.magma.runtime.message_infrastructure.multiprocessing"
PORTS_TARGET = "lava.magma.core.process.ports.ports"
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


class _ReshapeNewshapeToShape(ast.NodeTransformer):
    """Rename the ``newshape=`` keyword to ``shape=`` in ``np.reshape(...)`` and
    ``partial(np.reshape, ...)`` calls (``np`` or ``numpy``)."""

    def __init__(self) -> None:
        self.rewrites = 0

    @staticmethod
    def _is_np_reshape(node: ast.expr) -> bool:
        return (
            isinstance(node, ast.Attribute)
            and node.attr == "reshape"
            and isinstance(node.value, ast.Name)
            and node.value.id in ("np", "numpy")
        )

    @staticmethod
    def _is_partial(node: ast.expr) -> bool:
        return (isinstance(node, ast.Name) and node.id == "partial") or (
            isinstance(node, ast.Attribute) and node.attr == "partial"
        )

    def visit_Call(self, node: ast.Call) -> ast.Call:
        self.generic_visit(node)
        if self._is_np_reshape(node.func) or (
            self._is_partial(node.func) and node.args and self._is_np_reshape(node.args[0])
        ):
            for kw in node.keywords:
                if kw.arg == "newshape":
                    kw.arg = "shape"
                    self.rewrites += 1
        return node


def patch_reshape_source(source: str | bytes, filename: str = "<ports>") -> tuple[CodeType, int]:
    """Compile ``source`` with ``np.reshape(..., newshape=...)`` turned into ``shape=...``.

    Returns the code object and the number of keywords renamed.
    """
    tree = ast.parse(source, filename)
    transformer = _ReshapeNewshapeToShape()
    tree = ast.fix_missing_locations(transformer.visit(tree))
    return compile(tree, filename, "exec", dont_inherit=True), transformer.rewrites


def numpy_renamed_newshape() -> bool:
    """True where ``np.reshape`` takes ``shape=`` (numpy >= 2.1; ``newshape=`` is gone in 2.4)."""
    import numpy as np

    return np.lib.NumpyVersion(np.__version__) >= "2.1.0"


class _PatchedSourceLoader(importlib.machinery.SourceFileLoader):
    """Source loader that compiles the target through :func:`patch_source`, bypassing .pyc."""

    def get_code(self, fullname: str) -> CodeType:
        code, _ = patch_source(self.get_data(self.path), self.path)
        return code


class _ReshapeKeywordLoader(importlib.machinery.SourceFileLoader):
    """Compiles its module through :func:`patch_reshape_source` where numpy needs it."""

    def get_code(self, fullname: str) -> CodeType:
        if not numpy_renamed_newshape():
            return super().get_code(fullname)
        code, _ = patch_reshape_source(self.get_data(self.path), self.path)
        return code


class _IdempotentStartMethodLoader(importlib.machinery.SourceFileLoader):
    """Executes its module with ``multiprocessing.set_start_method`` tolerant of a no-op call."""

    def exec_module(self, module) -> None:  # noqa: ANN001 - importlib protocol
        import multiprocessing as mp

        original = mp.set_start_method

        def set_start_method(method: str, force: bool = False) -> None:
            current = mp.get_start_method(allow_none=True)
            if current == method:
                return
            if current is not None and not force:
                raise RuntimeError(
                    f"Lava needs the multiprocessing start method {method!r}, but {current!r} "
                    "was already chosen in this process; do not set another start method "
                    "before using Lava"
                )
            original(method, force=force)

        mp.set_start_method = set_start_method
        try:
            super().exec_module(module)
        finally:
            mp.set_start_method = original


class _QuietStdoutLoader(importlib.machinery.SourceFileLoader):
    """Executes its module with stdout captured (it only prints a notice at import)."""

    def exec_module(self, module) -> None:  # noqa: ANN001 - importlib protocol
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            super().exec_module(module)


class _DropMessage:
    """A ``logging`` filter dropping the records whose message starts with ``prefix``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def filter(self, record) -> bool:  # noqa: ANN001 - logging protocol
        return not str(record.msg).startswith(self.prefix)


def quiet_known_noise() -> None:
    """Silence the three known import-time messages (see the module docstring), idempotently."""
    import logging
    import warnings

    log = logging.getLogger("torch.utils.cpp_extension")
    if not any(isinstance(f, _DropMessage) for f in log.filters):
        log.addFilter(_DropMessage("No CUDA runtime is found"))
    warnings.filterwarnings(
        "ignore", message=r"`torch\.nn\.utils\.weight_norm` is deprecated", category=FutureWarning
    )


class _VarModelFinder(importlib.abc.MetaPathFinder):
    """Routes the patched Lava modules to their loaders; everything else is left alone."""

    def __init__(self, loaders: dict[str, type[importlib.machinery.SourceFileLoader]]) -> None:
        self.loaders = loaders

    def find_spec(self, fullname, path, target=None):  # noqa: ANN001 - importlib protocol
        loader = self.loaders.get(fullname)
        if loader is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return spec
        spec.loader = loader(fullname, spec.origin)
        return spec


def needed() -> bool:
    """True where the Lava fix applies (Python >= 3.11)."""
    return sys.version_info >= (3, 11)


def install() -> bool:
    """Register the import hook once; returns whether the Python 3.11 fix is active."""
    if any(isinstance(f, _VarModelFinder) for f in sys.meta_path):
        return needed()
    quiet_known_noise()
    loaders: dict[str, type[importlib.machinery.SourceFileLoader]] = {
        MP_TARGET: _IdempotentStartMethodLoader,
        PORTS_TARGET: _ReshapeKeywordLoader,
        PROPHESEE_TARGET: _QuietStdoutLoader,
    }
    if needed() and TARGET not in sys.modules:  # imported already means it imported fine
        loaders[TARGET] = _PatchedSourceLoader
    sys.meta_path.insert(0, _VarModelFinder(loaders))
    return TARGET in loaders
