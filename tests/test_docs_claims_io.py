"""Claims of docs/io.md, docs/entries.md and docs/kernels.md (folds, splits, stats, offsets) that no
other test checks, each checked against a reference computed here."""

from __future__ import annotations

import hashlib
import json
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from neuroxr.layouts import neural


def _neural_with_labels():
    """3 stimuli x 2 neuroids x repeats labelled [30, 10, 20]; stimulus s1 all NaN (no trial kept)."""
    rng = np.random.default_rng(0)
    v = rng.normal(size=(3, 2, 3))
    v[1] = np.nan
    return neural(v, ["s0", "s1", "s2"], ["n0", "n1"]).assign_coords(repeat=[30, 10, 20])


# --- docs/io.md, "What crosses a converter": repeats in sorted label order, all-NaN stimuli


@pytest.mark.parametrize("fmt", ["tidy", "rsatoolbox", "brainscore"])
def test_round_trip_returns_sorted_repeat_labels_and_the_same_trials_by_label(fmt):
    if fmt == "rsatoolbox":
        pytest.importorskip("rsatoolbox")
    from neuroxr import io

    to, back = {"tidy": (io.to_dataframe, io.from_dataframe), "rsatoolbox": (io.to_rsatoolbox, io.from_rsatoolbox),
                "brainscore": (io.to_brainscore, io.from_brainscore)}[fmt]
    n = _neural_with_labels()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the round trip warns about nothing
        got = back(to(n))
    assert got["repeat"].values.tolist() == [10, 20, 30]
    # a table keeps the all-NaN stimulus as NaN rows; assemblies and datasets hold observed trials only
    kept = ["s0", "s1", "s2"] if fmt == "tidy" else ["s0", "s2"]
    assert got["stimulus_id"].values.tolist() == kept
    want = n.set_index(stimulus="stimulus_id").sel(stimulus=kept).values
    np.testing.assert_array_equal(got.sel(repeat=n["repeat"]).values, want)


@pytest.mark.parametrize("fmt", ["tidy", "rsatoolbox", "brainscore"])
def test_trial_readers_return_float32_input_as_float64_exactly(fmt):
    if fmt == "rsatoolbox":
        pytest.importorskip("rsatoolbox")
    from neuroxr import io

    to, back = {"tidy": (io.to_dataframe, io.from_dataframe), "rsatoolbox": (io.to_rsatoolbox, io.from_rsatoolbox),
                "brainscore": (io.to_brainscore, io.from_brainscore)}[fmt]
    v = np.random.default_rng(1).normal(size=(3, 2, 2)).astype(np.float32)
    got = back(to(neural(v, ["s0", "s1", "s2"], ["n0", "n1"])))
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got.values, v.astype(np.float64))


# --- docs/io.md, "Arrays on disk"


def test_read_array_keeps_float32_and_reads_integers_as_float64(tmp_path):
    from neuroxr.io import read_array

    x32 = np.random.default_rng(0).normal(size=(4, 3, 2)).astype(np.float32)
    xi = np.arange(12).reshape(4, 3)
    path = tmp_path / "a.npz"
    np.savez(path, x=x32, xi=xi, ids=np.array(["s0", "s1", "s2", "s3"]))
    a = read_array(path, "x", ids="ids")
    assert a.dtype == np.float32 and a.dims == ("stimulus", "neuroid", "repeat")
    np.testing.assert_array_equal(a.values, x32)
    assert a.attrs["file"] == "a.npz"
    b = read_array(path, "xi", layout="neural", ids="ids", attrs={"session": 3})
    assert b.dtype == np.float64 and b.shape == (4, 3, 1)
    np.testing.assert_array_equal(b.values[..., 0], xi.astype(np.float64))
    assert b.attrs == {"file": "a.npz", "session": 3}
    c = read_array(path, "xi", layout="features", ids="ids")
    assert c.dtype == np.float64 and c.dims == ("stimulus", "unit")


# --- docs/io.md, "Trials": copies of integer counts warn only for a table appended to itself


def test_copies_of_spike_counts_warn_only_for_a_table_appended_to_itself():
    from neuroxr.errors import NeuroxrWarning
    from neuroxr.io import from_dataframe

    chance = pd.DataFrame({"stimulus_id": ["a", "a", "b", "b"], "neuroid_id": ["n0"] * 4, "value": [3, 3, 1, 2]})
    with warnings.catch_warnings():
        warnings.simplefilter("error", NeuroxrWarning)
        from_dataframe(chance)  # two equal counts of one neuroid: chance, no warning
        zeros = pd.DataFrame({"stimulus_id": ["a", "b", "c"], "neuroid_id": ["n0"] * 3, "value": [0, 0, 0]})
        from_dataframe(pd.concat([zeros, zeros]))  # all zero: no warning
    df = pd.DataFrame({"stimulus_id": ["a", "b", "c"], "neuroid_id": ["n0"] * 3, "value": [3, 1, 2]})
    with pytest.warns(NeuroxrWarning, match="3 presentations are exact copies"):
        from_dataframe(pd.concat([df, df]))


def test_from_dataframe_keeps_the_tables_attrs_and_to_dataframe_writes_them_all():
    from neuroxr.io import from_dataframe, to_dataframe

    n = neural(np.ones((2, 1, 1)), ["a", "b"], ["n0"])
    n.attrs = {"s": "x", "i": 3, "f": 1.5, "lst": [1, 2], "d": {"k": 1}}
    table = to_dataframe(n)
    assert {k: table.attrs[k] for k in n.attrs} == n.attrs
    assert from_dataframe(table).attrs == n.attrs


# --- docs/entries.md, "Provenance and layout": the key and the attrs handed out


def test_an_entrys_key_is_the_sha256_of_its_canonical_provenance_and_its_attrs_decode(tmp_path):
    from conftest import two_animal_store

    import neuroxr as nx
    from neuroxr.entries import compute, list_entries

    st = two_animal_store(tmp_path / "s.zarr")
    res = compute(st, "cka", "net.l1", "mA", params={"debiased": 1})
    prov = res.provenance
    text = json.dumps(prov, sort_keys=True, separators=(",", ":"))
    key = hashlib.sha256(text.encode()).hexdigest()[:16]
    assert res.path == f"metrics/cka/net.l1__mA/{key}"
    assert prov["params"] == {"debiased": True}  # a flag keyed as a bool
    ds = nx.score(st, "cka", "net.l1", "mA", debiased=True)
    assert isinstance(ds.attrs["parameters"], str)  # JSON text, storable
    assert {"parameters", "neuroxr_provenance"} <= set(json.loads(ds.attrs["neuroxr_json_attrs"]))
    assert nx.attrs.decode_attrs(ds.attrs)["parameters"] == {"debiased": True}
    assert ds.attrs["provenance_key"] == key
    listed = list_entries(str(tmp_path / "s.zarr"))  # a store path is taken too
    assert set(listed["kind"]) == {"cka", "gram"} and listed["current"].all()


# --- docs/kernels.md: folds, splits, stats, offsets


def test_kfold_indices_are_a_randomstate_shuffle_cut_by_array_split():
    from neuroxr.kernels.folds import kfold_indices

    folds = kfold_indices(23, 5, seed=3)
    inds = np.arange(23)
    np.random.RandomState(3).shuffle(inds)
    assert len(folds) == 5
    for (train, test), want in zip(folds, np.array_split(inds, 5)):
        np.testing.assert_array_equal(test, want)
        np.testing.assert_array_equal(train, [i for i in inds if i not in set(want)])  # the rest, shuffled order


def test_split_halves_valid_and_slots_modes_against_their_definition():
    from neuroxr.kernels.splits import split_means

    rng = np.random.default_rng(2)
    R = rng.normal(size=(6, 3, 5))
    R[0, 0, [1, 3]] = np.nan
    R[2, 1, :4] = np.nan  # one valid repeat: half 2 empty
    perms = np.array([rng.permutation(5) for _ in range(4)])
    h1, h2 = split_means(R, perms, "valid")
    for i, p in enumerate(perms):
        for s in range(6):
            for k in range(3):
                vals = [R[s, k, t] for t in p if not np.isnan(R[s, k, t])]
                c = (len(vals) + 1) // 2  # the first ceil(v / 2) valid repeats in permuted order
                want = [np.mean(vals[:c]) if c else np.nan, np.mean(vals[c:]) if len(vals) > c else np.nan]
                np.testing.assert_allclose([h1[i, s, k], h2[i, s, k]], want, rtol=1e-13)
    h1, h2 = split_means(R, perms, "slots")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN half: NaN
        for i, p in enumerate(perms):  # the first ceil(T / 2) permuted slots, NaN slots included
            np.testing.assert_allclose(h1[i], np.nanmean(R[:, :, p[:3]], axis=2), rtol=1e-13)
            np.testing.assert_allclose(h2[i], np.nanmean(R[:, :, p[3:]], axis=2), rtol=1e-13)


def test_kendall_tau_a_and_spearman_of_sorted_vectors_with_ties():
    from neuroxr.kernels.stats import SortedVector, kendall_tau_a_sorted, spearman_brown, spearman_sorted

    rng = np.random.default_rng(3)
    x, y = (rng.integers(0, 5, size=30).astype(float) for _ in range(2))
    i, j = np.triu_indices(30, 1)
    s = np.sign(x[i] - x[j]) * np.sign(y[i] - y[j])
    tau_a = (np.sum(s > 0) - np.sum(s < 0)) / (30 * 29 / 2)  # (C - D) / (P (P - 1) / 2), ties in neither
    assert kendall_tau_a_sorted(SortedVector(x), SortedVector(y)) == pytest.approx(tau_a, abs=1e-15)
    assert spearman_sorted(SortedVector(x), SortedVector(y)) == pytest.approx(scipy.stats.spearmanr(x, y).statistic,
                                                                              abs=1e-14)
    np.testing.assert_array_equal(spearman_brown(np.array([0.5, 0.0, -1.0])), [2 / 3, 0.0, -np.inf])


def test_offset_bound_is_float32s_precision_over_its_epsilon():
    from neuroxr.kernels.offsets import OFFSET_LOSS, OFFSET_RATIO, offset_columns

    eps32 = float(np.finfo(np.float32).eps)
    assert OFFSET_LOSS == 1e-3 and OFFSET_RATIO == pytest.approx(8.4e3, rel=1e-2)
    assert OFFSET_RATIO == pytest.approx(OFFSET_LOSS / eps32)
    n = 50
    z = np.random.default_rng(4).standard_normal(n)
    z = (z - z.mean()) / z.std()  # std 1 (ddof 0)
    cols = np.stack([1.01 * OFFSET_RATIO + z, 0.99 * OFFSET_RATIO + z, np.full(n, 1e6), np.zeros(n)], axis=1)
    c = ((cols - cols.mean(0)) ** 2).sum(0)
    u = (cols**2).sum(0)
    # flagged just above |mean| / std = OFFSET_RATIO, not below; constant columns never
    np.testing.assert_array_equal(offset_columns(c, u), [True, False, False, False])


def test_from_brainscore_names_the_attrs_it_leaves_out_but_the_stimulus_set():
    from neuroxr.errors import NeuroxrWarning
    from neuroxr.io import from_brainscore, to_brainscore

    n = neural(np.random.default_rng(5).normal(size=(3, 2, 2)), ["s0", "s1", "s2"], ["n0", "n1"])
    n.attrs = {"session": "a", "bins": [0, 10]}
    with pytest.warns(NeuroxrWarning, match=r"attrs \['bins'\] hold no string or number"):
        got = from_brainscore(to_brainscore(n))
    assert got.attrs == {"session": "a"}
    assembly = to_brainscore(neural(n.values, ["s0", "s1", "s2"], ["n0", "n1"]))
    assembly.attrs["stimulus_set"] = pd.DataFrame({"stimulus_id": ["s0", "s1", "s2"]})
    with warnings.catch_warnings():
        warnings.simplefilter("error", NeuroxrWarning)
        assert "stimulus_set" not in from_brainscore(assembly).attrs  # dropped without a word, as documented


def test_slot_kernels_give_the_gram_of_any_mean_of_slots():
    from neuroxr.kernels.slot_kernels import SlotKernels

    R = np.random.default_rng(6).normal(size=(7, 5, 4))
    cols = np.array([3, 0, 4])
    for use in (None, cols):
        sk = SlotKernels(R, cols=use)
        for idx in ([2], [0, 3], [3, 1, 2], [0, 1, 2, 3]):
            X = R[:, :, idx].mean(axis=2)[:, slice(None) if use is None else use]
            Xc = X - X.mean(axis=0)
            np.testing.assert_allclose(sk.gram(np.array(idx)), Xc @ Xc.T, rtol=1e-12, atol=1e-12)
