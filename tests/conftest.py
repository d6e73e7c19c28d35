"""Shared test fixtures and data factories."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest


# --- small random sets for the store tests (ids img0.., neuroids n0..)
def small_neural(seed=0, n=8, k=6, t=3):
    from neuroxr.layouts import neural

    rng = np.random.default_rng(seed)
    return neural(rng.normal(size=(n, k, t)), [f"img{i}" for i in range(n)], [f"n{j}" for j in range(k)])


def small_features(seed=0, n=8, p=12):
    from neuroxr.layouts import features

    rng = np.random.default_rng(seed)
    return features(rng.normal(size=(n, p)), [f"img{i}" for i in range(n)], model="net", layer="fc")


# --- features and responses sharing a linear map (arrays, for the missing-value tests)
def linear_arrays(seed=0, n=30, k=6, t=4, p=8):
    """``(F, R)``: features ``(n, p)`` and responses ``(n, k, t)`` = ``F W`` plus noise of sd 2."""
    rng = np.random.default_rng(seed)
    F = rng.standard_normal((n, p))
    R = (F @ rng.standard_normal((p, k)))[:, :, None] + 2.0 * rng.standard_normal((n, k, t))
    return F, R


# --- values constant up to rounding
def near_constant(n: int, value: float = 0.1) -> np.ndarray:
    """(n,) ``value + (0.3 i - 0.3 i)`` computed as ``i * 0.1 * 3 - i * 0.3``: constant but for
    rounding (a spread of about 1e-15), not exactly constant."""
    i = np.arange(n, dtype=float)
    x = value + (i * 0.1 * 3 - i * 0.3)
    assert np.ptp(x) > 0
    return x


# --- labeled data sharing a latent
def latent_sets(seed: int = 0, n_stimuli: int = 36, n_neuroids: int = 10, regions=None, nan_trial=None, **neural_coords):
    """Two feature layers (14 and 9 units) and neural responses (4 repeats) that share a 5-d latent.

    ``regions``: the ``region`` coord of the neuroids; ``nan_trial``: a ``(stimulus, neuroid, repeat)``
    index made NaN (a missing trial). Stimulus ids ``s00``, ``s01``, ... (sorted: canonical order).
    """
    from neuroxr import features, neural

    rng = np.random.default_rng(seed)
    stim = [f"s{i:02d}" for i in range(n_stimuli)]
    latent = rng.normal(size=(n_stimuli, 5))
    f1 = latent @ rng.normal(size=(5, 14)) + 0.5 * rng.normal(size=(n_stimuli, 14))
    f2 = latent @ rng.normal(size=(5, 9)) + 1.0 * rng.normal(size=(n_stimuli, 9))
    resp = (latent @ rng.normal(size=(5, n_neuroids)))[:, :, None] + rng.normal(size=(n_stimuli, n_neuroids, 4))
    if nan_trial is not None:
        resp[nan_trial] = np.nan
    coords = dict(neural_coords, **({"region": regions} if regions is not None else {}))
    neu = neural(resp, stim, [f"n{j}" for j in range(n_neuroids)], **coords)
    return features(f1, stim, model="net", layer="l1"), features(f2, stim, model="net", layer="l2"), neu


def latent_study(path, seed: int = 0, n_stimuli: int = 36, n_neuroids: int = 10, layers=("l1",), unit_chunk=None,
                 storage_options=None):
    """``(store, f1, f2, neu)``: a StudyStore at ``path`` (a folder or URL; fsspec ``storage_options``) holding
    neural set ``mA`` and the ``layers`` of model ``net`` (of ``l1``, ``l2``; ``unit_chunk`` units a chunk, None:
    the writer's default) from :func:`latent_sets` (``seed``, ``n_stimuli``, ``n_neuroids``), and the three sets drawn."""
    from neuroxr.store import StudyStore

    f1, f2, neu = latent_sets(seed, n_stimuli, n_neuroids)
    st = StudyStore(path, storage_options=storage_options)
    st.write_neural("mA", neu)
    chunks = {} if unit_chunk is None else {"unit_chunk": unit_chunk}
    for layer, values in (("l1", f1), ("l2", f2)):
        if layer in layers:
            st.write_features("net", layer, values, **chunks)
    return st, f1, f2, neu

# --- sweep fixtures
#: Two models, two layers each: (layer, units, shared fraction with the latent, private dims).
SWEEP_MODELS = {
    "netA": (("layer1", 60, 0.4, 8), ("layer3", 32, 1.0, 0)),
    "netB": (("conv1", 50, 0.5, 8), ("fc", 24, 0.6, 4)),
}


@pytest.fixture(scope="session")
def sweep_base_store(tmp_path_factory):
    """A small example study (2 animals with IT/V4 regions, 2 models), never written to by tests."""
    from neuroxr.datasets.synthetic import write_example_study

    path = tmp_path_factory.mktemp("sweep") / "base.zarr"
    write_example_study(path, seed=0, n_stimuli=120, animals={"animalA": 20, "animalB": 16}, models=SWEEP_MODELS,
                        unit_chunk=16)
    return path


@pytest.fixture
def sweep_copy(sweep_base_store, tmp_path):
    """``sweep_copy(name="study.zarr")``: a fresh copy of the sweep base store under ``tmp_path``."""
    def _copy(name: str = "study.zarr"):
        dst = tmp_path / name
        shutil.copytree(sweep_base_store, dst)
        return dst

    return _copy


# --- time fixtures
TIME_BINS = [(0, 10), (10, 20), (20, 30)]


def two_animal_store(path, regions=None, more_layers=False):
    """A StudyStore at ``path`` with 20 stimuli: animals mA, mB (4 neuroids, 4 repeats; ``regions`` per
    neuroid if given) and layer net.l1 (6 units); ``more_layers``: also net.l2 and net2.l1 (5 units each)."""
    from neuroxr.layouts import features, neural
    from neuroxr.store import StudyStore

    rng = np.random.default_rng(0)
    ids = [f"s{i:02d}" for i in range(20)]
    st = StudyStore(path)
    for name in ("mA", "mB"):
        coords = {} if regions is None else {"region": regions}
        st.write_neural(name, neural(rng.normal(size=(20, 4, 4)), ids, [f"{name}_n{j}" for j in range(4)], **coords))
    st.write_features("net", "l1", features(rng.normal(size=(20, 6)), ids))
    if more_layers:
        st.write_features("net", "l2", features(rng.normal(size=(20, 5)), ids))
        st.write_features("net2", "l1", features(rng.normal(size=(20, 5)), ids))
    return st


def time_sets(seed=0, n=40, p=8, ka=5, kb=4, T=3):
    """A feature set ``net.l1`` and two time-resolved animals (3 bins) sharing stimuli (time-resolved tests)."""
    import neuroxr as nx

    rng = np.random.default_rng(seed)
    stim = [f"s{i:03d}" for i in rng.permutation(n)]
    F = nx.features(rng.normal(size=(n, p)), stimulus_id=stim, model="net", layer="l1")
    lat = F.values @ rng.normal(size=(p, ka + kb))
    gain = np.linspace(0.3, 1.0, len(TIME_BINS))
    R = lat[:, :, None, None] * gain + rng.normal(size=(n, ka + kb, T, len(TIME_BINS)))
    A = nx.neural(R[:, :ka], stimulus_id=stim, time_bins=TIME_BINS, region="IT")
    B = nx.neural(R[:, ka:], stimulus_id=stim, time_bins=TIME_BINS, region="IT")
    return F, A, B


# --- seed fixtures
def seed_study(path):
    """A StudyStore at ``path`` with 20 stimuli: neural set 'rep' (4 repeats: its ceiling draws halves), trial-averaged
    'avg' (1 repeat: none drawn), layers net.l1 and net2.l1 (when a score's seed draws anything)."""
    from neuroxr.layouts import features, neural
    from neuroxr.store import StudyStore

    rng = np.random.default_rng(0)
    ids = [f"s{i:02d}" for i in range(20)]
    st = StudyStore(path)
    st.write_neural("rep", neural(rng.normal(size=(20, 4, 4)), ids, [f"r{j}" for j in range(4)]))
    st.write_neural("avg", neural(rng.normal(size=(20, 3, 1)), ids, [f"a{j}" for j in range(3)]))
    st.write_features("net", "l1", features(rng.normal(size=(20, 6)), ids))
    st.write_features("net2", "l1", features(rng.normal(size=(20, 5)), ids))
    return st


# --- objstore fixtures
def as_in_a_new_process(monkeypatch) -> None:
    """Forget the inventory shards this process read or wrote (``monkeypatch`` restores them): what follows reads
    the inventory as a new process would."""
    import neuroxr.store.inventory as inventory

    monkeypatch.setattr(inventory, "_KNOWN", type(inventory._KNOWN)())
    monkeypatch.setattr(inventory, "_known_bytes", 0)


class _RequestLog:
    """WSGI middleware recording ``(method, path, query)`` of every request a moto server answers: all of them in
    ``requests``, those of a block in the list :meth:`counting` yields."""

    def __init__(self, app):
        self.app, self.requests, self._counters = app, [], ()

    def __call__(self, environ, start_response):
        request = (environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""))
        self.requests.append(request)
        for got in self._counters:  # a tuple, replaced (never changed) by counting(): safe from the server's threads
            got.append(request)
        return self.app(environ, start_response)

    @contextlib.contextmanager
    def counting(self, new_process: bool = False) -> Iterator[list[tuple[str, str, str]]]:
        """``with log.counting() as got:``: ``got`` lists the ``(method, path, query)`` of the requests made in the
        block, appended as they come (nested blocks each count theirs); it is kept, unchanged, after the block.
        ``new_process``: the block runs as in a new process (:func:`as_in_a_new_process`, restored after it)."""
        got: list[tuple[str, str, str]] = []
        with pytest.MonkeyPatch.context() as monkeypatch:
            if new_process:
                as_in_a_new_process(monkeypatch)
            self._counters = (*self._counters, got)
            try:
                yield got
            finally:
                self._counters = tuple(c for c in self._counters if c is not got)


@pytest.fixture(scope="session")
def s3_server():
    """A moto S3 server on loopback (a free port) with a bucket ``bucket``; yields
    ``(storage_options, request_log)`` (its requests counted by ``request_log.counting()``). Skips when moto or s3fs
    is not installed."""
    import logging
    import os

    pytest.importorskip("s3fs")
    server_mod = pytest.importorskip("moto.server")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    srv = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    srv.start()
    log = _RequestLog(srv._server.app)
    srv._server.app = log
    host, port = srv.get_host_and_port()
    options = {"endpoint_url": f"http://{host}:{port}", "key": "testing", "secret": "testing"}
    import s3fs

    try:
        s3fs.S3FileSystem(**options).mkdir("bucket")
    except FileExistsError:  # moto's backends are per process: a bucket of an earlier server is still there
        pass
    yield options, log
    srv.stop()


@pytest.fixture(scope="session")
def s3_study(s3_server):
    """``s3_study(neural_sets={"mA": None}, layer=True)``: a new StudyStore on the moto server under a prefix of its
    own (``s3://bucket/<8 hex digits>/study.zarr``), holding each of ``neural_sets`` (name -> regions of its 4
    neuroids, or None; 12 stimuli ``s00``.., 2 repeats) then, when ``layer``, layer ``net.l1`` (5 units), drawn in
    that order from one generator of seed 0. ``s3_study({}, layer=False)``: an empty store."""
    from neuroxr.layouts import features, neural
    from neuroxr.store import StudyStore

    options, _ = s3_server

    def make(neural_sets: dict[str, list[str] | None] | None = None, layer: bool = True) -> StudyStore:
        st = StudyStore(f"s3://bucket/{uuid.uuid4().hex[:8]}/study.zarr", storage_options=options)
        rng = np.random.default_rng(0)
        ids = [f"s{i:02d}" for i in range(12)]
        for name, regions in ({"mA": None} if neural_sets is None else neural_sets).items():
            coords = {} if regions is None else {"region": regions}
            st.write_neural(name, neural(rng.normal(size=(12, 4, 2)), ids, **coords))
        if layer:
            st.write_features("net", "l1", features(rng.normal(size=(12, 5)), ids))
        return st

    return make


# --- the command line
def cli_store(path, layers=("l1", "l2")):
    """The command-line tests' small store: neural set mA (16 stimuli, regions IT and V4, 2 repeats) and
    model net's ``layers`` (l1: 6 units, l2: 4)."""
    from neuroxr.layouts import features, neural
    from neuroxr.store import StudyStore

    rng = np.random.default_rng(3)
    stim = [f"s{i:02d}" for i in range(16)]
    st = StudyStore(path)
    st.write_neural("mA", neural(rng.normal(size=(16, 5, 2)), stim, region=["IT"] * 3 + ["V4"] * 2))
    for layer, p in zip(("l1", "l2"), (6, 4)):
        values = rng.normal(size=(16, p))
        if layer in layers:
            st.write_features("net", layer, features(values, stim))
    return st


@pytest.fixture
def runner():
    """A click test runner for ``neuroxr.cli.main``."""
    from click.testing import CliRunner

    return CliRunner()


@pytest.fixture
def geometry_study(tmp_path):
    """A store with one animal (6 neuroids in regions IT and V4, 3 repeats) and two layers of one
    model (``net.conv1`` sharing a latent with it, ``net.fc`` noise), 24 stimuli."""
    from neuroxr.layouts import features, neural
    from neuroxr.store import StudyStore

    rng = np.random.default_rng(1)
    stim = [f"s{i:02d}" for i in range(24)]
    latent = rng.normal(size=(24, 3))
    store = StudyStore(tmp_path / "geo.zarr")
    resp = (latent @ rng.normal(size=(3, 6)))[:, :, None] + rng.normal(size=(24, 6, 3))
    store.write_neural("monkeyA", neural(resp, stim, region=["IT"] * 4 + ["V4"] * 2))
    store.write_features("net", "conv1", features(latent @ rng.normal(size=(3, 10)) + rng.normal(size=(24, 10)), stim))
    store.write_features("net", "fc", features(rng.normal(size=(24, 5)), stim))
    return store


def as_older_writer(group, keep=()) -> None:
    """Make the complete Zarr ``group`` (opened ``r+``) look as a neuroxr that recorded no digests wrote
    it: its attrs, completion-record and arrays' attrs digests dropped (but those named in ``keep``: one that recorded
    the attrs digest alone keeps ``neuroxr_attrs_digest``) and its version token without the mark saying
    both were recorded (a new token: entries computed from it before are stale)."""
    from neuroxr.store._zarr import ARRAYS_ATTR, DIGEST_ATTR, DIGESTS_MARK, MARKS_ATTR, TOKEN_ATTR

    attrs = dict(group.attrs)
    for name in {DIGEST_ATTR, MARKS_ATTR, ARRAYS_ATTR} - set(keep):
        attrs.pop(name, None)
    attrs[TOKEN_ATTR] = str(attrs[TOKEN_ATTR]).removesuffix(DIGESTS_MARK)
    group.attrs.put(attrs)


@pytest.fixture
def undefined_study(tmp_path):
    """30 stimuli: a feature layer ``net.l1`` and an animal ``mA`` whose neuroid ``n0`` responds to one
    stimulus only, so a bootstrap resample without it has an undefined EV for ``n0``."""
    from neuroxr.layouts import features, neural
    from neuroxr.store import StudyStore

    rng = np.random.default_rng(0)
    stim = [f"s{i:02d}" for i in range(30)]
    F = rng.normal(size=(30, 6))
    R = (F @ rng.normal(size=(6, 5)))[:, :, None] + rng.normal(size=(30, 5, 4))
    R[:, 0, :] = 0.0
    R[0, 0, :] = [5.0, 5.1, 4.9, 5.05]
    store = StudyStore(tmp_path / "undefined.zarr")
    store.write_features("net", "l1", features(F, stim))
    store.write_neural("mA", neural(R, stim, [f"n{j}" for j in range(5)]))
    return store


@pytest.fixture
def constant_layer_study(tmp_path):
    """20 stimuli, one model ``net``: two random layers ``l1`` (8 units), ``l2`` (6 units) and a layer
    ``const`` (5 units) with no variance across the stimuli, whose CKA and shape distance are undefined."""
    from neuroxr.layouts import features
    from neuroxr.store import StudyStore

    rng = np.random.default_rng(5)
    stim = [f"s{i:03d}" for i in range(20)]
    store = StudyStore(tmp_path / "constant.zarr")
    store.write_features("net", "l1", features(rng.standard_normal((20, 8)), stim))
    store.write_features("net", "l2", features(rng.standard_normal((20, 6)), stim))
    store.write_features("net", "const", features(np.ones((20, 5)), stim))
    return store


# --- real data (shared/data beside the repository, or NEUROXR_SHARED_DATA)
def _shared_data():
    env = os.environ.get("NEUROXR_SHARED_DATA")
    if env:
        return Path(env)
    p = Path(__file__).resolve().parents[2] / "shared" / "data"
    return p if p.is_dir() else None


SHARED = _shared_data()
V4 = SHARED / "cowley2023_v4" if SHARED else None
K92 = SHARED / "kriegeskorte2008_92images" if SHARED else None
needs_v4 = pytest.mark.skipif(
    V4 is None or not (V4 / "responses_raw_210325.npy").is_file(),
    reason="V4 data of Cowley et al. 2023 not found: put shared/data/cowley2023_v4 beside the "
    "repository or set NEUROXR_SHARED_DATA",
)
needs_k92 = pytest.mark.skipif(
    K92 is None or not (K92 / "92_brainRDMs.mat").is_file(),
    reason="92-image RDMs of Kriegeskorte et al. 2008 not found: put shared/data/kriegeskorte2008_92images "
    "beside the repository or set NEUROXR_SHARED_DATA",
)


# ---------------------------------------------------------------------------- permutation property tests
def derangement(n: int, seed: int) -> np.ndarray:
    """A seeded permutation of ``n`` positions that is never the identity (rolled by one if drawn so)."""
    p = np.random.default_rng(seed).permutation(n)
    return np.roll(p, 1) if np.array_equal(p, np.arange(n)) else p


def permuted_stimuli(keys: tuple[str, ...]):
    """A transform of a dict of inputs permuting the stimuli of those named ``keys``, each its own order."""
    def go(d):
        return {k: (v.isel(stimulus=derangement(v.sizes["stimulus"], 10 + i)) if k in keys else v)
                for i, (k, v) in enumerate(d.items())}
    return go


def permuted_units(d):
    """Each input's units (keys starting with ``F``) or neuroids (the others) in another order."""
    out = {}
    for i, (k, v) in enumerate(d.items()):
        dim = "unit" if k.startswith("F") else "neuroid"
        out[k] = v.isel({dim: derangement(v.sizes[dim], 20 + i)})
    return out


def permuted_repeats(d):
    """Each input with repeats in another order (one permutation for all)."""
    return {k: (v.isel(repeat=derangement(v.sizes["repeat"], 30)) if "repeat" in v.dims else v) for k, v in d.items()}
