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


def test_ev_without_a_noise_ceiling_is_labelled_r2_not_noise_corrected(tmp_path):
    """A trial-averaged set has no split-half ceiling, so its entries' EV is r² × 100 (their note says
    so), yet the page defined every EV as noise-corrected and the figures' axes said "explained
    variance (%)" for both kinds, side by side with corrected EVs of a repeated set."""
    import warnings

    import xarray as xr

    import neuroxr as nx
    from neuroxr.plot import forward_vs_reverse, layer_profile
    from neuroxr.report.figures import headline_figures, layer_figures
    from neuroxr.report.headline import headline, target_table
    from neuroxr.report.table import score_table

    rng = np.random.default_rng(1)
    store = StudyStore(tmp_path / "s.zarr")
    latent = rng.normal(size=(24, 3))
    resp = (latent @ rng.normal(size=(3, 6)))[:, :, None] + rng.normal(size=(24, 6, 4))
    store.write_neural("rep", neural(resp, IDS))
    store.write_neural("avg", neural(resp.mean(axis=2, keepdims=True), IDS))
    for layer in ("l1", "l2"):
        store.write_features("net", layer, features(latent @ rng.normal(size=(3, 7)) + rng.normal(size=(24, 7)), IDS))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        scored = {(n, layer): nx.score(store, "forward", f"net.{layer}", n, reps=2) for n in ("rep", "avg") for layer in ("l1", "l2")}
        rev = nx.score(store, "reverse", "avg", "net.l1", reps=2)
    assert scored[("avg", "l1")].attrs["noise_ceiling"] == 0 and scored[("rep", "l1")].attrs["noise_ceiling"] == 1
    table, scores = score_table(store)
    figs = {stem: (caption, fig) for caption, stem, fig in layer_figures(table, scores, store)}
    caption, fig = figs["layers_forward_net__avg"]
    assert "r² × 100" in caption and fig.axes[0].get_ylabel().startswith("r² × 100 (%; no noise ceiling)")
    caption, fig = figs["layers_forward_net__rep"]
    assert "r² × 100" not in caption and fig.axes[0].get_ylabel().startswith("explained variance (%)")
    [(caption, _, _)] = headline_figures(headline(target_table(table, scores), n_boot=10))
    assert "EV not noise-corrected (r² × 100): forward net avg" in caption and "net rep" not in caption.split("(r² × 100)")[1]
    # the plots themselves, given the entries
    mixed = forward_vs_reverse({"a": scored[("avg", "l1")], "b": scored[("rep", "l1")]}, {"a": rev, "b": rev})
    assert mixed.axes[1].get_xlabel() == "forward median EV (%; r² × 100 where no ceiling)"
    assert mixed.axes[1].get_ylabel() == "reverse median r² × 100 (%; no noise ceiling)"
    stacked = xr.concat([scored[("rep", layer)] for layer in ("l1", "l2")], dim=xr.Variable("layer", ["l1", "l2"]))
    assert layer_profile(stacked).axes[0].get_ylabel().startswith("explained variance (%)")
    page = write_report(store, tmp_path / "page", "md", reliability=False, n_boot=10).read_text()
    assert "an entry without a noise ceiling (a trial-averaged target" in page


def test_a_headline_without_rows_says_why_not_that_the_store_has_no_score(tmp_path):
    """A store whose forward and reverse entries are all time-resolved, or all stale, has no best layer,
    yet the page said "No forward or reverse score entry" above a score table listing them."""
    import warnings

    import neuroxr as nx

    rng = np.random.default_rng(2)
    store = _store(tmp_path / "s.zarr")
    store.write_neural("tb", neural(rng.normal(size=(24, 4, 3, 2)), IDS, time_bins=[(0, 50), (50, 100)]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        nx.score(store, "forward", "net.l1", "tb", reps=2)
        nx.score(store, "reverse", "tb", "net.l1", reps=2)
    page = write_report(store, tmp_path / "html", "html", reliability=False, n_boot=10).read_text()
    assert "No forward or reverse score entry" not in page
    assert "2 forward and reverse score entries none is one: 2 time-resolved (drawn in the scores over time)" in page
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        nx.score(store, "forward", "net.l1", "mk", reps=2)
    store.write_neural("mk", store.read_neural("mk").load() * 2.0)  # its entry is stale now
    page = write_report(store, tmp_path / "stale", "md", reliability=False, n_boot=10).read_text()
    assert "3 forward and reverse score entries none is one: 2 time-resolved" in page
    assert "; 1 stale." in page and "No forward or reverse score entry" not in page
    empty = _store(tmp_path / "e.zarr")
    assert "No forward or reverse score entry: no best layer." in write_report(empty, tmp_path / "e", "md",
                                                                               reliability=False).read_text()
