"""The report's text from the store: escaped where the page renders markup, and the notes ``neuroxr
info`` gives of the layers it draws."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from neuroxr.cli import main  # noqa: E402
from neuroxr.layouts import features, neural  # noqa: E402
from neuroxr.report import write_report  # noqa: E402
from neuroxr.store import StudyStore  # noqa: E402

IDS = [f"s{i:02d}" for i in range(24)]


def _store(path) -> StudyStore:
    rng = np.random.default_rng(0)
    store = StudyStore(path)
    store.write_neural("mk", neural(rng.normal(size=(24, 5, 3)), IDS))
    store.write_features("net", "l1", features(rng.normal(size=(24, 8)), IDS, model="net", layer="l1"))
    return store


def test_text_from_the_store_is_escaped_in_the_html_and_markdown_pages(tmp_path):
    """autoescape was keyed on the extension "html" while the template is report.html.j2, so nothing
    was escaped: a store path holding <b> made the rest of the page bold."""
    store = _store(tmp_path / 'x<b>&"q.zarr')
    page = write_report(store, tmp_path / "html", reliability=False, n_boot=10).read_text()
    assert 'x<b>&"q.zarr' not in page and "x&lt;b&gt;&amp;&#34;q.zarr" in page
    assert "<h1>neuroxr report: " in page  # the template's own markup stays markup
    md = write_report(store, tmp_path / "md", "md", reliability=False, n_boot=10).read_text()
    assert "<b>" not in md and "x&lt;b>&amp;" in md


def test_a_relative_layer_whose_source_was_rewritten_is_noted_in_the_report(tmp_path):
    """neuroxr info and validate said so, the report drew its entries without a word."""
    store = _store(tmp_path / "s.zarr")
    anchors = tmp_path / "anchors.txt"
    anchors.write_text("\n".join(IDS[:6]) + "\n")
    out = CliRunner().invoke(main, ["relative", store.url, "net.l1", "--anchors", str(anchors)])
    assert out.exit_code == 0, out.output
    page = write_report(store, tmp_path / "before", "md", reliability=False, n_boot=10).read_text()
    assert "source layer" not in page
    rng = np.random.default_rng(9)
    store.write_features("net", "l1", features(rng.normal(size=(24, 8)), IDS, model="net", layer="l1"))
    page = write_report(StudyStore(store.url, mode="r"), tmp_path / "after", "md", reliability=False, n_boot=10).read_text()
    assert "features/net/l1_relative: its source layer net.l1 was rewritten after it was computed" in page
