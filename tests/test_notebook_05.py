"""Notebook 05 without its real data: every section says in one line that it skips, and where the
data are expected (a skipped section printed nothing, so a reader could not tell a skip from a
section with no output)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("matplotlib")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "05_real_data.ipynb"
DATASETS = {"cowley2023_v4": "V4", "kriegeskorte2008_92images": "92-image"}


def _run_cells(monkeypatch, data: Path) -> list[str]:
    """Each code cell's printed text, run in this process with ``$NEUROXR_SHARED_DATA`` at ``data``."""
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.setenv("NEUROXR_SHARED_DATA", str(data))
    monkeypatch.chdir(NOTEBOOK.parent)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    scope: dict = {"__name__": "__notebook__"}
    printed = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(cell.source, str(NOTEBOOK), "exec"), scope)
        printed.append(out.getvalue())
    return printed


def test_each_section_says_it_skips_and_where_its_data_are_expected(tmp_path, monkeypatch):
    printed = _run_cells(monkeypatch, tmp_path)  # $NEUROXR_SHARED_DATA: a folder without the datasets
    assert "V4 data: None" in printed[0] and "92-image data: None" in printed[0]
    sections = printed[1:]
    assert len(sections) == 4
    for text, folder in zip(sections, ["cowley2023_v4"] * 3 + ["kriegeskorte2008_92images"]):
        lines = text.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("skipped"), f"a section printed {text!r}; a skip says so in one line"
        assert f"{DATASETS[folder]} data" in lines[0] and str(tmp_path / folder) in lines[0], lines[0]
