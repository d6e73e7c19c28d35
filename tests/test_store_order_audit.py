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
