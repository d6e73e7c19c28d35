"""The networks the shape metrics compare, as every one of them reads them: values as arrays
(:func:`_network_array`), checked finite (:func:`_check_finite`) and on enough stimuli
(:func:`check_shape_stimuli`), a list or dict of networks paired by ``stimulus_id``
(:func:`_as_network_list`), neural responses as their trial average (:func:`_trial_averaged`).
Used by :mod:`~neuroxr.geometry.shape`, :mod:`~neuroxr.geometry.shape_inference` and
:mod:`~neuroxr.geometry.cluster`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from ..alignment import align, canonical_order
from ..backend import get_namespace
from ..errors import LayoutError, too_few_stimuli
from ..errors import shown as shown_value
from ..validation import real_array
from ._common import _arg, _canonical, _ids, _is_neural, _label, _named, _one_bin

#: What the shape metrics keep when a network is scaled (:func:`check_shape_range`'s refusal).
SHAPE_SCALE_NOTE = "(angular distances with alpha=1 do not change; Euclidean distances scale by the same factor)"


def _check_finite(M: Any, name: str, caller: str = "LinearMetric") -> None:
    """A one-line ``LayoutError`` (``caller: name ...``, ``caller`` the public function called) for a
    representation ``M`` that is not a finite, real (stimulus, unit) array, or whose squares leave the
    normal range of its dtype (:func:`check_shape_range`)."""
    xp = get_namespace(M)
    if M.ndim == 3:  # neural responses (stimulus, neuroid, repeat)
        raise LayoutError(f"{caller}: {name} has shape {tuple(M.shape)}, neural responses with repeats; average them first "
                          f"(e.g. {_arg(name)}.mean('repeat')), or use split_distance / shape_bootstrap, which do.")
    if M.ndim != 2:  # (images (stimulus, y, x, rgb) were told they need a stimulus and a unit)
        raise LayoutError(f"{caller}: {name} has shape {tuple(M.shape)}; a shape metric compares 2-D (stimulus, unit) "
                          f"representations: flatten the other dims into units first (e.g. {_arg(name)}.reshape(len("
                          f"{_arg(name)}), -1), or .stack(unit=[...]) for a DataArray).")
    if 0 in M.shape:
        raise LayoutError(f"{caller}: {name} has shape {tuple(M.shape)}; it needs at least one stimulus (rows) and one unit.")
    if not xp.isdtype(M.dtype, ("real floating", "integral")):  # torch / CuPy arrays (NumPy: real_array)
        raise LayoutError(f"{caller}: {name}: expected a (stimulus, unit) array of real numbers; got dtype {M.dtype}.")
    bad = int(xp.sum(xp.astype(~xp.isfinite(M), xp.int64))) if xp.isdtype(M.dtype, "real floating") else 0
    if bad:
        raise LayoutError(
            f"{caller}: {name} holds {bad} NaN or infinite values; the shape metric needs complete, finite data. "
            f"Drop or impute the stimuli or units with them first (e.g. {_arg(name)}.dropna('stimulus') for the stimuli "
            f"holding one, {_arg(name)}.dropna('unit') for the units)."
        )
    check_shape_range(M, name, caller)


def check_shape_range(M: Any, name: str, caller: str) -> None:
    """A one-line ``LayoutError`` (:func:`~neuroxr.kernels.gram_rows.check_range`, the rule of RDMs,
    CKA and the directions) for a finite network ``M`` whose largest magnitude squares out of the
    normal range of its dtype (float64: beyond about ``1e+-154``; float32: ``1e+-19``): its
    covariances overflowed or underflowed, and the distances came out NaN or wrong with NumPy's
    warning only. The whole network is judged (one max and one min pass): its alignment and
    distances are sums over all its units, so a single small unit among others loses nothing."""
    from ..kernels.gram_rows import check_range

    check_range(M, f"{caller}: {name}", arg=_arg(name), note=SHAPE_SCALE_NOTE)


def refuse_dataset(M: Any, name: str, caller: str) -> None:
    """A one-line :class:`LayoutError` for a Dataset (a Gram Dataset among them) or a labeled RDM
    ``(stimulus, stimulus_)`` given as a network: a shape metric aligns the representations themselves,
    which neither holds (an RDM's columns were read as units: a distance between RDMs, no error); and
    for time-resolved responses (a ``time_bin`` dim), told to select one bin as every geometry metric
    tells it (:func:`~neuroxr.geometry._common._one_bin`), never to flatten the bins into units."""
    _one_bin(M, name, caller)
    if isinstance(M, xr.Dataset):
        raise LayoutError(f"{caller}: {name} is a Dataset{' (a Gram)' if 'K' in M.data_vars else ''}; the shape metrics "
                          "align the (stimulus, unit) representations themselves: pass the features DataArray "
                          "(e.g. store.read_features(model, layer)) or its array.")
    if isinstance(M, xr.DataArray) and "stimulus_" in M.dims:
        raise LayoutError(f"{caller}: {name} has dims {tuple(M.dims)}, an RDM (or similarity matrix); the shape metrics align "
                          "the (stimulus, unit) representations themselves: pass the features or responses it was computed "
                          "from, or compare RDMs with neuroxr.geometry.compare_rdms.")


def _network_array(M: Any, name: str, caller: str) -> Any:
    """The values of one network ``M`` (an array or DataArray; ``name`` as the messages show it, after
    ``caller``) as every shape metric reads them, before :func:`_check_finite`: NumPy input (arrays,
    lists, pandas DataFrames, DataArrays) as float64, bool, integer and float32 too
    (:func:`~neuroxr.validation.real_array`: text refused; the precision of the stored entries);
    other array-API arrays (torch, CuPy) in their namespace and floating dtype, bool and integer
    as float64."""
    refuse_dataset(M, name, caller)
    if isinstance(M, xr.DataArray):  # labeled: stimuli are rows whatever the dims' order
        M = (M.transpose("stimulus", ...) if "stimulus" in M.dims else M).values
    if isinstance(M, np.ndarray) or not hasattr(M, "shape") or hasattr(M, "to_numpy"):  # (a pandas DataFrame: its values)
        M = real_array(M, f"{caller}: {name}", "a (stimulus, unit) array")
    elif get_namespace(M).isdtype(M.dtype, ("bool", "integral")) or M.dtype == get_namespace(M).float16 or _bfloat16(M):
        M = get_namespace(M).astype(M, get_namespace(M).float64)  # half as NumPy's is read (torch's SVD has none)
    return M


def _bfloat16(M: Any) -> bool:
    """Whether ``M`` (an array-API array) holds bfloat16 values (torch's; no array-API name), read as float64 as half is."""
    return str(M.dtype).endswith("bfloat16")


def on_fit_device(arrays: Any, fitted: Any) -> list[Any]:
    """``arrays`` with the NumPy ones read onto the device of ``fitted`` (a fit's torch or CuPy array): a fit
    scores NumPy networks as a NumPy fit scores torch ones (NumPy's subtraction of torch means failed)."""
    if isinstance(fitted, np.ndarray):
        return list(arrays)
    return [get_namespace(fitted).asarray(a, device=fitted.device) if isinstance(a, np.ndarray) else a for a in arrays]


def same_library(arrays: list[Any], names: list[str], caller: str, dtype: Any = None) -> list[Any]:
    """``arrays`` (the networks' values) in one floating dtype, ``dtype`` (e.g. that of a fit, for
    the networks it scores) or else their promoted one (torch's matmul does not promote: float32 with
    float64 networks was a RuntimeError; NumPy's are float64 already); a one-line
    :class:`LayoutError` when they are arrays of different libraries (NumPy and torch): the shape
    metrics compute on one (array-API-compat's own error named no network)."""
    kinds = [type(a).__module__.split(".")[0] for a in arrays]
    if len(set(kinds)) > 1:
        shown = ", ".join(f"{n}: {k}" for n, k in zip(names, kinds))
        raise LayoutError(f"{caller}: the networks are arrays of different libraries ({shown}); pass them all as one kind "
                          "(e.g. torch.as_tensor(x) for each, or x.cpu().numpy()).")
    if dtype is None and arrays:
        dtype = get_namespace(*arrays).result_type(*arrays)
    lib = type(dtype).__module__.split(".")[0]  # a fit's dtype casts its own library's arrays only (CuPy's promote)
    return [a if a.dtype == dtype or type(a).__module__.split(".")[0] != lib else get_namespace(a).astype(a, dtype)
            for a in arrays]


def check_shape_stimuli(n: int, center_columns: bool, name: str, caller: str) -> None:
    """One-line :class:`~neuroxr.errors.LayoutError` (:func:`~neuroxr.errors.too_few_stimuli`) when
    the ``n`` stimuli of the representations ``name`` leave no shape to compare: centred, fewer than
    3 (2 centred stimuli lie on a line, every angular distance is 0); uncentred, fewer than 2."""
    need = 3 if center_columns else 2
    if n < need:
        line = "the centred stimuli lie on one line: every angular distance is 0" if center_columns and n == 2 else ""
        raise too_few_stimuli(caller, name, n, "a shape metric" + (" with center_columns=False" if not center_columns else ""),
                              line, need, "pass representations of at least {need} stimuli.")


def _as_network_list(data: Any, arg: str, caller: str) -> tuple[list[Any], list[str], np.ndarray | None]:
    """The networks of ``data`` (a list or dict), their names (the dict keys, else their labels) and
    stimulus ids; the messages start with ``caller`` (the public function called) and name each
    network as an item of its argument ``arg`` (``train_data[0] (net/l1)``)."""
    if not isinstance(data, (Mapping, list, tuple)):
        raise LayoutError(f"{caller}: {arg} must be a list, tuple or dict of networks (stimulus, unit); got {shown_value(data)}. "
                          f"Pass e.g. [X1, X2] or {{'net1': X1, 'net2': X2}}.")
    shown = _shown(data, arg)
    for it, nm in zip(data.values() if isinstance(data, Mapping) else data, shown):
        refuse_dataset(it, nm, caller)
    if isinstance(data, Mapping):
        names, items = [str(k) for k in data], list(data.values())
    else:
        items = list(data)
        names = [_label(it, f"network{i}") for i, it in enumerate(items)]
    if len(set(names)) < len(names):
        names = [f"{nm}#{i}" for i, nm in enumerate(names)]
    ids = None
    labeled = [i for i, it in enumerate(items) if isinstance(it, xr.DataArray)]
    if labeled:  # every labeled network paired by stimulus_id with the first labeled one, in canonical order
        r = labeled[0]
        ref = _canonical(items[r])
        # an unlabeled network lists its stimuli in the first labeled one's order as given (as unlabeled RDMs do)
        order = canonical_order(_ids(items[r])) if len(labeled) < len(items) else None
        items = [ref if i == r else align(ref, it, names=(shown[r], shown[i]), caller=caller)[1] if i in labeled
                 else _rows(it, order, shown[i], shown[r], caller) for i, it in enumerate(items)]
        ids = _ids(ref)
    items = [_network_array(it, nm, caller) for it, nm in zip(items, shown)]  # as LinearMetric reads them
    items = same_library(items, shown, caller)
    for nm, it in zip(shown, items):
        _check_finite(it, nm, caller)
    rows = {nm: int(np.shape(it)[0]) for nm, it in zip(shown, items) if len(np.shape(it)) >= 1}
    if len(set(rows.values())) > 1:
        raise LayoutError(f"{caller}: the networks have different numbers of stimuli (rows) {rows}; pass representations of the "
                          "same stimuli (labeled DataArrays are paired by stimulus_id).")
    return items, names, ids


def _shown(data: Any, arg: str) -> list[str]:
    """How the messages name each network of ``data`` (a list or dict, the argument ``arg``):
    ``arg[key]`` or ``arg[i] (label)``."""
    if isinstance(data, Mapping):
        return [f"{arg}[{k!r}]" for k in data]
    return [_named(it, f"{arg}[{i}]") for i, it in enumerate(data)]


def _rows(M: Any, order: np.ndarray, name: str, ref: str, caller: str) -> Any:
    """The unlabeled network ``M`` (its rows in the order of the labeled network ``ref`` as given) with
    its rows in ``ref``'s canonical ``order``; a one-line error when the row counts differ."""
    if hasattr(M, "to_numpy"):  # a pandas DataFrame: its values (array-API-compat knows no DataFrame)
        M = M.to_numpy()
    if len(np.shape(M)) == 0:  # (None, a number: it was said to have -1 stimuli)
        raise LayoutError(f"{caller}: {name}: expected a (stimulus, unit) array or a labeled DataArray; got {shown_value(M)}.")
    n = int(np.shape(M)[0])
    if n != order.shape[0]:
        raise LayoutError(f"{caller}: {name} (unlabeled) has {n} stimuli (rows) and {ref} {order.shape[0]}; an unlabeled network "
                          f"lists the stimuli of the first labeled one, in its order: pass the same stimuli, or label it "
                          f"with nx.features(..., stimulus_id=...).")
    return M[order] if isinstance(M, np.ndarray) else get_namespace(M).take(M, get_namespace(M).asarray(order), axis=0)


def _trial_averaged(A: Any) -> Any:
    """Neural responses ``(stimulus, neuroid, repeat)``, as :func:`~neuroxr.geometry._common._drop_unusable`
    returned them, as their trial average in the feature layout (the one average of the ``shape``
    entries, :func:`neuroxr.entries.metrics.averaged_as_features`); other inputs as given."""
    if _is_neural(A):
        from ..entries.metrics import _averaged_as_features

        return _averaged_as_features(A, "neural")
    return A


def take_rows(A: Any, s: np.ndarray) -> Any:
    """Rows ``s`` (host indices) of an array on any backend."""
    xp = get_namespace(A)
    return xp.take(A, xp.asarray(s, device=getattr(A, "device", None)), axis=0)


def canonical_pair(X: Any, Y: Any) -> tuple[Any, Any]:
    """Two labeled networks in canonical stimulus order (each, :func:`_canonical`), so sums over the
    stimuli round alike whatever order the inputs list them in (the fit and the distances of
    :class:`~neuroxr.geometry.LinearMetric`); anything else as given (an unlabeled one lists its
    stimuli in the labeled one's order)."""
    refuse_dataset(X, _named(X, "X"), "LinearMetric")  # before their ids are read
    refuse_dataset(Y, _named(Y, "Y"), "LinearMetric")
    if isinstance(X, xr.DataArray) and isinstance(Y, xr.DataArray):
        return _canonical(X), _canonical(Y)
    return X, Y
