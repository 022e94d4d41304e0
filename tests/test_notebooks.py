"""Every walkthrough in notebooks/ runs top to bottom in a fresh kernel (QUICK settings)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
SHIPPED = Path(__file__).resolve().parents[1] / "netx_models"


def test_notebooks_are_committed_without_outputs():
    assert [p.name for p in NOTEBOOKS] == [
        "01_train_tks_vs_baseline.ipynb",
        "02_lava_early_exit.ipynb",
        "03_your_own_data.ipynb",
    ]
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), path.name


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path, monkeypatch, no_leftover_children):
    if path.stem != "03_your_own_data" and not (SHIPPED / "ndigits_tks.net").is_file():
        pytest.fail("netx_models/ndigits_tks.* missing: the notebooks use the shipped models")
    monkeypatch.setenv("TKS_LAVA_QUICK", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's default (inline) backend
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()  # raises CellExecutionError on any failing cell
    pngs = sorted(p.name for p in (tmp_path / "figures").glob("*.png"))
    if path.stem != "03_your_own_data":
        assert pngs, "the notebook saved no figure"
    shown = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if "image/png" in out.get("data", {})
    ]
    # every figure the notebook saves is also displayed in the notebook itself
    assert len(shown) >= len(pngs), f"{len(pngs)} figures saved ({pngs}), {len(shown)} shown"
