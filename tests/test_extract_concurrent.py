"""Two extractions of one model into one store at once: a commit never replaces a copy that another
process wrote after this extraction was planned, unless it is this very extraction."""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from neuroxr.errors import WriteConflictError  # noqa: E402
from neuroxr.extract import extract_features  # noqa: E402
from neuroxr.store import StudyStore  # noqa: E402

X = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)


def net(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2), nn.Linear(2, 2))


def interleaved(seed: int, other: dict | None = None) -> nn.Sequential:
    """``net(seed)`` with a module (layer "1") that runs the extraction ``other`` (keyword arguments of
    :func:`extract_features`) whole during this extraction's second batch, before any of its commits.
    Its layers "0", "2" and "3" are net's three Linear layers."""
    calls = {"n": 0}

    class Other(nn.Module):
        def forward(self, h):
            calls["n"] += 1
            if other is not None and calls["n"] == 4:  # two calls probe the model, then batches of 2
                other["result"] = extract_features(**other["kw"])
            return h

    base = net(seed)
    return nn.Sequential(base[0], Other(), base[1], base[2])


def layer(store: StudyStore, name: str) -> np.ndarray:
    return np.asarray(store.read_features("m", name).values)


def features(seed: int, depth: int) -> np.ndarray:
    """What ``net(seed)``'s layer ``depth`` (0, 1 or 2) outputs for X."""
    h = torch.from_numpy(X)
    for m in list(net(seed))[: depth + 1]:
        h = m(h)
    return h.detach().numpy()


def test_an_overwrite_keeps_the_copy_another_overwrite_committed_meanwhile(tmp_path):
    """B (other weights, --overwrite) rewrote layer 0 while A's overwrite ran: A's commit of layer 0
    is refused (one line), B's copy is kept, and no other layer of A's pass is committed beside it."""
    path = tmp_path / "s.zarr"
    kw = dict(model_name="m", batch_size=2, progress=False)
    extract_features(interleaved(2), X, path, layers=["0", "2"], **kw)  # the copy both overwrite
    other = {"kw": dict(model=interleaved(1), stimuli=X, store=path, layers=["0"], overwrite=True, **kw)}
    with pytest.raises(WriteConflictError, match=r"'features/m/0' was rewritten by another process while this overwrite ran"
                       ) as e:
        extract_features(interleaved(0, other), X, path, layers=["0", "2"], overwrite=True, **kw)
    assert "\n" not in str(e.value)
    assert other["result"].written == ["0"]
    store = StudyStore(path)
    np.testing.assert_allclose(layer(store, "0"), features(1, 0), rtol=1e-6)  # B's
    np.testing.assert_allclose(layer(store, "2"), features(2, 1), rtol=1e-6)  # the old copy, not A's
    assert sorted(store.layers("m")) == ["0", "2"]


def test_an_overwrite_refuses_a_layer_another_process_completed_after_it_was_planned(tmp_path):
    """A layer absent when A's overwrite was planned and written by B meanwhile is B's: kept."""
    path = tmp_path / "s.zarr"
    kw = dict(model_name="m", batch_size=2, progress=False)
    other = {"kw": dict(model=interleaved(1), stimuli=X, store=path, layers=["0"], **kw)}
    with pytest.raises(WriteConflictError, match=r"'features/m/0' was written by another process while this write ran") as e:
        extract_features(interleaved(0, other), X, path, layers=["0", "2"], overwrite=True, **kw)
    from neuroxr.cli._advice import cli_advice  # the command line names its flag, not 'ask for an overwrite'

    assert cli_advice(str(e.value)).endswith("(run the command again with --overwrite to replace it).")
    store = StudyStore(path)
    np.testing.assert_allclose(layer(store, "0"), features(1, 0), rtol=1e-6)
    assert store.layers("m") == ["0"]


@pytest.mark.parametrize("overwrite", [False, True])
def test_an_identical_extraction_committed_meanwhile_counts_as_skipped(tmp_path, overwrite):
    """B extracts the same weights and stimuli while A runs: A keeps B's identical copy of layer 0 (skipped),
    commits its other layer, and fails nothing."""
    path = tmp_path / "s.zarr"
    kw = dict(model_name="m", batch_size=2, progress=False)
    if overwrite:
        extract_features(interleaved(2), X, path, layers=["0", "2"], **kw)
    other = {"kw": dict(stimuli=X, store=path, layers=["0"], overwrite=overwrite, **kw)}
    a = interleaved(0, other)
    other["kw"]["model"] = copy.deepcopy(a)  # B: the same model (its class and closure shared; its calls trigger nothing)
    res = extract_features(a, X, path, layers=["0", "2"], overwrite=overwrite, **kw)
    assert other["result"].written == ["0"]
    assert res.written == ["2"] and res.skipped == ["0"]
    store = StudyStore(path)
    np.testing.assert_allclose(layer(store, "0"), features(0, 0), rtol=1e-6)
    np.testing.assert_allclose(layer(store, "2"), features(0, 1), rtol=1e-6)


def test_validate_and_info_name_a_model_whose_layers_record_different_extractions(tmp_path, capsys):
    """Layer 2 added later from other weights under the same model name: each layer is whole, but the
    model mixes two networks. validate_store warns (no violation) and info lists it; one network's
    layers draw no note."""
    import json
    import warnings

    from neuroxr.cli import main
    from neuroxr.errors import NeuroxrWarning
    from neuroxr.schemas import validate_store

    path = tmp_path / "s.zarr"
    kw = dict(model_name="m", batch_size=2, progress=False)
    extract_features(interleaved(0), X, path, layers=["0", "3"], **kw)
    extract_features(interleaved(0), X, path, layers=["2"], **kw)  # the same network, later
    with warnings.catch_warnings():
        warnings.simplefilter("error", NeuroxrWarning)
        assert validate_store(str(path)) == []
    extract_features(interleaved(1), X, path, layers=["2"], overwrite=True, **kw)  # another network's layer 2
    with pytest.warns(NeuroxrWarning, match=r"features/m: its layers record different extractions: the model differs .* "
                                            r"between layers 0, 3; layers 2;"):
        assert validate_store(str(path)) == []
    with pytest.raises(SystemExit) as e:
        main(["info", str(path), "--json"])
    assert e.value.code in (0, None)
    mixed = json.loads(capsys.readouterr().out)["mixed_extractions"]
    assert [d["model"] for d in mixed] == ["m"] and "--overwrite" in mixed[0]["problem"]


def test_a_new_layer_of_another_network_under_a_model_name_is_refused(tmp_path):
    """Layers added to a model name whose stored layers are of another network (or another
    preprocessing) would mix two networks: refused in one line before any pass; the same network's
    new layers, and an explicit overwrite, are not."""
    from neuroxr.extract import ExtractionError

    path = tmp_path / "s.zarr"
    kw = dict(model_name="m", batch_size=2, progress=False)
    extract_features(interleaved(0), X, path, layers=["0"], **kw)
    with pytest.raises(ExtractionError, match=r"model 'm' holds layers of another extraction \(layer 'features/m/0': the "
                                              r"model differs") as e:
        extract_features(interleaved(1), X, path, layers=["2"], **kw)
    assert "\n" not in str(e.value) and "--model-name" in str(e.value)
    assert StudyStore(path).layers("m") == ["0"]
    with pytest.raises(ExtractionError, match=r"the preprocessing differs"):
        extract_features(interleaved(0), X, path, layers=["2"], transform=lambda x: 2 * torch.as_tensor(x), **kw)
    assert extract_features(interleaved(0), X, path, layers=["2"], **kw).written == ["2"]


def test_a_partial_overwrite_from_another_network_warns_of_the_mixed_model(tmp_path):
    """--overwrite of some layers from other weights leaves the model mixed: the extraction says so in
    one warning naming the layers; an overwrite of every layer, or from the same network, does not."""
    import warnings

    from neuroxr.errors import NeuroxrWarning

    path = tmp_path / "s.zarr"
    kw = dict(model_name="m", batch_size=2, progress=False)
    extract_features(interleaved(0), X, path, layers=["0", "2", "3"], **kw)
    with pytest.warns(NeuroxrWarning, match=r"features/m: its layers record different extractions: the model differs .* "
                                            r"between layers 0, 3; layers 2;") as got:
        extract_features(interleaved(1), X, path, layers=["2"], overwrite=True, **kw)
    assert "\n" not in str(got[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NeuroxrWarning)
        extract_features(interleaved(1), X, path, layers=["0", "3"], overwrite=True, **kw)  # the rest: one network again
        extract_features(interleaved(1), X, path, layers=["2"], overwrite=True, **kw)  # the same network's layer
