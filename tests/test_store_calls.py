"""What a store that is not cached sees within one outermost call (``StudyStore.session``) and at the next:
another writer's changes are seen at the next call, this object's own writes at once."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from neuroxr.layouts import features, neural
from neuroxr.store import StudyStore

_IDS = [f"s{i}" for i in range(6)]


def _neural(seed):
    return neural(np.random.default_rng(seed).normal(size=(6, 3, 2)), _IDS)


def _layer(seed, layer="l1"):
    return features(np.random.default_rng(seed).normal(size=(6, 4)), _IDS, model="net", layer=layer)


@pytest.fixture(params=["local", "memory"])
def url(request, tmp_path):
    """A new store's URL: a local folder, or an object store (``memory://``)."""
    return str(tmp_path / "s.zarr") if request.param == "local" else f"memory://neuroxr-calls-{uuid.uuid4().hex}/s.zarr"


def test_another_objects_write_between_two_calls_is_seen_by_the_second(url):
    """A second store object's rewrite, new set and deletion between two outermost calls: the second call reads the
    new tokens and the new listing (the first call's documents and inventory are not kept past its end)."""
    st = StudyStore(url)
    st.write_neural("mA", _neural(0))
    st.write_features("net", "l1", _layer(0))
    other = StudyStore(url)
    with st.session():
        old = st.token("neural/mA")
        assert st.neural_sets() == ["mA"] and st.layers("net") == ["l1"]
        with st.session():  # a nested call: the same documents
            assert st.token("neural/mA") == old
    other.write_neural("mA", _neural(1))
    other.write_neural("mB", _neural(2))
    other.invalidate("features/net/l1")
    with st.session():
        assert st.token("neural/mA") == other.token("neural/mA") != old
        assert st.neural_sets() == ["mA", "mB"] and st.models() == []
        np.testing.assert_array_equal(st.read_neural("mA").values, _neural(1).values)
    other.write_features("net", "l1", _layer(3))  # seen outside any call too
    assert st.layers("net") == ["l1"] and st.token("features/net/l1") == other.token("features/net/l1")


def test_this_objects_writes_inside_a_call_are_seen_within_it(url):
    """A rewrite, a new set and a deletion by the same object inside one call: its reads and listings later in that
    call see them (never the documents or inventory read before the write)."""
    st = StudyStore(url)
    st.write_neural("mA", _neural(0))
    st.write_features("net", "l1", _layer(0))
    with st.session():
        old = st.token("neural/mA")
        assert st.neural_sets() == ["mA"] and st.layers("net") == ["l1"]
        st.write_neural("mA", _neural(1))
        st.write_neural("mB", _neural(2))
        st.invalidate("features/net/l1")
        new = st.token("neural/mA")
        assert new != old and new == StudyStore(url, mode="r").token("neural/mA")
        assert st.neural_sets() == ["mA", "mB"] and st.models() == []
        np.testing.assert_array_equal(st.read_neural("mA").values, _neural(1).values)
        st.write_features("net", "l2", _layer(3, "l2"))
        assert st.layers("net") == ["l2"] and st.is_complete("features/net/l2")
