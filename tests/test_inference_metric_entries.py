"""RSA / CKA / shape inference results as store entries (issue 16): each kind against the
geometry function on the same sets, provenance and read-back, sweeps and the CLI."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from click.testing import CliRunner

import neuroxr as nx
from neuroxr.attrs import decoded
from neuroxr.cli import main
from neuroxr.entries import compute
from neuroxr.entries.kinds import INFERENCE_KINDS, KINDS, METRIC_INFERENCE_KINDS
from neuroxr.geometry import inference as gi
from neuroxr.schemas import validate_store


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        yield


def _sets(path, source="netA.layer3", target="animalA"):
    store = nx.open_store(path, mode="r")
    return nx.read_set(store, nx.resolve(store, source)), nx.read_set(store, nx.resolve(store, target))


def test_metric_inference_kinds_are_registered():
    for kind in ("crsa_bootstrap", "crsa_permutation", "ersa_bootstrap", "cka_bootstrap", "cka_permutation",
                 "shape_bootstrap", "shape_permutation"):
        assert kind in METRIC_INFERENCE_KINDS and kind in INFERENCE_KINDS and KINDS[kind].stage == "inference"
    assert KINDS["shape_bootstrap"].defaults["n_boot"] == 1000 and "n_perm" in KINDS["cka_permutation"].defaults


def test_metric_bootstrap_entries_equal_the_geometry_functions(sweep_copy):
    path = sweep_copy()
    F, R = _sets(path)
    crsa = compute(path, "crsa_bootstrap", "netA.layer3", "animalA", params=dict(n_boot=25, compare_method="corr"))
    assert crsa.computed and crsa.path.startswith("inference/crsa_bootstrap/netA.layer3__animalA/")
    ref = gi.crsa_bootstrap(F, R, compare_method="corr", n_boot=25, noise_ceiling=False)
    np.testing.assert_allclose(crsa.dataset["score_boot"], ref["score_boot"])
    assert float(crsa.dataset["score"]) == pytest.approx(float(ref["score"]))
    again = compute(path, "crsa_bootstrap", "netA.layer3", "animalA", params=dict(n_boot=25, compare_method="corr"))
    assert not again.computed and again.path == crsa.path  # resumable: read back
    shape = compute(path, "shape_bootstrap", "netA.layer3", "animalA", params=dict(n_boot=10, alpha=0.5)).dataset
    ref = gi.shape_bootstrap(F, R, alpha=0.5, n_boot=10)
    np.testing.assert_allclose(shape["score_boot"], ref["distance_boot"])
    assert shape.attrs["lower_is_better"] == 1 and shape.attrs["metric"] == "shape"
    cka = compute(path, "cka_bootstrap", "netA.layer3", "animalA", params=dict(n_boot=10)).dataset
    np.testing.assert_allclose(cka["score_boot"], gi.cka_bootstrap(F, nx.entries.metrics.averaged_as_features(R),
                                                                   n_boot=10)["cka_boot"])
    ersa = compute(path, "ersa_bootstrap", "netA.layer3", "animalA", params=dict(n_boot=10)).dataset
    lo, hi = ersa["score_ci"].values
    assert lo <= hi and ersa.pipe(decoded).attrs["neuroxr_provenance"]["params"]["n_boot"] == 10


def test_shape_bootstrap_entry_takes_the_interval_method(sweep_copy):
    """The entry's interval is shape_bootstrap's (default centred on the estimate, with score_bias), at
    the kind's revision 9 (a stop centred it, the next one made an undefined resample's interval NaN, a
    later one decided constancy per unit, ..., one scaled networks far from 1 by a power of two, one
    left resamples of too few distinct stimuli undefined, one whitened by the SVD, the last scores a
    resample on which a representation is constant as a zero one);
    method='percentile' or 'basic' are other entries, 'bca' is refused."""
    path = sweep_copy()
    F, R = _sets(path)
    assert KINDS["shape_bootstrap"].defaults["method"] == "centred" and KINDS["shape_bootstrap"].revision == 9
    assert "method" not in KINDS["shape_permutation"].defaults
    res = compute(path, "shape_bootstrap", "netA.layer3", "animalA", params=dict(n_boot=10))
    ds = res.dataset
    boot, d = ds["score_boot"].values, float(ds["score"])
    assert float(ds["score_bias"]) == pytest.approx(boot.mean() - d)
    np.testing.assert_allclose(ds["score_ci"], d + np.quantile(boot - boot.mean(), [0.025, 0.975]))
    assert ds.attrs["method"] == "centred" and ds.pipe(decoded).attrs["neuroxr_provenance"]["revision"] == 9
    for method in ("percentile", "basic"):
        other = compute(path, "shape_bootstrap", "netA.layer3", "animalA", params=dict(n_boot=10, method=method))
        assert other.computed and other.path != res.path
        np.testing.assert_allclose(other.dataset["score_ci"], gi.shape_bootstrap(F, R, n_boot=10, method=method)["distance_ci"])
    with pytest.raises(ValueError, match="method='bca' is not offered"):
        compute(path, "shape_bootstrap", "netA.layer3", "animalA", params=dict(n_boot=10, method="bca"))


def test_cka_inference_entries_take_the_interval_method_and_debiased(sweep_copy):
    """cka_bootstrap's interval is centred on the estimate by default (with score_bias), at the kind's
    revision 9 (entries of the percentile interval, of the gathered resamples and before the U-centred debiased sums, or of resamples of 2 distinct stimuli scored, are not reused); method and debiased (the cka
    metric's own option, also of cka_permutation) reach the result, each its own entry."""
    from neuroxr.entries.metrics import averaged_as_features, inference_params_of

    path = sweep_copy()
    F, R = _sets(path)
    Ra = averaged_as_features(R)
    assert KINDS["cka_bootstrap"].defaults["method"] == "centred" and KINDS["cka_bootstrap"].revision == 9
    assert KINDS["cka_bootstrap"].defaults["debiased"] is False and KINDS["cka_permutation"].defaults["debiased"] is False
    assert "method" not in KINDS["cka_permutation"].defaults
    res = compute(path, "cka_bootstrap", "netA.layer3", "animalA", params=dict(n_boot=10))
    ds = res.dataset
    boot, c = ds["score_boot"].values, float(ds["score"])
    assert float(ds["score_bias"]) == pytest.approx(boot.mean() - c)
    np.testing.assert_allclose(ds["score_ci"], c + np.quantile(boot - boot.mean(), [0.025, 0.975]))
    prov = ds.pipe(decoded).attrs["neuroxr_provenance"]
    assert ds.attrs["method"] == "centred" and prov["revision"] == 9 and prov["params"]["debiased"] is False
    paths = {res.path}
    for params in (dict(method="percentile"), dict(method="basic"), dict(debiased=True), dict(debiased=True, method="basic")):
        other = compute(path, "cka_bootstrap", "netA.layer3", "animalA", params=dict(n_boot=10, **params))
        assert other.computed and other.path not in paths
        paths.add(other.path)
        ref = gi.cka_bootstrap(F, Ra, n_boot=10, **params)
        np.testing.assert_allclose(other.dataset["score_ci"], ref["cka_ci"])
        np.testing.assert_allclose(other.dataset["score_boot"], ref["cka_boot"])
        assert other.dataset.attrs["debiased"] == int(params.get("debiased", False))
    assert float(other.dataset["score"]) == pytest.approx(float(nx.cka(F, Ra, debiased=True)))
    perm = compute(path, "cka_permutation", "netA.layer3", "animalA", params=dict(n_perm=9, debiased=True))
    biased = compute(path, "cka_permutation", "netA.layer3", "animalA", params=dict(n_perm=9))
    assert perm.path != biased.path
    np.testing.assert_allclose(perm.dataset["score_null"], gi.cka_bootstrap(F, Ra, n_boot=1, n_perm=9, debiased=True)["cka_null"])
    # a debiased cka metric entry's inference is debiased (it was refused)
    assert inference_params_of("cka", {"debiased": True}, "permutation", n_perm=9) == {"debiased": True, "n_perm": 9}
    with pytest.raises(ValueError, match="^cka_bootstrap: method='bca' is not offered"):
        compute(path, "cka_bootstrap", "netA.layer3", "animalA", params=dict(n_boot=10, method="bca"))


def test_cli_cka_inference_takes_debiased_and_the_interval_method(sweep_copy):
    """neuroxr score cka --debiased --bootstrap N --boot-method M --permutations N: the entries the API
    asks for with debiased=True (and method=M)."""
    path = str(sweep_copy())
    res = CliRunner().invoke(main, ["score", "cka", path, "netA.layer3", "animalA", "--debiased", "--bootstrap", "8",
                                    "--boot-method", "basic", "--permutations", "7", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    boot = compute(path, "cka_bootstrap", "netA.layer3", "animalA", params=dict(n_boot=8, debiased=True, method="basic"),
                   require_existing=True)
    perm = compute(path, "cka_permutation", "netA.layer3", "animalA", params=dict(n_perm=7, debiased=True),
                   require_existing=True)
    assert out["bootstrap_path"] == boot.path and out["permutation_path"] == perm.path
    np.testing.assert_allclose(out["score_ci"], boot.dataset["score_ci"].values)
    F, R = _sets(path)
    assert out["score"] == pytest.approx(float(nx.cka(F, nx.entries.metrics.averaged_as_features(R), debiased=True)))
    bad = CliRunner().invoke(main, ["score", "cka", path, "netA.layer3", "animalA", "--boot-method", "basic"])
    assert bad.exit_code == 2 and "--bootstrap" in bad.output


def test_sweep_cka_inference_takes_debiased_and_cka_method(sweep_copy, tmp_path):
    """A sweep's cka: {debiased: true} makes its inference entries debiased, inference.cka_method is
    cka_bootstrap's method: the entries the API asks for; cka_method without a cka bootstrap entry is refused."""
    from neuroxr.sweep import load_config, sweep

    path = sweep_copy()
    kw = dict(models="netA", layers=["layer3"], neural="animalA", directions=["cka"], client="serial", progress=False,
              metric_options={"cka": {"debiased": True}})
    row = sweep(path, inference={"bootstrap": 10, "permutations": 5, "cka_method": "percentile"},
                **kw).inference_table.set_index("direction").loc["cka"]
    boot = compute(path, "cka_bootstrap", "netA.layer3", "animalA", params=dict(n_boot=10, debiased=True, method="percentile"),
                   require_existing=True)
    perm = compute(path, "cka_permutation", "netA.layer3", "animalA", params=dict(n_perm=5, debiased=True),
                   require_existing=True)
    assert row["bootstrap_path"] == boot.path and row["permutation_path"] == perm.path
    np.testing.assert_allclose([row["score_low"], row["score_high"]], boot.dataset["score_ci"].values)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("directions: [shape]\ninference: {bootstrap: 5, cka_method: basic}\n")
    with pytest.raises(nx.NeuroxrError) as info:
        load_config(cfg, nx.open_store(path))
    assert str(info.value).startswith(f"{cfg}: cka_method='basic' has no effect with the sweep's directions ['shape'], "
                                      "which have no cka bootstrap entry"), str(info.value)


def test_store_with_metric_inference_entries_validates(sweep_copy):
    path = sweep_copy()
    compute(path, "cka_bootstrap", "netA.layer3", "animalA", params=dict(n_boot=5))
    assert validate_store(path) == []


def test_metric_permutation_entries(sweep_copy):
    path = sweep_copy()
    F, R = _sets(path)
    res = compute(path, "shape_permutation", "netA.layer3", "animalA", params=dict(n_perm=19)).dataset
    ref = gi.shape_bootstrap(F, R, n_boot=1, n_perm=19)
    np.testing.assert_allclose(res["score_null"], ref["distance_null"])
    assert float(res["p"]) == pytest.approx(float(ref["p"]))
    crsa = compute(path, "crsa_permutation", "netA.layer3", "animalA", params=dict(n_perm=19)).dataset
    assert crsa["score_null"].shape == (19,) and 0 < float(crsa["p"]) <= 1
    cka = compute(path, "cka_permutation", "netA.layer3", "netB.fc", params=dict(n_perm=9)).dataset
    assert cka["score_null"].shape == (9,)


def test_rsa_inference_entries_of_an_all_nan_rdm_are_nan(tmp_path):
    """A one-unit layer (its correlation RDM all NaN): the crsa / ersa inference entries are NaN as the
    crsa entry is (the permutation entries held score 0 and p 1, the Spearman ones crashed), one
    revision up (revisions.ALL_NAN_RDM_KINDS)."""
    from neuroxr.entries import revisions

    rng = np.random.default_rng(0)
    ids = [f"s{i:02d}" for i in range(24)]
    path = tmp_path / "s.zarr"
    store = nx.open_store(path)
    store.write_features("m", "u1", nx.features(rng.normal(size=(24, 1)), ids))
    store.write_features("m", "u8", nx.features(rng.normal(size=(24, 8)), ids))
    store.write_neural("a", nx.neural(rng.normal(size=(24, 4, 3)), ids))
    store.write_neural("one", nx.neural(rng.normal(size=(24, 1, 3)), ids))  # eRSA: one neuroid, one predicted column
    assert np.isnan(float(compute(path, "crsa", "m.u1", "a").dataset["score"]))
    assert np.isnan(float(compute(path, "ersa", "m.u8", "one").dataset["test_score"]))
    assert any(set(revisions.ALL_NAN_RDM_KINDS) <= set(stop) for stop in revisions.STOPS)
    for kind in revisions.ALL_NAN_RDM_KINDS:
        for method in ("corr", "spearman"):
            n = dict(n_boot=10) if kind.endswith("bootstrap") else dict(n_perm=9)
            pair = ("m.u1", "a") if kind.startswith("crsa") else ("m.u8", "one")
            ds = compute(path, kind, *pair, params=dict(compare_method=method, **n)).dataset
            assert np.isnan(float(ds["score"])), (kind, method)
            assert np.isnan(ds["score_ci" if "n_boot" in n else "p"].values).all(), (kind, method)


def test_cli_metric_bootstrap(sweep_copy):
    path = str(sweep_copy())
    res = CliRunner().invoke(main, ["score", "shape", path, "netA.layer3", "animalA", "--bootstrap", "8",
                                    "--permutations", "9", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    lo, hi = out["score_ci"]
    F, R = _sets(path)
    ref = gi.shape_bootstrap(F, R, n_boot=8, n_perm=9)
    np.testing.assert_allclose([lo, hi], ref["distance_ci"].values)
    assert lo <= out["score"] <= hi and ref.attrs["method"] == "centred"  # the entry's interval: the centred one
    perm = compute(path, "shape_permutation", "netA.layer3", "animalA", params=dict(n_perm=9))
    assert not perm.computed and perm.path == out["permutation_path"] and out["p"] == float(perm.dataset["p"])
    kinds = set(nx.list_entries(path)["kind"])
    assert {"shape", "shape_bootstrap", "shape_permutation"} <= kinds
    res = CliRunner().invoke(main, ["score", "cka", path, "netA.layer3", "animalA", "--bootstrap", "5"])
    assert res.exit_code == 0 and "cka_bootstrap" in res.output, res.output
    bad = CliRunner().invoke(main, ["score", "rsa", path, "netA.layer3", "animalA", "--variant", "ereg", "--bootstrap", "5"])
    assert bad.exit_code != 0 and "ereg" in bad.output


def test_sweep_metric_inference(sweep_copy):
    from neuroxr.sweep import sweep

    path = sweep_copy()
    res = sweep(path, models="netA", neural="animalA", directions=["forward", "cka"], client="serial",
                progress=False, reps=2, inference={"bootstrap": 12, "permutations": 0})
    tab = res.inference_table
    m = tab[tab["direction"] == "cka"]
    assert len(m) == len(tab[tab["direction"] == "forward"]) and m["bootstrap_path"].str.startswith("inference/cka_bootstrap").all()
    assert (m["score_low"] <= m["score_high"]).all()


def test_sweep_metric_inference_takes_the_metric_options(sweep_copy):
    from neuroxr.sweep import sweep

    path = sweep_copy()
    res = sweep(path, models="netA", neural="animalA", directions=["shape"], client="serial", progress=False,
                metric_options={"shape": {"alpha": 0.5}}, inference={"bootstrap": 5})
    paths = res.inference_table["bootstrap_path"]
    assert len(paths) and all(p.startswith("inference/shape_bootstrap") for p in paths)
    for p in paths:
        assert nx.open_store(path).read_dataset(p).pipe(decoded).attrs["neuroxr_provenance"]["params"]["alpha"] == 0.5


def test_sweep_shape_bootstrap_takes_its_interval_method(sweep_copy, tmp_path):
    """inference.shape_method is shape_bootstrap's method: the sweep's entry is the one the API asks for
    with that method (require_existing=True), holding shape_bootstrap's interval; the default method's
    entry is the one a request without method finds (its key unchanged)."""
    from neuroxr.sweep import load_config, sweep

    path = sweep_copy()
    kw = dict(models="netA", layers=["layer3"], neural="animalA", directions=["shape", "cka"], client="serial",
              progress=False, metric_options={"shape": {"alpha": 0.5}})
    res = sweep(path, inference={"bootstrap": 10, "shape_method": "basic"}, **kw)
    row = res.inference_table.set_index("direction").loc["shape"]
    got = compute(path, "shape_bootstrap", "netA.layer3", "animalA", params=dict(n_boot=10, alpha=0.5, method="basic"),
                  require_existing=True)
    assert got.path == row["bootstrap_path"] and not got.computed
    F = nx.open_store(path).read_features("netA", "layer3")
    R = nx.open_store(path).read_neural("animalA")
    np.testing.assert_allclose(got.dataset["score_ci"].values,
                               gi.shape_bootstrap(F, R, alpha=0.5, n_boot=10, method="basic")["distance_ci"].values)
    with pytest.raises(nx.StoreError):  # the default (centred) entry was not computed by it
        compute(path, "shape_bootstrap", "netA.layer3", "animalA", params=dict(n_boot=10, alpha=0.5), require_existing=True)
    cka = res.inference_table.set_index("direction").loc["cka", "bootstrap_path"]  # cka: its own method, by default
    assert cka == compute(path, "cka_bootstrap", "netA.layer3", "animalA", params=dict(n_boot=10), require_existing=True).path
    default = sweep(path, inference={"bootstrap": 10}, **kw).inference_table.set_index("direction").loc["shape"]
    assert default["bootstrap_path"] == compute(path, "shape_bootstrap", "netA.layer3", "animalA",
                                                params=dict(n_boot=10, alpha=0.5), require_existing=True).path
    # a config key, checked and refused where no shape bootstrap entry reads it
    cfg = tmp_path / "c.yaml"
    cfg.write_text("directions: [shape]\ninference: {bootstrap: 5, shape_method: percentile}\n")
    assert load_config(cfg, nx.open_store(path))["inference"]["shape_method"] == "percentile"
    for text, message in (("directions: [shape]\ninference: {bootstrap: 5, shape_method: bca}\n",
                           "inference.shape_method must be one of ['centred', 'percentile', 'basic']"),
                          ("directions: [cka, forward]\ninference: {bootstrap: 5, shape_method: basic}\n",
                           "shape_method='basic' has no effect with the sweep's directions ['cka', 'forward'], "
                           "which have no shape bootstrap entry"),
                          ("directions: [shape]\ninference: {permutations: 5, shape_method: basic}\n",
                           "shape_method='basic' has no effect without inference.bootstrap")):
        cfg.write_text(text)
        with pytest.raises(nx.NeuroxrError) as info:
            load_config(cfg, nx.open_store(path))
        assert str(info.value).startswith(f"{cfg}: {message}"), str(info.value)
    with pytest.raises(nx.NeuroxrError, match=r"inference.shape_method must be one of"):
        sweep(path, inference={"bootstrap": 10, "shape_method": "bca"}, **kw)


def test_report_lists_metric_inference(sweep_copy, tmp_path):
    import pandas as pd

    from neuroxr.report import write_report

    path = sweep_copy()
    boot = compute(path, "cka_bootstrap", "netA.layer3", "animalA", params=dict(n_boot=10)).dataset
    perm = compute(path, "cka_permutation", "netA.layer3", "animalA", params=dict(n_perm=9)).dataset
    page = write_report(path, tmp_path / "rep", format="md", reliability=False, n_boot=20)
    assert "## Inference of the metrics" in page.read_text()
    tab = pd.read_csv(tmp_path / "rep" / "metric_inference.csv")
    assert len(tab) == 1 and tab["metric"].iloc[0] == "cka"
    np.testing.assert_allclose([tab["score_low"].iloc[0], tab["score_high"].iloc[0]], boot["score_ci"].values)
    assert tab["p"].iloc[0] == pytest.approx(float(perm["p"]))


def test_report_separates_metric_bootstraps_by_their_interval(sweep_copy):
    """Bootstraps of one score that differ only in their interval (shape's method, a level) are rows
    of their own, each with its interval named; the permutation test of the score joins each."""
    from neuroxr.report.inference import metric_inference_table

    path = sweep_copy()
    boots = {m: compute(path, "shape_bootstrap", "netA.layer3", "animalA", params=dict(n_boot=10, method=m)).dataset
             for m in ("centred", "percentile", "basic")}
    perm = compute(path, "shape_permutation", "netA.layer3", "animalA", params=dict(n_perm=9)).dataset
    wide = compute(path, "cka_bootstrap", "netA.layer3", "animalA", params=dict(n_boot=10, level=0.8)).dataset
    usual = compute(path, "cka_bootstrap", "netA.layer3", "animalA", params=dict(n_boot=10)).dataset
    tab = metric_inference_table(nx.open_store(path, mode="r"))
    shape = tab[tab["metric"] == "shape"].set_index("interval")
    assert sorted(shape.index) == ["basic", "centred", "percentile"] and shape["parameters"].is_unique
    for m, ds in boots.items():
        np.testing.assert_allclose(shape.loc[m, ["score_low", "score_high"]].astype(float), ds["score_ci"].values)
        assert shape.loc[m, "p"] == pytest.approx(float(perm["p"]))
    cka = tab[tab["metric"] == "cka"].set_index("parameters")
    assert list(cka["interval"]) == ["centred", "centred"] and len(cka) == 2  # cka_bootstrap's default method
    np.testing.assert_allclose(cka.loc["level=0.8", ["score_low", "score_high"]].astype(float), wide["score_ci"].values)
    np.testing.assert_allclose(cka.loc["defaults", ["score_low", "score_high"]].astype(float), usual["score_ci"].values)


def test_info_lists_metric_inference_values(sweep_copy):
    from click.testing import CliRunner

    from neuroxr.cli import main

    path = sweep_copy()
    boot = compute(path, "cka_bootstrap", "netA.layer3", "animalA", params=dict(n_boot=5)).dataset
    perm = compute(path, "cka_permutation", "netA.layer3", "animalA", params=dict(n_perm=9)).dataset
    out = CliRunner().invoke(main, ["info", str(path), "--json"])
    assert out.exit_code == 0, out.output
    rows = {e["kind"]: e for e in json.loads(out.output)["inference"]}
    assert rows["cka_bootstrap"]["score"] == pytest.approx(float(boot["score"]))
    assert rows["cka_permutation"]["p"] == pytest.approx(float(perm["p"]))


def test_sweep_checks_metric_inference_options_before_computing(sweep_copy):
    """A metric option its inference entries refuse is refused before the sweep computes anything:
    the metric entries were written first and the sweep failed only at their inference."""
    from neuroxr.sweep import sweep

    path = sweep_copy()
    before = set(nx.list_entries(nx.open_store(path))["path"])
    with pytest.raises(nx.ParameterError, match="crsa_bootstrap: compare_method='kendall'"):
        sweep(path, models="netA", neural="animalA", directions=["crsa"], client="serial", progress=False,
              metric_options={"crsa": {"compare_method": "kendall"}}, inference={"bootstrap": 5})
    with pytest.raises(nx.NeuroxrError, match="inference.cka_method must be one of"):
        sweep(path, models="netA", neural="animalA", directions=["cka"], client="serial", progress=False,
              metric_options={"cka": {"debiased": True}}, inference={"bootstrap": 5, "cka_method": "bca"})
    assert set(nx.list_entries(nx.open_store(path))["path"]) == before


def test_permutation_entries_of_a_constant_layer_warn_in_no_bootstrap_words(constant_layer_study):
    """The cka and shape permutation entries draw no resample: a constant layer is warned about once
    (its CKA / shape distance undefined), never as "resamples ... interval ... n_boot_undefined"."""
    st = constant_layer_study
    for kind, what in (("cka_permutation", "so CKA is undefined"), ("shape_permutation", "so the shape distance is undefined")):
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            ds = compute(st, kind, "net.l1", "net.const", params=dict(n_perm=9)).dataset
        msgs = [str(w.message) for w in rec]
        assert np.isnan(float(ds["score"])) and set(ds.data_vars) == {"score", "p", "score_null"}
        assert not [m for m in msgs if "resample" in m or "interval" in m or "n_boot_undefined" in m], msgs
        assert len([m for m in msgs if what in m and "net/const" in m]) == 1, msgs


def test_cli_shape_inference_json_says_what_its_score_is(constant_layer_study):
    """score shape --bootstrap --json: score / score_ci / p are the fit distance on all stimuli, not the
    held-out value beside them; inference_statistic says so (for cka: the value itself)."""
    path = constant_layer_study.url
    for kind, label in (("shape", "fit distance on all stimuli (value is the held-out distance)"), ("cka", "value")):
        res = CliRunner().invoke(main, ["score", kind, path, "net.l1", "net.l2", "--bootstrap", "8", "--permutations", "5",
                                        "--json"])
        assert res.exit_code == 0, res.output
        out = json.loads(res.output.strip().splitlines()[-1])
        assert out["inference_statistic"] == label
        if kind == "shape":
            fit = nx.geometry.LinearMetric().fit_distance(*_sets(path, "net.l1", "net.l2"))
            assert out["score"] == pytest.approx(fit) and out["value"] != pytest.approx(fit)
        else:
            assert out["score"] == pytest.approx(out["value"])
