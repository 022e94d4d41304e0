"""The data package's imports form no circle even counting lazy imports (inside functions).

``tests/test_layout.py`` checks import-time circles in the whole package; a lazy import closes a
circle as soon as it runs, and the data layer once had one (``ndigits`` -> its generator ->
``ndigits`` for the parameters). Same import resolution as there, lazy edges included.
"""

from __future__ import annotations

from tests.test_layout import Import, circles, imports, module_files, module_of

PACKAGE = "tks_lava.data"


def data_edges(with_lazy: bool) -> dict[str, dict[str, Import]]:
    """Imports between modules of ``tks_lava.data``: module -> imported module -> import."""
    modules = module_files()
    inside = {name for name in modules if name == PACKAGE or name.startswith(PACKAGE + ".")}
    edges: dict[str, dict[str, Import]] = {name: {} for name in inside}
    for imp in imports(modules):
        source = module_of(imp.path, modules)
        if source in inside and imp.target in inside and (with_lazy or not imp.lazy):
            edges[source].setdefault(imp.target, imp)
    return edges


def test_no_import_circles_in_the_data_package_lazy_imports_included():
    edges = data_edges(with_lazy=True)
    lazy_only = {s: set(t) for s, t in edges.items()}
    for source, targets in data_edges(with_lazy=False).items():
        for target in targets:
            lazy_only[source].discard(target)
    assert any(lazy_only.values()), "expected lazy imports inside tks_lava.data (torch, scipy)"
    found = circles(edges)
    assert not found, "import circles in tks_lava.data:\n" + "\n".join(
        "  " + ", ".join(c) for c in found
    )


def test_the_ndigits_parameters_are_a_leaf():
    """The spec and the generator both import the parameters; the parameters import neither."""
    edges = data_edges(with_lazy=True)
    params = f"{PACKAGE}.ndigits_params"
    assert set(edges[params]) <= {f"{PACKAGE}.paths"}
    assert params in edges[f"{PACKAGE}.ndigits"] and params in edges[f"{PACKAGE}.ndigits_generator"]
    assert f"{PACKAGE}.ndigits" not in edges[f"{PACKAGE}.ndigits_generator"]
