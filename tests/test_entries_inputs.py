"""The entry engine and what it reads: a set rewritten while an entry is computed from it; parameter
values that must find their entry again."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import latent_study

from neuroxr import predictivity as d
from neuroxr.entries import compute, engine, list_entries, lookup
from neuroxr.errors import StoreError
from neuroxr.store import StudyStore


@pytest.fixture
def study(tmp_path):
    st, f1, _, neu = latent_study(tmp_path / "s.zarr", 0, 36, 8, unit_chunk=5)
    return st, f1, neu


@pytest.mark.parametrize("cache", [False, True])
def test_a_set_rewritten_during_the_computation_is_refused_and_nothing_stored(study, monkeypatch, cache):
    st, f1, neu = study
    store = StudyStore(st.url, cache=cache)  # a sweep's store caches the sets' documents
    store.token("features/net/l1")  # read (and, cached, kept) before the rewrite
    other = f1.copy(data=np.random.default_rng(5).normal(size=f1.shape))
    run = engine._run

    def rewritten_meanwhile(req, io, backend, options):
        out = run(req, io, backend, options)  # read from the old copy (lazily: a mix is possible)
        st.write_features("net", "l1", other, unit_chunk=5)  # another process rewrites the set
        return out

    monkeypatch.setattr(engine, "_run", rewritten_meanwhile)
    with pytest.raises(StoreError, match=r"set 'features/net/l1' was rewritten while entry .* was computed"):
        compute(store, "forward", "net.l1", "mA", params={"reps": 2})
    assert "forward" not in set(list_entries(st)["kind"])  # nothing stored under the old token
    monkeypatch.setattr(engine, "_run", run)
    again = compute(store, "forward", "net.l1", "mA", params={"reps": 2})  # the new copy, computed afresh
    assert again.computed
    np.testing.assert_allclose(again.dataset.ev.values, d.forward(other, neu, reps=2).ev.values, rtol=1e-9)
    assert lookup(st, "forward", "net.l1", "mA", params={"reps": 2}) == again.path


def test_inputs_unchanged_store_as_before(study):
    st, f1, neu = study
    a = compute(st, "forward", "net.l1", "mA", params={"reps": 2})
    assert a.computed
    np.testing.assert_allclose(a.dataset.ev.values, d.forward(f1, neu, reps=2).ev.values, rtol=1e-9)


def test_a_nan_parameter_finds_its_entry_again(study):
    """An estimator holding NaN (an imputer's missing_values) was never found again: NaN != NaN after
    the provenance's JSON round trip, so every request recomputed it and require_existing refused."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline

    st, f1, neu = study
    reg = lambda: make_pipeline(SimpleImputer(), Ridge(alpha=1.0))  # noqa: E731
    first = compute(st, "forward", "net.l1", "mA", params={"reps": 2, "regressor": reg()})
    again = compute(st, "forward", "net.l1", "mA", params={"reps": 2, "regressor": reg()})
    assert first.computed and not again.computed and again.path == first.path
    assert lookup(st, "forward", "net.l1", "mA", params={"reps": 2, "regressor": reg()}) == first.path
    found = compute(st, "forward", "net.l1", "mA", params={"reps": 2, "regressor": reg()}, require_existing=True)
    np.testing.assert_allclose(found.dataset.ev.values, first.dataset.ev.values)


def test_keep_predictions_with_require_existing_is_refused_up_front(study):
    from neuroxr.errors import ParameterError

    st, *_ = study
    compute(st, "forward", "net.l1", "mA", params={"reps": 2})
    with pytest.raises(ParameterError, match=r"^keep_predictions=True computes the entry again .*drop one of them\.$"):
        compute(st, "forward", "net.l1", "mA", params={"reps": 2}, require_existing=True, options={"keep_predictions": True})


@pytest.mark.parametrize("kind, params", [("forward", {"reps": 1, "regressor": "lasso"}),
                                          ("brainscore", {"n_components": 2, "n_splits": 2})])
def test_a_fit_by_scikit_learn_is_keyed_by_its_version(study, monkeypatch, request, kind, params):
    """A named lasso / PLS fit (and Brain-Score's PLS) is computed by scikit-learn: another version
    of it is another entry, never the stored one; ridge (neuroxr's own kernels) is not keyed so."""
    import importlib.metadata

    st, *_ = study
    first = compute(st, kind, "net.l1", "mA", params=params)
    assert first.provenance["packages"] == {"scikit-learn": importlib.metadata.version("scikit-learn")}
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "0.0.1" if name == "scikit-learn" else real(name))
    engine._version.cache_clear()  # the versions are read once per process: as another process would read them
    request.addfinalizer(engine._version.cache_clear)
    other = compute(st, kind, "net.l1", "mA", params=params)
    assert other.computed and other.path != first.path
    listed = list_entries(st).set_index("path")["current"]  # the first no request reaches now: not current
    assert not listed[first.path] and listed[other.path]
    with pytest.raises(StoreError, match=r"packages: \{'scikit-learn': .*\} \(existing\) != \{'scikit-learn': '0.0.1'\}"):
        compute(st, kind, "net.l1", "mA", params={**params, "seed": 1} if kind == "forward" else {**params, "seed": 5},
                require_existing=True)
    assert "packages" not in compute(st, "forward", "net.l1", "mA", params={"reps": 1}).provenance


def test_an_estimator_of_another_installed_version_is_listed_not_current(study, monkeypatch, request):
    """An estimator object's identity records its distribution's version: once another is installed no
    request reaches its entry (compute recomputes it), so the listing (and the report's tables) call it
    not current; they called it current and drew it."""
    import importlib.metadata

    from sklearn.linear_model import Ridge

    st, *_ = study
    entry = compute(st, "reverse", "mA", "net.l1", params={"reps": 1, "regressor": Ridge(alpha=2.0)})
    assert "scikit-learn==" in str(entry.provenance["params"]["regressor"])
    assert list_entries(st).set_index("path")["current"][entry.path]
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "0.0.1" if name == "scikit-learn" else real(name))
    engine._version.cache_clear()
    request.addfinalizer(engine._version.cache_clear)
    assert not list_entries(st).set_index("path")["current"][entry.path]


def test_the_scikit_learn_version_is_read_once_per_process(study, monkeypatch):
    """Requests of fits by scikit-learn key on its version, read once per process, not per request."""
    import importlib.metadata

    st, *_ = study
    real, calls = importlib.metadata.version, []
    monkeypatch.setattr(importlib.metadata, "version", lambda name: calls.append(name) or real(name))
    for seed in range(3):
        assert lookup(st, "forward", "net.l1", "mA", params={"reps": 1, "regressor": "lasso", "seed": seed}) is None
    assert calls.count("scikit-learn") <= 1
