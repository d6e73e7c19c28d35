"""Time-resolved results against the per-bin calls: the bins' coords of every input carried to the
result (labels, units), whichever input gives them."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import neuroxr as nx

BINS = [(0, 10), (10, 20), (20, 30)]
LABELS = np.array(["base", "early", "late"])


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        return fn(*args, **kw)


def _animals(n=30, k=3, T=4, seed=0):
    rng = np.random.default_rng(seed)
    ids = [f"s{i:03d}" for i in range(n)]
    F = nx.features(rng.normal(size=(n, 5)), stimulus_id=ids, name="net")
    lat = np.einsum("np,pkt->nkt", F.values, rng.normal(size=(5, k, len(BINS))))
    A = nx.neural(lat[:, :, None] + rng.normal(size=(n, k, T, len(BINS))), stimulus_id=ids, time_bins=BINS, name="A")
    B = nx.neural(lat[:, :, None] + rng.normal(size=(n, k, T, len(BINS))), stimulus_id=ids, time_bins=BINS, name="B")
    return F, A, B.assign_coords(neuroid_id=("neuroid", [f"b{j}" for j in range(k)]))


@pytest.mark.parametrize("call", ["inter_animal", "bootstrap", "temporal_generalization"])
def test_the_second_animals_bin_labels_are_carried(call):
    """inter_animal(A, B) with the bins labeled on B (the target) alone dropped the labels and any
    per-bin coord: the result took the bins' coords from the first animal only. Now each input's
    coords on time_bin that the first lacks are carried (in the first's bin order)."""
    from neuroxr.predictivity.inference import bootstrap

    _, A, B = _animals()
    epoch = np.array([0, 1, 1])
    LB = B.assign_coords(time_bin=LABELS, epoch=("time_bin", epoch)).isel(time_bin=[2, 0, 1])  # other order
    if call == "inter_animal":
        ds = _quiet(nx.inter_animal, A, LB, reps=1)
        dims = ["time_bin"]
    elif call == "bootstrap":
        ds = _quiet(bootstrap, "inter_animal", A, LB, reps=1, n_boot=3)
        dims = ["time_bin"]
    else:  # the target unlabeled, the source animal labeled
        ds = _quiet(nx.temporal_generalization, LB, A, n_folds=5)
        dims = ["time_bin_train", "time_bin_test"]
    for dim in dims:
        np.testing.assert_array_equal(ds[f"{dim}_start"].values, [b[0] for b in BINS])  # the first's order
        np.testing.assert_array_equal(ds[dim].values, LABELS)
        np.testing.assert_array_equal(ds["epoch" if dim == "time_bin" else f"{dim}_epoch"].values, epoch)


def test_the_first_inputs_labels_win_where_both_give_them():
    _, A, B = _animals()
    ds = _quiet(nx.inter_animal, A.assign_coords(time_bin=["a0", "a1", "a2"]), B.assign_coords(time_bin=LABELS), reps=1)
    np.testing.assert_array_equal(ds["time_bin"].values, ["a0", "a1", "a2"])


def test_the_bins_coord_attrs_are_carried():
    """The attrs of the bins' coords (their units) were dropped by every time-resolved result."""
    F, A, B = _animals()
    B = B.copy()
    B["time_bin_start"].attrs["units"] = "ms"
    B["time_bin_end"].attrs["units"] = "ms"
    for ds, dims in ((_quiet(nx.forward, F, B, reps=1), ["time_bin"]),
                     (_quiet(nx.inter_animal, A, B, reps=1), ["time_bin"]),
                     (_quiet(nx.temporal_generalization, F, B, n_folds=5), ["time_bin_train", "time_bin_test"])):
        for dim in dims:
            assert ds[f"{dim}_start"].attrs.get("units") == "ms" and ds[f"{dim}_end"].attrs.get("units") == "ms"


@pytest.mark.parametrize("call", ["inter_animal", "reverse", "pls", "bootstrap"])
def test_a_bin_refused_alone_is_named(call):
    """A bin keeping fewer stimuli than n_folds (the others are complete): the per-bin calls raised
    the static message, '8 stimuli cannot be split into n_folds=10 folds', for an input of 30
    stimuli without naming the bin. The message names the bin and how to leave it out."""
    from neuroxr.predictivity.inference import bootstrap

    F, A, B = _animals()
    v = B.values.copy()
    v[8:, :, :, 2] = np.nan  # bin 2 keeps 8 stimuli
    B = B.copy(data=v)
    run = {"inter_animal": lambda: nx.inter_animal(A, B, reps=1),
           "reverse": lambda: nx.reverse(B, F, reps=1),
           "pls": lambda: nx.forward(F, B, reps=1, regressor="pls", n_components=2),
           "bootstrap": lambda: bootstrap("inter_animal", A, B, reps=1, n_boot=3)}[call]
    head = "bootstrap" if call == "bootstrap" else "forward" if call == "pls" else call
    with pytest.raises(nx.errors.LayoutError, match=rf"^{head}: time bin 2 \(20-30 ms\): .*too few stimuli for the folds: "
                                                     r"8 stimuli .* Or (select the other bins|drop that bin from both animals), e\.g\. .*drop_isel\(time_bin=2\)") as err:
        _quiet(run)
    assert "\n" not in str(err.value)


def test_a_refusal_true_of_every_bin_keeps_the_static_message():
    _, A, B = _animals(n=8)
    with pytest.raises(nx.errors.LayoutError, match=r"^inter_animal: neural_b \(B\): too few stimuli for the folds: 8"):
        _quiet(nx.inter_animal, A, B, reps=1)
