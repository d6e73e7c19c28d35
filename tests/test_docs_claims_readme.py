"""Claims of README.md, docs/index.md and docs/design.md that a user relies on, checked against the code.

The score definitions are computed from scratch here (scikit-learn's Ridge, SciPy's correlations, the
folds and split halves as the README describes them), never from pasted numbers.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.stats as ss

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
INDEX = ROOT / "docs" / "index.md"
DESIGN = ROOT / "docs" / "design.md"


def _section(text: str, start: str, end: str) -> str:
    return text[text.index(start) : text.index(end, text.index(start))]


# --- "How each score is defined": the table, from scratch


def _folds(n, k=10):
    """``inds = arange(n)`` shuffled by ``RandomState(0)``, ``array_split(inds, 10)``."""
    inds = np.arange(n)
    np.random.RandomState(0).shuffle(inds)
    return np.array_split(inds, k)


def _oof(D, Y):
    """Out-of-fold predictions of ``Ridge(alpha=0.1)`` with an intercept."""
    from sklearn.linear_model import Ridge

    P = np.full(Y.shape, np.nan)
    for test in _folds(len(D)):
        train = np.setdiff1d(np.arange(len(D)), test)
        P[test] = Ridge(alpha=0.1).fit(D[train], Y[train]).predict(D[test])
    return P


def _halves(R, rng):
    """Split-half means over a random permutation of the repeats: first ``ceil(T/2)`` vs the rest."""
    order = rng.permutation(R.shape[2])
    first, second = np.array_split(order, 2)
    return R[:, :, first].mean(2), R[:, :, second].mean(2)


def _per_column(f, X, Y):
    return np.array([f(X[:, i], Y[:, i])[0] for i in range(X.shape[1])])


def _sb(r):
    return 2 * r / (1 + r)


@pytest.fixture(scope="module")
def defined():
    """Features, two animals sharing them, and a second model; stimulus ids in sorted order."""
    rng = np.random.default_rng(3)
    n, p, T = 50, 12, 4
    F = rng.normal(size=(n, p))
    RB = (F @ rng.normal(size=(p, 5)))[:, :, None] + 2 * rng.normal(size=(n, 5, T))
    RA = (F @ rng.normal(size=(p, 6)))[:, :, None] + 2 * rng.normal(size=(n, 6, T))
    FB = F @ rng.normal(size=(p, 7)) + rng.normal(size=(n, 7))
    return [f"s{i:02d}" for i in range(n)], F, RA, RB, FB


def _rows(x, ids, perm, kind):
    import neuroxr as nx

    build = nx.features if kind == "features" else nx.neural
    return build(x[perm], [ids[i] for i in perm])


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("permuted", [False, True])
def test_the_readme_score_table_from_scratch(defined, permuted):
    """Each direction's EV per target (reps=1, seed 0) is the README's formula on its folds and halves;
    permuting the rows of the inputs changes no number."""
    import neuroxr as nx

    ids, F, RA, RB, FB = defined
    n = len(ids)
    perm = np.random.default_rng(1).permutation(n) if permuted else np.arange(n)
    fx, fb = _rows(F, ids, perm, "features"), _rows(FB, ids, perm, "features")
    ra, rb = _rows(RA, ids, perm, "neural"), _rows(RB, ids, perm, "neural")
    mean_b = RB.mean(2)

    rng = np.random.default_rng(0)  # forward: the target split for P1/P2, then the reliability split
    h1, h2 = _halves(RB, rng)
    g1, g2 = _halves(RB, rng)
    ceiling = _sb(_per_column(ss.spearmanr, g1, g2)) * _sb(_per_column(ss.pearsonr, _oof(F, h1), _oof(F, h2)))
    want = (_per_column(ss.pearsonr, mean_b, _oof(F, mean_b)) / np.sqrt(ceiling)) ** 2 * 100
    np.testing.assert_allclose(nx.forward(fx, rb, reps=1, seed=0).ev.isel(rep=0).values, want, rtol=1e-10)

    rng = np.random.default_rng(0)  # reverse: one split of the predictor neuroids' repeats
    h1, h2 = _halves(RB, rng)
    ceiling = _sb(_per_column(ss.pearsonr, _oof(h1, F), _oof(h2, F)))
    want = (_per_column(ss.pearsonr, F, _oof(mean_b, F)) / np.sqrt(ceiling)) ** 2 * 100
    np.testing.assert_allclose(nx.reverse(rb, fx, reps=1, seed=0).ev.isel(rep=0).values, want, rtol=1e-10)

    rng = np.random.default_rng(0)  # inter-animal A -> B: B's reliability split, then A's split
    b1, b2 = _halves(RB, rng)
    a1, a2 = _halves(RA, rng)
    ceiling = _sb(_per_column(ss.spearmanr, b1, b2)) * _sb(_per_column(ss.pearsonr, _oof(a1, mean_b), _oof(a2, mean_b)))
    want = (_per_column(ss.pearsonr, mean_b, _oof(RA.mean(2), mean_b)) / np.sqrt(ceiling)) ** 2 * 100
    np.testing.assert_allclose(nx.inter_animal(ra, rb, reps=1, seed=0).ev.isel(rep=0).values, want, rtol=1e-10)

    want = _per_column(ss.pearsonr, FB, _oof(F, FB)) ** 2 * 100  # model -> model: no ceiling
    np.testing.assert_allclose(nx.model_to_model(fx, fb).ev.isel(rep=0).values, want, rtol=1e-10)

    want = _per_column(ss.pearsonr, mean_b, _oof(F, mean_b)) ** 2 * 100  # noise_ceiling=False: r^2 * 100
    np.testing.assert_allclose(nx.forward(fx, rb, reps=1, noise_ceiling=False).ev.isel(rep=0).values, want, rtol=1e-10)


def test_trial_averaged_data_score_r2_without_a_ceiling_and_say_so(defined):
    import neuroxr as nx

    ids, F, _, RB, _ = defined
    out = nx.forward(nx.features(F, ids), nx.neural(RB.mean(2)[:, :, None], ids), reps=1)
    assert out.attrs["noise_ceiling"] == 0
    want = _per_column(ss.pearsonr, RB.mean(2), _oof(F, RB.mean(2))) ** 2 * 100
    np.testing.assert_allclose(out.ev.isel(rep=0).values, want, rtol=1e-10)


def test_unreliable_targets_warn_with_the_count_keep_their_reliabilities_and_are_excluded():
    """'EV can exceed 100 %: neuroxr warns with the count, keeps target_shc, prediction_shc, ceiling,
    and min_reliability= marks unreliable targets included=False'."""
    import neuroxr as nx

    rng = np.random.default_rng(0)
    ids = [f"s{i:02d}" for i in range(60)]
    with pytest.warns(nx.NeuroxrWarning, match=r"\d+ neuroids have a ceiling-corrected EV above 100 %"):
        out = nx.forward(nx.features(rng.normal(size=(60, 30)), ids), nx.neural(rng.normal(size=(60, 8, 4)), ids),
                         reps=3, min_reliability=0.3)
    assert {"target_shc", "prediction_shc", "ceiling", "included"} <= set(out.data_vars)
    assert not out.included.any()


def test_an_option_that_would_change_nothing_is_refused():
    import neuroxr as nx

    rng = np.random.default_rng(0)
    ids = [f"s{i:02d}" for i in range(30)]
    F, R = nx.features(rng.normal(size=(30, 6)), ids), nx.neural(rng.normal(size=(30, 3, 4)), ids)
    for options in (dict(regressor="linear", alpha=1.0), dict(regressor="pls", alpha=1.0), dict(alphas=(1.0, 2.0)),
                    dict(n_components=3), dict(regressor="lasso", dtype="float32"),
                    dict(noise_ceiling=False, split="slots"), dict(noise_ceiling=False, seed=1),
                    dict(noise_ceiling=False, min_reliability=0.1)):
        with pytest.raises(nx.ParameterError, match="has no effect"):
            nx.forward(F, R, reps=1, **options)


def test_ids_default_to_positions():
    import neuroxr as nx

    assert list(nx.neural(np.zeros((3, 2, 2))).stimulus_id.values) == ["stimulus0", "stimulus1", "stimulus2"]
    assert list(nx.features(np.zeros((2, 2))).stimulus_id.values) == ["stimulus0", "stimulus1"]


def test_geometry_definitions_from_scratch():
    """Effective dimensionality ``(sum l)^2 / sum l^2`` of the covariance eigenvalues; linear CKA
    (Kornblith et al. 2019); an RDM is stimulus x stimulus_; compare_rdms gives a 0-d DataArray with attrs."""
    import neuroxr as nx

    rng = np.random.default_rng(2)
    ids = [f"s{i:02d}" for i in range(25)]
    X, Y = rng.normal(size=(25, 7)) @ rng.normal(size=(7, 9)), rng.normal(size=(25, 4))
    lam = np.linalg.eigvalsh(np.cov(X, rowvar=False))
    assert float(nx.effective_dimensionality(nx.features(X, ids))) == pytest.approx(lam.sum() ** 2 / (lam**2).sum(), rel=1e-8)
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    cka = np.linalg.norm(Yc.T @ Xc) ** 2 / (np.linalg.norm(Xc.T @ Xc) * np.linalg.norm(Yc.T @ Yc))
    assert float(nx.cka(nx.features(X, ids), nx.features(Y, ids))) == pytest.approx(cka, rel=1e-8)
    a, b = nx.rdm(nx.features(X, ids)), nx.rdm(nx.features(Y, ids))
    assert a.dims == ("stimulus", "stimulus_")
    c = nx.compare_rdms(a, b, method="spearman")
    iu = np.triu_indices(25, 1)
    assert c.ndim == 0 and c.attrs["method"] == "spearman"
    assert float(c) == pytest.approx(ss.spearmanr(a.values[iu], b.values[iu])[0], rel=1e-10)


# --- the quick start's comments and the study store layout


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    import neuroxr as nx

    rng = np.random.default_rng(0)
    ids = [f"img{i:03d}" for i in range(40)]
    shared = rng.normal(size=(40, 4))
    store = nx.open_store(tmp_path_factory.mktemp("readme") / "study.zarr")
    store.write_features("net", "conv3", nx.features(shared @ rng.normal(size=(4, 20)) + rng.normal(size=(40, 20)), ids))
    resp = (shared @ rng.normal(size=(4, 6)))[:, :, None] + rng.normal(size=(40, 6, 4))
    store.write_neural("monkeyA", nx.neural(resp, ids, region=["IT"] * 6))
    return store


def test_entries_lie_where_the_readme_says_and_metric_value_reads_every_listed_kind(study):
    import neuroxr as nx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fwd = nx.compute(study, "forward", "net.conv3", "monkeyA.IT", params={"reps": 2})
        assert re.fullmatch(r"scores/forward/net\.conv3__monkeyA\.IT/[0-9a-f]+", fwd.path)
        for kind in ("cka", "crsa", "ersa", "ereg", "shape"):
            res = nx.compute(study, kind, "net.conv3", "monkeyA")
            assert re.fullmatch(rf"metrics/{kind}/net\.conv3__monkeyA/[0-9a-f]+", res.path)
            ds = nx.score(study, kind, "net.conv3", "monkeyA")
            assert "score" in ds and ds.attrs["metric"] == kind and ds.attrs["target"] == "monkeyA"
            assert np.isfinite(nx.metric_value(ds))
        dim = nx.compute(study, "dimensionality", "net.conv3")
        assert re.fullmatch(r"metrics/dimensionality/net\.conv3/[0-9a-f]+", dim.path)
        assert np.isfinite(nx.metric_value(nx.score(study, "dimensionality", "net.conv3")))
    listed = nx.list_entries(study)
    assert {"kind", "source", "target", "reps"} <= set(listed.columns)
    assert any(re.fullmatch(r"cache/gram/net/conv3/[0-9a-f]+", p) for p in listed.path)


def test_reading_and_scoring_never_create_a_store_at_a_mistyped_path(tmp_path, runner):
    import neuroxr as nx
    from neuroxr.cli import main

    typo = tmp_path / "stduy.zarr"
    for call in (lambda: nx.score(typo, "cka", "net.conv3", "monkeyA"), lambda: nx.list_entries(typo),
                 lambda: nx.sweep(typo, client="serial", progress=False)):
        with pytest.raises(nx.StoreError):
            call()
    assert runner.invoke(main, ["info", str(typo)]).exit_code != 0
    assert not typo.exists()


def test_names_that_would_coincide_are_refused(tmp_path):
    import neuroxr as nx

    store = nx.open_store(tmp_path / "s.zarr")
    store.write_features("a", "b.c", nx.features(np.eye(3)))
    with pytest.raises(nx.StoreError, match="a.b.c"):
        store.write_features("a.b", "c", nx.features(np.eye(3)))


def test_a_summary_counts_only_included_targets(study, runner):
    import neuroxr as nx
    from neuroxr.cli import main

    res = runner.invoke(main, ["score", "forward", study.url, "net.conv3", "monkeyA.IT", "--reps", "2",
                               "--min-reliability", "0.9", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    ds = nx.score(study, "forward", "net.conv3", "monkeyA.IT", reps=2, min_reliability=0.9, require_existing=True)
    assert 0 < out["n_targets"] == int(ds.included.sum()) < out["n_all"] == 6
    assert out["median_ev"] == pytest.approx(float(ds.ev.mean("rep").where(ds.included).median()))


# --- the command line as the README shows it


def _cli_lines():
    block = _section(README.read_text(), "## Command line", "An option left out")
    lines, current = [], None
    for raw in block.splitlines():
        code = raw.split("  #")[0].split(" # ")[0]
        if code.strip().startswith("neuroxr "):
            current = [code.strip()]
            lines.append(current)
        elif current is not None and code.strip() and not code.strip().startswith("#"):
            current.append(code.strip())
    return [" ".join(x) for x in lines]


def _command(words):
    import click

    from neuroxr.cli import main

    ctx = click.Context(main)
    cmd = main.get_command(ctx, words[0])
    assert cmd is not None, f"README shows 'neuroxr {words[0]}', which is no command"
    if isinstance(cmd, click.Group):
        sub = cmd.get_command(ctx, words[1])
        assert sub is not None, f"README shows 'neuroxr {words[0]} {words[1]}', which is no command"
        return sub
    return cmd


def _options(cmd):
    import click

    return {o for p in cmd.params if isinstance(p, click.Option) for o in (*p.opts, *p.secondary_opts)}


def test_every_command_line_the_readme_shows_exists_with_its_options():
    lines = _cli_lines()
    assert len(lines) >= 17
    for line in lines:
        cmd = _command(line.split()[1:3])
        shown = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", line))
        assert shown <= _options(cmd), f"{line!r}: {sorted(shown - _options(cmd))} are no options of that command"


def test_the_option_families_the_readme_names():
    import click

    from neuroxr.cli import main

    ctx = click.Context(main)
    score = main.get_command(ctx, "score")
    for name in main.list_commands(ctx):
        cmd = main.get_command(ctx, name)
        leaves = [score.get_command(ctx, s) for s in score.list_commands(ctx)] if isinstance(cmd, click.Group) else [cmd]
        for leaf in leaves:
            opts = _options(leaf)
            assert {"--json", "--quiet"} <= opts, leaf.name  # every command takes --json and --quiet
            if name != "demo":  # every command that opens a store takes the storage options
                assert {"--storage-option", "-S", "--storage-profile"} <= opts, leaf.name
            if isinstance(cmd, click.Group):
                assert "--require-existing" in opts, leaf.name
    for sub in ("forward", "reverse", "inter-animal", "model-to-model", "rsa", "shape", "cka"):
        assert {"--bootstrap", "--permutations", "--level"} <= _options(score.get_command(ctx, sub)), sub

    def choices(sub, option):
        return next(tuple(p.type.choices) for p in score.get_command(ctx, sub).params if option in p.opts)

    for sub in ("forward", "reverse", "inter-animal", "model-to-model"):
        assert set(choices(sub, "--boot-method")) == {"percentile", "bca"}
        assert set(choices(sub, "--boot-over")) == {"stimuli", "targets", "both"}
    for sub in ("shape", "cka"):
        assert set(choices(sub, "--boot-method")) == {"centred", "percentile", "basic"}


# --- references to files, benchmarks and the docs' code


def test_the_files_the_readme_and_the_index_point_to_exist():
    text = README.read_text()
    paths = set(re.findall(r"\]\(((?:docs|benchmarks|schemas)/[^)#]*)\)", text))
    paths |= set(re.findall(r"`(?:python\s+)?((?:benchmarks|docs)/[\w./]+\.(?:py|md))`", text))
    assert "benchmarks/directions.py" in paths and "docs/design.md" in paths
    for name in re.findall(r"`(0\d_[a-z_]+)`", text):
        paths.add(f"notebooks/{name}.ipynb")
    assert len([p for p in paths if p.startswith("notebooks/")]) == 8
    index = INDEX.read_text()
    table = index[: index.index("## The public API")]
    for cell in re.findall(r"`((?:neuroxr/)?[\w/]+(?:\.py|/))`", table):
        path = cell if cell.startswith(("neuroxr/", "schemas/")) else f"neuroxr/{cell}"
        paths.add(path)
    for link in re.findall(r"\]\(([\w.]+\.md)\)", index):
        paths.add(f"docs/{link}")
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing, f"the README or docs/index.md point to missing files: {missing}"


def test_the_readme_speed_table_is_the_benchmark_results():
    """Each row of 'Why it is fast' (time, reverse_pred's time, speedup, peaks) is a row of benchmarks/RESULTS.md."""
    results = (ROOT / "benchmarks" / "RESULTS.md").read_text()
    table = _section(README.read_text(), "| direction | neuroxr (s)", "Each direction runs its BLAS")
    rows = [r for r in table.splitlines() if r.startswith(("| forward", "| reverse", "| inter_animal", "| model_to"))]
    assert len(rows) == 4
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert "| " + " | ".join(cells[:6]) + " |" in results, row


def test_the_readme_gpu_sentence_agrees_with_the_benchmark_results():
    results = (ROOT / "benchmarks" / "RESULTS.md").read_text()
    scale_out = _section(README.read_text(), "## Scale-out", "## Plots and reports")
    if "## GPU (" in results:
        assert "not yet been measured on a GPU" not in scale_out
        assert "GPU (NVIDIA H200)" in scale_out and "GPU (NVIDIA H200)" in results


def test_the_legacy_layout_is_not_pinned_on_the_version_the_package_reports():
    import neuroxr as nx

    for doc in (README, DESIGN, INDEX):
        assert f"written by {nx.__version__} are" not in doc.read_text(), doc.name


def test_the_docs_use_the_backend_context_manager_in_a_with_statement():
    """``nx.use_backend`` is a context manager: a bare ``nx.use_backend("torch")`` changes nothing."""
    import neuroxr as nx

    before = nx.get_backend()
    nx.use_backend("torch")  # what a bare statement does: nothing
    assert nx.get_backend() == before
    for doc in (README, INDEX, DESIGN):
        for line in doc.read_text().splitlines():
            if "use_backend(" in line and "`use_backend`" not in line:
                assert re.search(r"\bwith\s+(nx\.)?use_backend\(", line), f"{doc.name}: {line.strip()}"


def test_the_error_messages_design_md_quotes_are_the_ones_raised():
    import neuroxr as nx

    text = DESIGN.read_text()
    rng = np.random.default_rng(0)
    F, R = nx.features(rng.normal(size=(8, 3))), nx.neural(rng.normal(size=(8, 2, 2)))
    for quoted, call in ((r"forward: split must be one of ('valid', 'slots'); got 'x'.", lambda: nx.forward(F, R, split="x")),
                         (r"crsa: reps must be an integer >= 1; got 0.", lambda: nx.crsa(F, R, reps=0))):
        assert quoted in text
        with pytest.raises(nx.ParameterError) as err:
            call()
        assert str(err.value).startswith(quoted)


def test_every_dotted_name_the_readme_and_the_index_use_exists():
    """``nx.X``, ``neuroxr.module.X`` and the module paragraph's re-exports resolve to real objects."""
    import importlib

    import neuroxr as nx

    texts = README.read_text() + INDEX.read_text()
    for name in set(re.findall(r"\bnx\.([A-Za-z_]\w*)", texts)):
        assert hasattr(nx, name), f"nx.{name}"
    for dotted in set(re.findall(r"\bneuroxr((?:\.[A-Za-z_]\w*)+)", texts)):
        parts = dotted.strip(".").split(".")
        obj, done = nx, ["neuroxr"]
        for part in parts:
            if hasattr(obj, part):
                obj = getattr(obj, part)
            else:
                obj = importlib.import_module(".".join([*done, part]))
            done.append(part)
    modules = _section(README.read_text(), "Modules: `neuroxr.predictivity`", "Where each concept lives")
    for module, names in re.findall(r"`(neuroxr\.\w+)` \(also ([^)]*)\)", modules):
        mod = importlib.import_module(module)
        for name in re.findall(r"`(\w+)`", names):
            assert hasattr(mod, name), f"{module}.{name}"


def test_the_extras_and_python_version_the_readme_names_are_the_packages():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    setup = _section(README.read_text(), "## Set up", "## Python API in one screen")
    named = set(re.findall(r'"\.\[(\w+)\]"', setup))
    assert {"test", "torch", "gpu", "dashboard", "notebooks", "io", "images"} <= named
    assert named <= set(project["optional-dependencies"])
    version = re.search(r"Python >= (\d+\.\d+)", setup).group(1)
    assert project["requires-python"] == f">={version}"
    assert project["scripts"]["neuroxr"] == "neuroxr.cli:main"
