"""Statements of docs/geometry.md and docs/analyses.md, each checked against the code."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import neuroxr as nx
from neuroxr.errors import LayoutError, NeuroxrWarning
from neuroxr.geometry import crsa


def _ids(n: int) -> list[str]:
    return [f"s{i:02d}" for i in range(n)]


@pytest.mark.parametrize("noise_ceiling", [False, True])
def test_crsa_refuses_fewer_than_3_stimuli_naming_its_own_arguments(noise_ceiling):
    """docs/geometry.md: fewer than 3 shared stimuli are refused by crsa with a LayoutError; the message
    names crsa and its arguments (it named compare_rdms and its 'a and b', arguments crsa has not)."""
    rng = np.random.default_rng(0)
    F = nx.features(rng.normal(size=(2, 4)), _ids(2), model="m", layer="l")
    N = nx.neural(rng.normal(size=(2, 3, 2)), _ids(2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuroxrWarning)
        with pytest.raises(LayoutError, match=r"^crsa: features \(m/l\) and neural share 2 stimuli \(1 pair\)"):
            crsa(F, N, noise_ceiling=noise_ceiling)


def test_ersa_and_ereg_numbers_do_not_depend_on_the_order_of_units_or_neuroids():
    """docs/geometry.md (eReg: "permuting the units changes no number"; the principle for every input):
    a unit selection left the features Fortran-ordered and BLAS summed them in another order, so
    permuting the units (or the neuroids) moved eRSA's and eReg's numbers in their last bits."""
    from neuroxr.geometry import ereg, ersa

    rng = np.random.default_rng(14)
    n, p, q = 25, 40, 30
    F = nx.features(rng.normal(size=(n, p)), _ids(n), unit_id=[str(i) for i in range(p)])
    N = nx.neural(rng.normal(size=(n, q, 4)), _ids(n), neuroid_id=[str(i) for i in range(q)])
    up, nq = rng.permutation(p), rng.permutation(q)
    Fp, Np = F.isel(unit=up), N.isel(neuroid=nq)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuroxrWarning)
        a, b = ersa(F, N, n_folds=4, compare_method="pearson"), ersa(Fp, Np, n_folds=4, compare_method="pearson")
        assert (float(a.train_score), float(a.test_score)) == (float(b.train_score), float(b.test_score))
        a, b = ereg(F, N, n_folds=4), ereg(Fp, Np, n_folds=4)
    assert b["neuroid_id"].values.tolist() == Np["neuroid_id"].values.tolist()  # r in the order given
    np.testing.assert_array_equal(b["r"].values, a["r"].values[nq])
    assert float(a["score"]) == float(b["score"])


def test_the_noise_ceilings_record_the_pairs_the_nan_rule_drops():
    """docs/geometry.md, NaN rule: the incomplete pairs are dropped and counted in the warning and in
    attrs['n_pairs_dropped'] (rdm_noise_ceiling and split_half_rdm_ceiling counted them in the warning only)."""
    from neuroxr.geometry import as_rdm, rdm_noise_ceiling, split_half_rdm_ceiling

    rng = np.random.default_rng(3)
    n = 9
    subjects = []
    for holes in ([], [(0, 1), (2, 5)], [(3, 4)]):
        D = np.abs(rng.normal(size=(n, n)))
        D = D + D.T
        np.fill_diagonal(D, 0)
        for i, j in holes:
            D[i, j] = D[j, i] = np.nan
        subjects.append(as_rdm(D, stimulus_id=_ids(n)))
    with pytest.warns(NeuroxrWarning, match="3 of 108 stimulus pairs"):
        res = rdm_noise_ceiling(subjects)
    assert res.attrs["n_pairs_dropped"] == 3 and res.attrs["n_stimuli"] == n
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuroxrWarning)
        assert rdm_noise_ceiling(np.stack([np.nan_to_num(s.values) for s in subjects])).attrs["n_pairs_dropped"] == 0

    # split halves: a stimulus whose pattern is constant in one half has no correlation distance there
    Y = rng.normal(size=(n, 6, 2))
    Y[4, :, 0] = 1.0  # stimulus s04's first repeat is flat across the neuroids
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always", NeuroxrWarning)
        c = split_half_rdm_ceiling(nx.neural(Y, _ids(n)), reps=3, seed=0)
    counted = [str(w.message) for w in said if "NaN dissimilarity" in str(w.message)]
    assert counted and counted[0].startswith(f"split_half_rdm_ceiling: {c.attrs['n_pairs_dropped']} of {3 * n * (n - 1) // 2} ")
    assert c.attrs["n_pairs_dropped"] == 3 * (n - 1) and c.attrs["n_stimuli"] == n


@pytest.mark.parametrize("call", ["cluster_distances", "embed_distances", "kmeans_plusplus_init"])
def test_a_labeled_distance_matrix_naming_a_network_twice_is_refused_saying_so(call):
    """docs/analyses.md: names that name a network twice are a one-line LayoutError; for a labeled matrix the
    message said its networks 'are not the networks given' (the same list) instead of naming the repeat."""
    import xarray as xr

    from neuroxr import geometry

    D = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 1.5], [2.0, 1.5, 0.0]])
    L = xr.DataArray(D, dims=("network", "network_"), coords={"network": ["a", "a", "b"], "network_": ["a", "a", "b"]})
    with pytest.raises(LayoutError, match=r"^\w+: (D|dist_matrix) labels 'a' twice on its networks; give each of the 3 "):
        getattr(geometry, call)(L, 2)


@pytest.mark.parametrize("method", ["correlation", "cosine", "euclidean", "sqeuclidean"])
def test_rdm_of_fortran_ordered_inputs_is_bit_identical_whatever_the_stimulus_order(method):
    """docs/geometry.md: rdm computes in canonical order, so permuting the stimuli changes no bit. Features
    or responses in Fortran memory order (transposed from (unit, stimulus), as a unit-major store or a
    torch (units, stimuli) tensor gives them) already in canonical order were summed in another layout
    than a permuted copy (reordered into C order), and than the same values in C order: other last bits."""
    import xarray as xr

    from neuroxr.geometry import rdm

    rng = np.random.default_rng(1)
    n, p = 40, 70
    X = rng.normal(size=(n, p))
    ids = _ids(n)
    units = [f"unit{i}" for i in range(p)]
    F = nx.features(X, ids, unit_id=units)
    Ft = xr.DataArray(X.T.copy(), dims=("unit", "stimulus"),
                      coords={"unit_id": ("unit", units), "stimulus_id": ("stimulus", ids)}).transpose("stimulus", "unit")
    assert Ft.values.flags["F_CONTIGUOUS"]
    perm = rng.permutation(n)
    inv = np.argsort(perm)
    np.testing.assert_array_equal(rdm(Ft, method).values, rdm(F, method).values)
    np.testing.assert_array_equal(rdm(Ft.isel(stimulus=perm), method).values[np.ix_(inv, inv)], rdm(Ft, method).values)
    Y = rng.normal(size=(n, 30, 3))
    N = nx.neural(Y, ids)
    Nt = xr.DataArray(np.ascontiguousarray(Y.transpose(1, 2, 0)), dims=("neuroid", "repeat", "stimulus"),
                      coords={"neuroid_id": ("neuroid", N["neuroid_id"].values), "stimulus_id": ("stimulus", ids)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NeuroxrWarning)
        np.testing.assert_array_equal(rdm(Nt.transpose("stimulus", "neuroid", "repeat"), method).values, rdm(N, method).values)
