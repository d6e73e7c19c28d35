"""Audit of real recordings end to end: numbers and labels on the shared real data.

Data as in ``tests/test_datasets_real.py`` (``shared/data`` beside the repository or
``NEUROXR_SHARED_DATA``); each test skips, saying so, when its data set is absent.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import K92, V4, needs_k92, needs_v4

pytestmark = pytest.mark.real_data


@pytest.fixture(scope="module")
def k92():
    from neuroxr.datasets.kriegeskorte import load_kriegeskorte_92

    return load_kriegeskorte_92(K92, images=False)


@needs_k92
def test_k92_rdm_stacks_keep_their_labels_in_rsatoolbox(k92):
    """The loader's stacks are over ``model``, ``judge`` and ``subject``: to_rsatoolbox_rdms took only
    a stack over ``rdm`` at its word, so the model and judge names were dropped without a word, and a
    stack with a scalar coord (``hIT.isel(session=0)``: session 1) crashed inside rsatoolbox
    (AttributeError: rdm_descriptors have mismatched dimension)."""
    pytest.importorskip("rsatoolbox")
    from rsatoolbox.rdm import compare

    from neuroxr.errors import LayoutError
    from neuroxr.io import from_rsatoolbox_rdms, to_rsatoolbox_rdms

    iu = np.triu_indices(92, 1)
    models = to_rsatoolbox_rdms(k92.model_rdm)
    assert list(models.rdm_descriptors["model"]) == [str(m) for m in k92.model.values]
    np.testing.assert_array_equal(models.get_vectors(), k92.model_rdm.values[:, iu[0], iu[1]])
    judges = to_rsatoolbox_rdms(k92.behaviour)
    assert list(judges.rdm_descriptors["judge"]) == [str(j) for j in k92.judge.values]
    first = to_rsatoolbox_rdms(k92.hIT.isel(session=0))  # over subject, with the scalar session
    assert list(first.rdm_descriptors["subject"]) == ["BE", "KO", "SN", "TI"]
    assert list(first.rdm_descriptors["session"]) == [1, 1, 1, 1]
    # the labels come back, and rsatoolbox's numbers on the converted RDMs are the arrays' own
    back = from_rsatoolbox_rdms(models)
    assert back.model.values.tolist() == k92.model.values.tolist()
    mit = models.subset("model", "monkeyIT")
    be = to_rsatoolbox_rdms(k92.hIT.sel(subject="BE")).subset("session", 1)
    want = np.corrcoef(k92.mIT.values[iu], k92.hIT.sel(subject="BE", session=1).values.astype(np.float64)[iu])[0, 1]
    np.testing.assert_allclose(float(np.asarray(compare(mit, be, method="corr")).ravel()[0]), want, atol=1e-6)
    # a stack over two dims: one line that says how to make it one stack
    with pytest.raises(LayoutError, match=r"^rdm: expected .* got dims \('subject', 'session', 'stimulus', 'stimulus_'\), "
                                          r"e\.g\. rdm\.stack\(rdm=\('subject', 'session'\)\)") as err:
        to_rsatoolbox_rdms(k92.hIT)
    assert "\n" not in str(err.value)
    both = to_rsatoolbox_rdms(k92.hIT.stack(rdm=("subject", "session")).transpose("rdm", ...))
    assert list(both.rdm_descriptors["subject"]) == ["BE", "BE", "KO", "KO", "SN", "SN", "TI", "TI"]


@needs_v4
@pytest.mark.parametrize("b_kind", ["avg", "raw reordered"])
def test_v4_one_session_as_both_animals_in_another_repeat_layout_is_flagged(b_kind):
    """inter_animal flagged a target neuroid that is also a predictor only when its responses were
    equal trial by trial: session 201016 given trial by trial as A and as the authors' repeat-averaged
    file (or with its repeats in another order) as B scored neuron n01 from itself (EV 100 % without
    a ceiling, 226 % with one) without a word. The design sees trial means: equal ones are flagged."""
    import warnings

    from neuroxr.datasets.cowley import load_cowley_v4
    from neuroxr.errors import NeuroxrWarning
    from neuroxr.predictivity import inter_animal

    raw = load_cowley_v4(V4, "201016", "raw").isel(stimulus=slice(0, 120))
    a = raw.isel(neuroid=slice(0, 12))
    if b_kind == "avg":
        b = load_cowley_v4(V4, "201016", "avg").isel(stimulus=slice(0, 120), neuroid=[0, 30, 31])
    else:
        b = raw.isel(neuroid=[0, 30, 31], repeat=np.roll(np.arange(10), 3))
    assert b_kind != "avg" or b.sizes["repeat"] == 1
    with pytest.warns(NeuroxrWarning, match=r"neural_b \(cowley_v4_201016_(avg|raw)\): 1 neuroids are also predictors in "
                                            r"neural_a \(cowley_v4_201016_raw\) with the same responses .*\['PE/201016/n01'\]"):
        ev = inter_animal(a, b, reps=1).ev.mean("rep").values
    assert ev[0] > 99  # n01 predicted from itself
    # the other neuroids of the same session, and neuron n01 of a half of the trials, are not one recording
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        inter_animal(a, raw.isel(neuroid=[30, 31]), reps=1)
        inter_animal(a, raw.isel(neuroid=[0, 30], repeat=slice(0, 4)), reps=1)
    assert not [w for w in caught if "also predictors" in str(w.message)]


@needs_v4
def test_cowley_repeat_counts_reads_the_loaders_array_and_refuses_others_in_one_line(tmp_path):
    """cowley_repeat_counts crashed with xarray's AlignmentError on the loader's own DataArray and NumPy's
    AxisError on a repeat-averaged file; an array in neuroxr's (stimulus, neuroid, repeat) order was said
    to have a NaN mask that 'differs between neurons for 82 images' (82 is the neuron count), and a
    broken mask in a file named no file."""
    from neuroxr.datasets.cowley import cowley_repeat_counts, load_cowley_v4
    from neuroxr.errors import LayoutError

    raw = np.load(V4 / "responses_raw_201016.npy")
    want = (~np.isnan(raw[0])).sum(axis=1)
    da = load_cowley_v4(V4, "201016", "raw")
    np.testing.assert_array_equal(cowley_repeat_counts(raw), want)
    np.testing.assert_array_equal(cowley_repeat_counts(da), want)  # by its dims
    order = np.random.default_rng(0).permutation(600)
    np.testing.assert_array_equal(cowley_repeat_counts(da.isel(stimulus=order).transpose("repeat", ...)), want[order])
    cases = [
        (np.load(V4 / "responses_avg_201016.npy"), r"expected a numeric 3-D array \(neuron, image, repeat\).*got shape \(82, 600\)"),
        (da.values, r"the NaN mask differs between neurons \(axis 0\) for 82 of 82 images \(axis 1\).*\(stimulus, neuroid, repeat\) order"),
        (da.mean("repeat"), r"a DataArray needs dims stimulus, neuroid, repeat.*got dims \('stimulus', 'neuroid'\)"),
    ]
    for value, match in cases:
        with pytest.raises(LayoutError, match=rf"^cowley_repeat_counts: raw: {match}") as err:
            cowley_repeat_counts(value)
        assert "\n" not in str(err.value)
    broken = raw[:, :20].copy()
    broken[3, 5, 0] = np.nan  # one neuron misses a trial the others have
    np.save(tmp_path / "responses_raw_999999.npy", broken)
    with pytest.raises(LayoutError, match=r"^load_cowley_v4: responses_raw_999999.npy: the NaN mask differs between neurons "
                                          r"\(axis 0\) for 1 of 20 images"):
        load_cowley_v4(tmp_path, "999999", animal="XY")
