"""Order invariance at the store level (audit): one study written twice, the second copy with every set's
stimuli in another order (each set its own), its neuroids and units permuted, its layers chunked
otherwise, its sets written in another order, or its repeats permuted where no split half is drawn;
the same entries, sweeps and report tables of both stores are compared row by row by their labels.

Stimuli in another order change no bit (docs/predictivity.md, "Canonical stimulus order"); units,
neuroids and unit chunks change the order of sums only (compared to 1e-12 relative); repeats change
the trial means' sums only where no ceiling draws split halves ("Repeats carry no id").
tests/test_permutation_invariance.py and tests/test_predictivity_permutation.py hold the API-level checks.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import neuroxr as nx
from neuroxr.entries import compute
from neuroxr.store import StudyStore

N, T = 24, 4
IDS = [f"s{i:02d}" for i in range(N)]
BINS = [(0.0, 50.0), (50.0, 100.0)]


def _sets(time_resolved: bool = False) -> dict[tuple[str, ...], object]:
    rng = np.random.default_rng(0)
    lat = rng.normal(size=(N, 4))
    out = {}
    for name, k in (("animalA", 6), ("animalB", 4)):
        shape = (N, k, T, len(BINS)) if time_resolved else (N, k, T)
        signal = (lat @ rng.normal(size=(4, k)))
        signal = signal[:, :, None, None] * np.array([0.4, 1.0]) if time_resolved else signal[:, :, None]
        R = signal + rng.normal(size=shape)
        R[3, 1, 2] = np.nan  # a missing trial
        kw = {"time_bins": BINS} if time_resolved else {}
        out[("neural", name)] = nx.neural(R, IDS, [f"{name}_n{j}" for j in range(k)],
                                          region=["IT" if j % 2 else "V4" for j in range(k)], **kw)
    # netB is wider than the stimuli (the Gram's dual form); netA's units sit far from zero (the row pass)
    for model, p, offset in (("netA", 7, 3.0), ("netB", 30, 0.0)):
        F = lat @ rng.normal(size=(4, p)) + 0.5 * rng.normal(size=(N, p)) + offset
        out[("features", model, "l")] = nx.features(F, IDS, [f"u{j}" for j in range(p)], model=model, layer="l")
    return out


def _write(path, sets, *, stimuli=False, units=False, repeats=False, reverse=False, unit_chunk=4096):
    """A store of ``sets``, each set's stimuli / units or neuroids / repeats permuted (its own order) as asked,
    the sets written in reverse order with ``reverse``."""
    st = StudyStore(path)
    items = list(sets.items())
    for i, (key, da) in enumerate(items[::-1] if reverse else items):
        rng = np.random.default_rng(100 + i)
        if stimuli:
            da = da.isel(stimulus=rng.permutation(da.sizes["stimulus"]))
        dim = "neuroid" if key[0] == "neural" else "unit"
        if units:
            da = da.isel({dim: rng.permutation(da.sizes[dim])})
        if repeats and "repeat" in da.dims:
            da = da.isel(repeat=rng.permutation(da.sizes["repeat"]))
        if key[0] == "neural":
            st.write_neural(key[1], da)
        else:
            st.write_features(key[1], key[2], da, unit_chunk=unit_chunk)
    return path


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _by_ids(ds):
    """``ds`` with every dim labeled by an id coord sorted by it."""
    for dim in list(ds.dims):
        for c in (f"{dim}_id", "stimulus_id_" if dim == "stimulus_" else None):
            if c and c in ds.coords and ds[c].dims == (dim,):
                ds = ds.sortby(c)
                break
    return ds


def _same_entry(a, b, rtol=0.0):
    a, b = _by_ids(a.load()), _by_ids(b.load())
    assert sorted(a.data_vars) == sorted(b.data_vars)
    for v in a.data_vars:
        x, y = np.asarray(a[v].values), np.asarray(b[v].values)
        if x.dtype.kind not in "fc":
            np.testing.assert_array_equal(x, y, err_msg=v)
        elif rtol == 0:
            np.testing.assert_array_equal(x, y, err_msg=v)
        else:
            np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol * np.nanmax(np.abs(x), initial=1.0), err_msg=v)


# ------------------------------------------------------------------------------ the Gram of a stored layer
GRAM_READERS = [("gram", "netA.l", None, {}), ("gram", "netB.l", None, {}),
                ("forward", "netA.l", "animalA", {"reps": 2}), ("forward", "netB.l", "animalA", {"reps": 2}),
                ("cka", "netA.l", "animalA", {}), ("dimensionality", "netB.l", None, {}),
                ("crsa", "netA.l", "animalA", {"rdm_method": "correlation", "reps": 2})]


def test_entries_reading_a_stored_layers_gram_ignore_its_stimulus_order(tmp_path):
    """The Gram entry of a stored layer was reduced in the layer's stored stimulus order (the in-memory
    ``gram`` reduces in canonical order): a layer stored in another order gave a Gram, and so forward
    (ridge, streamed), CKA and a layer's dimensionality, other last bits (1e-12 of an EV)."""
    sets = _sets()
    a = _write(tmp_path / "a.zarr", sets)
    b = _write(tmp_path / "b.zarr", sets, stimuli=True)
    for kind, source, target, params in GRAM_READERS:
        ea = compute(a, kind, source, target, params=params).dataset
        eb = compute(b, kind, source, target, params=params).dataset
        _same_entry(ea, eb)
    # the Gram entry keeps the stored layer's order, labeled by id
    g = compute(b, "gram", "netA.l").dataset
    stored = StudyStore(b, mode="r").read_features("netA", "l")
    np.testing.assert_array_equal(g["stimulus_id"].values, stored["stimulus_id"].values)
    ref = nx.geometry.gram(stored.load())
    np.testing.assert_array_equal(g["K"].values, ref["K"].values)


# ------------------------------------------------------------------------------ sweeps, compared by their labels
DIRECTIONS = ["forward", "reverse", "inter_animal", "model_to_model"]
METRICS = ["crsa", "ersa", "ereg", "cka", "shape", "dimensionality"]
SWEEP = dict(regions=["all", "IT"], reps=2, seed=3, progress=False, client="serial")
INFERENCE = {"bootstrap": 3, "permutations": 3}
#: the rows of each table are keyed by their labels, never by position
KEYS = {"table": ["key"], "metric_table": ["key"], "inference_table": ["key", "time_bin_start"],
        "target_table": ["direction", "source", "target", "target_id", "time_bin_start", "time_bin_end"],
        "best_layers": ["direction", "model", "neural", "region"]}


def _same_tables(ra, rb, rtol=0.0):
    """Every table of two sweep results, row by row by their labels: labels equal, numbers to ``rtol``."""
    for name, key in KEYS.items():
        a, b = getattr(ra, name), getattr(rb, name)
        assert len(a) == len(b), name
        if not len(a):
            continue
        key = [k for k in key if k in a.columns]
        a, b = a.set_index(key).sort_index(), b.set_index(key).sort_index()
        assert a.index.equals(b.index), name
        for col in a.columns:
            if col.endswith("path"):
                continue
            x, y = a[col], b[col]
            if x.dtype.kind == "f":
                if rtol == 0:
                    np.testing.assert_array_equal(x.to_numpy(), y.to_numpy(), err_msg=f"{name}.{col}")
                else:
                    np.testing.assert_allclose(x.to_numpy(), y.to_numpy(), rtol=rtol,
                                               atol=rtol * np.nanmax(np.abs(x.to_numpy()), initial=1.0),
                                               err_msg=f"{name}.{col}")
            else:
                assert x.astype(str).tolist() == y.astype(str).tolist(), f"{name}.{col}"


@pytest.mark.slow
def test_a_sweep_of_sets_stored_in_other_stimulus_and_set_orders_changes_no_bit(tmp_path):
    """Every direction with its ceiling, every metric, their bootstrap and permutation entries, the
    target table and the best layers: each set's stimuli in its own order, the sets written in
    reverse order; then the report's tables of both stores."""
    from neuroxr.report.inference import inference_table, metric_inference_table
    from neuroxr.report.table import metric_table, score_table
    from neuroxr.sweep import sweep

    sets = _sets()
    a = _write(tmp_path / "a.zarr", sets)
    b = _write(tmp_path / "b.zarr", sets, stimuli=True, reverse=True)
    kw = dict(SWEEP, directions=DIRECTIONS + METRICS, inference=INFERENCE)
    _same_tables(sweep(a, **kw), sweep(b, **kw))
    for table, key in ((score_table, ["direction", "source", "target"]), (metric_table, ["metric", "source", "target"]),
                       (inference_table, ["kind", "source", "target"]), (metric_inference_table, ["kind", "source", "target"])):
        ta, tb = (table(StudyStore(p, mode="r")) for p in (a, b))
        ta, tb = (t[0] if isinstance(t, tuple) else t for t in (ta, tb))
        key = [k for k in key if k in ta.columns]
        assert len(ta) == len(tb) and key
        ta, tb = ta.set_index(key).sort_index(), tb.set_index(key).sort_index()
        for col in ta.columns:
            if ta[col].dtype.kind == "f":
                np.testing.assert_array_equal(ta[col].to_numpy(), tb[col].to_numpy(), err_msg=f"{table.__name__}.{col}")


@pytest.mark.slow
def test_a_sweep_of_sets_with_units_neuroids_and_chunks_permuted_agrees_to_rounding(tmp_path):
    """Units and neuroids in another order, layers in other unit chunks (the Gram's sums over the
    chunks): the same numbers but for the order of sums (1e-12 relative)."""
    from neuroxr.sweep import sweep

    sets = _sets()
    a = _write(tmp_path / "a.zarr", sets)
    b = _write(tmp_path / "b.zarr", sets, stimuli=True, units=True, unit_chunk=3)
    kw = dict(SWEEP, directions=DIRECTIONS + ["cka", "crsa", "dimensionality"], inference=INFERENCE)
    _same_tables(sweep(a, **kw), sweep(b, **kw), rtol=1e-12)


@pytest.mark.slow
def test_a_sweep_without_split_halves_ignores_the_order_of_the_repeats(tmp_path):
    """No ceiling drawn (noise_ceiling: false; metrics of the trial means): repeats are exchangeable,
    their order changes the trial means' sums only."""
    from neuroxr.sweep import sweep

    sets = _sets()
    a = _write(tmp_path / "a.zarr", sets)
    b = _write(tmp_path / "b.zarr", sets, repeats=True)
    kw = dict(SWEEP, directions=["forward", "reverse", "inter_animal", "crsa", "cka", "ersa", "ereg", "shape", "dimensionality"],
              noise_ceiling=False, reps=1, metric_options={"crsa": {"noise_ceiling": False}})
    kw.pop("seed")
    _same_tables(sweep(a, **kw), sweep(b, **kw), rtol=1e-12)


@pytest.mark.slow
def test_a_time_resolved_sweep_ignores_the_stored_orders(tmp_path):
    """Time-resolved sets (two bins), temporal generalisation and inference per bin: stimuli and
    neuroids stored in other orders, the sets written in reverse order."""
    from neuroxr.sweep import sweep

    sets = _sets(time_resolved=True)
    a = _write(tmp_path / "a.zarr", sets)
    b = _write(tmp_path / "b.zarr", sets, stimuli=True, units=True, reverse=True, unit_chunk=2)
    kw = dict(SWEEP, directions=["forward", "reverse", "inter_animal"], temporal_generalization=True, inference=INFERENCE)
    _same_tables(sweep(a, **kw), sweep(b, **kw), rtol=1e-12)


@pytest.mark.slow
def test_a_gram_spread_over_the_cluster_ignores_the_stored_stimulus_order(tmp_path):
    """gram_spread=True: the layer's Gram is a tree over its unit chunks on the workers."""
    from neuroxr.sweep import sweep

    sets = _sets()
    a = _write(tmp_path / "a.zarr", sets, unit_chunk=4)
    b = _write(tmp_path / "b.zarr", sets, stimuli=True, reverse=True, unit_chunk=4)
    kw = dict(SWEEP, directions=["forward", "cka", "dimensionality"], neural=["animalA"], regions=None,
              client=None, n_workers=1, gram_spread=True)
    _same_tables(sweep(a, **kw), sweep(b, **kw))
    for layer in ("netA.l", "netB.l"):
        _same_entry(*(compute(p, "gram", layer).dataset for p in (a, b)))


def test_relative_layers_of_sets_stored_in_other_orders_are_the_same_by_id(tmp_path):
    """``neuroxr relative`` of a layer stored with its stimuli and units in another order, the anchors
    listed in another order: the same relative features per (stimulus_id, anchor), and the same forward scores."""
    from click.testing import CliRunner

    from neuroxr.cli import main

    sets = _sets()
    a = _write(tmp_path / "a.zarr", sets)
    b = _write(tmp_path / "b.zarr", sets, stimuli=True, units=True)
    anchors = ["s03", "s11", "s17", "s20", "s05"]
    for path, ids in ((a, anchors), (b, anchors[::-1])):
        (tmp_path / "anchors.txt").write_text("\n".join(ids) + "\n")
        res = CliRunner().invoke(main, ["relative", str(path), "netB.l", "--anchors", str(tmp_path / "anchors.txt")])
        assert res.exit_code == 0, res.output
    ra, rb = (StudyStore(p, mode="r").read_features("netB", "l_relative").load() for p in (a, b))
    ra, rb = ra.sortby("stimulus_id").sortby("unit_id"), rb.sortby("stimulus_id").sortby("unit_id")
    np.testing.assert_array_equal(ra["unit_id"].values, rb["unit_id"].values)
    np.testing.assert_allclose(ra.values, rb.values, rtol=1e-12, atol=1e-13)
    ea, eb = (compute(p, "forward", "netB.l_relative", "animalA", params={"reps": 2}).dataset for p in (a, b))
    _same_entry(ea, eb, rtol=1e-12)
