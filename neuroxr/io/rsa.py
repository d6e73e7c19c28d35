"""rsatoolbox ``Dataset`` / ``RDMs`` <-> neuroxr neural arrays and RDM ``DataArray`` objects.

An rsatoolbox ``Dataset`` holds ``measurements`` of shape ``(n_obs, n_channels)`` with
``obs_descriptors`` (one value per observation: a stimulus id, optionally a run / repeat) and
``channel_descriptors`` (one per channel). An ``RDMs`` object holds ``n_rdm`` dissimilarity
vectors over the same patterns, named by ``pattern_descriptors``. neuroxr RDMs are
``DataArray`` objects with dims ``(stimulus, stimulus_)`` and coords ``stimulus_id`` /
``stimulus_id_`` (a stack of them has a leading ``rdm`` dim).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import LayoutError, install_advice, shown, warn
from ..layouts import validate_neural
from ..validation import real_array
from ._trials import as_str, build_neural, check_names, examples, ids_str, per_stimulus, plain_attrs, stack_trials

__all__ = ["from_rsatoolbox", "to_rsatoolbox", "from_rsatoolbox_rdms", "to_rsatoolbox_rdms", "stimulus_descriptor"]

RDM_DIMS = ("stimulus", "stimulus_")
#: observation / pattern descriptors that name the stimulus, in the order they are looked for
_STIMULUS_DESCRIPTORS = ("stimulus_id", "stimulus", "conds", "condition")


def stimulus_descriptor(descriptors: Any) -> str | None:
    """The first descriptor of ``descriptors`` (a dict) that names the stimulus
    (``stimulus_id``, ``stimulus``, ``conds``, ``condition``), else None: the one rule by which
    neuroxr reads the stimuli of an rsatoolbox object (``index`` is positions, not ids)."""
    return next((p for p in _STIMULUS_DESCRIPTORS if p in (descriptors or {})), None)


#: neuroxr RDM methods -> ``RDMs.dissimilarity_measure``. rsatoolbox's ``"euclidean"`` is the squared
#: distance divided by the channel count, not neuroxr's ``euclidean``, so those two get their own labels.
_MEASURES = {
    "correlation": "correlation",
    "cosine": "cosine",
    "euclidean": "euclidean (neuroxr, unnormalised)",
    "sqeuclidean": "squared euclidean (neuroxr, unnormalised)",
}


def _require_rsatoolbox() -> Any:
    try:
        import rsatoolbox
    except ImportError as exc:  # pragma: no cover - rsatoolbox is a test dependency
        raise LayoutError(f"rsatoolbox is not installed; {install_advice('rsatoolbox')} to convert its objects.") from exc
    return rsatoolbox


def _values(raw: Any) -> np.ndarray:
    """A descriptor's values as an array; a list as given: numpy would read the NaN in
    ``["a", nan]`` as the string 'nan' (a missing value must stay missing) and ``[1, "1"]`` as one id."""
    v = np.asarray(raw)
    return np.asarray(raw, dtype=object) if v.dtype.kind in "US" and not isinstance(raw, np.ndarray) else v


def _text(v: np.ndarray) -> np.ndarray:
    """Descriptor values that are all strings as a str array (as a neural array's coords are), else as given."""
    return v.astype(str) if v.dtype.kind == "O" and v.size and all(isinstance(x, str) for x in v.tolist()) else v


def _same(a: Any, b: Any) -> bool:
    """Whether two attr values are equal (arrays and lists element-wise)."""
    try:
        return bool(np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object)))
    except Exception:  # noqa: BLE001 - values numpy cannot compare
        return a is b


def _descriptor(desc: dict[str, Any], key: str, n: int, arg: str, what: str) -> np.ndarray:
    if key not in desc:
        raise LayoutError(f"{arg}: {what} has no descriptor {key!r}; found {sorted(desc)}. Pass {arg}=<one of them>.")
    v = _values(desc[key])
    if v.shape != (n,):
        raise LayoutError(f"{arg}: descriptor {key!r} of {what} has shape {v.shape}; expected ({n},).")
    return v


def _descriptor_attrs(desc: dict[Any, Any], what: str = "dataset") -> dict[str, Any]:
    """A dataset's (or ``RDMs``') ``descriptors`` as attrs: strings and numbers (numpy scalars, and the
    0-d arrays rsatoolbox's ``load_dataset`` reads from HDF5, as Python ones; bytes decoded). Any other
    value is left out with one warning naming it and ``what`` holds it."""
    attrs, left = plain_attrs(desc.items())
    if left:
        warn(f"{what}: descriptors {left} hold no string or number and are left out of the attrs; make them strings "
             f"or numbers ({what}.descriptors[key] = ...) to keep them.")
    return attrs


def from_rsatoolbox(
    dataset: Any,
    *,
    stimulus: str | None = None,
    repeat: str | bool | None = None,
    neuroid: str | None = None,
    name: str | None = None,
) -> xr.DataArray:
    """Convert an rsatoolbox ``Dataset`` to a neuroxr neural array.

    Parameters
    ----------
    dataset : rsatoolbox.data.Dataset
        ``measurements`` of shape ``(n_obs, n_channels)``, one observation per presentation.
    stimulus : str, optional
        Observation descriptor naming the stimulus. Default: the first of ``"stimulus_id"``,
        ``"stimulus"``, ``"conds"``, ``"condition"`` present.
    repeat : str or False, optional
        Observation descriptor numbering repeats (e.g. ``"run"``); its sorted values form the
        ``repeat`` dim. Default: the descriptor ``"repeat"`` when present (what
        :func:`to_rsatoolbox` writes, so the pair round-trips), else repeats are numbered by
        observation order within each stimulus. ``False`` numbers them by order whatever the
        descriptors (a ``repeat`` descriptor is then ignored).
    neuroid : str, optional
        Channel descriptor holding the neuroid ids. Default: ``"neuroid_id"`` or ``"name"`` when
        present, else ``"neuroid0"...``. Other channel descriptors become neuroid coords.
    name : str, optional
        Name of the result. Default: the dataset's descriptor ``name`` (what :func:`to_rsatoolbox`
        writes) when it is a string, else ``"neural"``.

    Returns
    -------
    xarray.DataArray, dims ``(stimulus, neuroid, repeat)``
        Other observation descriptors that take one value per stimulus become stimulus coords;
        those that vary within a stimulus (per-trial fields) are left out with one warning naming
        them. attrs: the dataset's scalar ``descriptors`` (str, int, float, bool, numpy scalars and
        0-d arrays, as ``rsatoolbox.data.load_dataset`` reads them from HDF5, as Python ones) under
        their own keys, but ``name``; any other descriptor is left out with one warning naming it.
    """
    if not hasattr(dataset, "measurements") or not hasattr(dataset, "obs_descriptors"):
        raise LayoutError(f"dataset: expected an rsatoolbox Dataset, got {type(dataset).__name__}.")
    check_names(("stimulus", "neuroid"), stimulus=stimulus, neuroid=neuroid)
    if not isinstance(repeat, (str, bool)) and repeat is not None:  # a list: "unhashable type"
        raise LayoutError(f"repeat: expected the name of an observation descriptor (a str), None or False; got {shown(repeat)}.")
    X = np.asarray(dataset.measurements)
    if X.ndim != 2:
        temporal = "" if X.ndim != 3 else (
            ", an rsatoolbox TemporalDataset (observation x channel x time): convert one time point at a time, e.g. "
            "from_rsatoolbox(rsatoolbox.data.Dataset(dataset.measurements[:, :, t], descriptors=dataset.descriptors, "
            "obs_descriptors=dataset.obs_descriptors, channel_descriptors=dataset.channel_descriptors))")
        raise LayoutError(f"dataset: measurements must be (n_obs, n_channels); got shape {X.shape}{temporal}.")
    n, k = X.shape
    obs = {k: _values(v) for k, v in (dataset.obs_descriptors or {}).items()}
    if stimulus is None:
        stimulus = next((d for d in _STIMULUS_DESCRIPTORS if d in obs), None)
        if stimulus is None:
            raise LayoutError(
                f"stimulus: dataset.obs_descriptors has none of {_STIMULUS_DESCRIPTORS} (found {sorted(obs)}); "
                f"pass stimulus=<the descriptor naming the stimulus>."
            )
    stim = _descriptor(obs, stimulus, n, "stimulus", "dataset.obs_descriptors")
    if repeat is True:
        raise LayoutError("repeat: pass the name of an observation descriptor, None (the default) or False (number by order).")
    ignored = "repeat" if repeat is False else None  # the descriptor the caller declined as repeat labels
    if repeat is None and "repeat" in obs:
        repeat = "repeat"
    repeat = repeat or None
    rep = None if repeat is None else _descriptor(obs, repeat, n, "repeat", "dataset.obs_descriptors")
    data, ids, labels = stack_trials(X, stim, rep, name="dataset", stimulus_arg=stimulus, repeat_arg=repeat or "repeat",
                                     by_order="repeat=False", copies="Drop the copied observations, or give the "
                                     "observations a repeat descriptor (repeat=<its name>) to keep them.")
    chans = dict(getattr(dataset, "channel_descriptors", None) or {})
    if neuroid is None:
        neuroid = next((c for c in ("neuroid_id", "name") if c in chans), None)
    neuroid_id = None
    if neuroid is not None:
        neuroid_id = ids_str(_descriptor(chans, neuroid, k, "neuroid", "dataset.channel_descriptors"), name="dataset",
                             what=f"channel descriptor {neuroid!r}", where="channels",
                             unique="give each channel its own id, or pass neuroid=<another channel descriptor>.")
    coords = {c: _values(v) for c, v in chans.items() if c not in (neuroid, "index") and np.shape(v) == (k,)}
    fields = [c for c, v in obs.items() if c not in (stimulus, repeat, ignored, "index") and np.shape(v) == (n,)]
    wide = sorted({str(c) for c, v in obs.items() if c not in (stimulus, repeat, ignored, "index", *fields)}
                  | {str(c) for c, v in chans.items() if c not in (neuroid, "index", *coords)})
    if wide:  # e.g. electrode positions (k, 2): the layout has one value per stimulus or neuroid
        warn(f"dataset: descriptors {wide} hold more than one value per observation or channel (or another count) and "
             f"are left out; split them into one descriptor per column (e.g. pos_x, pos_y) to keep them.")
    stim_coords = per_stimulus(obs, as_str(stim), ids, fields, "dataset", "observation descriptor", strict=False,
                               hint="To label the repeats by one of them, pass repeat=<its name>.")
    attrs = _descriptor_attrs(dict(getattr(dataset, "descriptors", None) or {}))
    if name is None:
        name = attrs["name"] if isinstance(attrs.get("name"), str) else "neural"
    attrs.pop("name", None)
    # a descriptor named like the layout's own dims or ids is refused (one named like its dim is that dim's coord)
    rename = "dataset.{0}[{{new}}] = dataset.{0}.pop({{old}})"
    return build_neural(data, ids, neuroid_id, labels, name=name, arg="dataset", attrs=attrs,
                        neuroid_coords=coords, stimulus_coords=stim_coords,
                        fields={"neuroid": ("channel descriptor", rename.format("channel_descriptors")),
                                "stimulus": ("observation descriptor", rename.format("obs_descriptors"))})


def to_rsatoolbox(neural: xr.DataArray, *, stimulus: str = "stimulus", repeat: str = "repeat") -> Any:
    """Convert a neuroxr neural array to an rsatoolbox ``Dataset``.

    Parameters
    ----------
    neural : xarray.DataArray, dims ``(stimulus, neuroid, repeat)``
        Static responses; a time-resolved array (``time_bin`` dim) is an error: convert one bin
        (``neural.isel(time_bin=i)``) at a time.
    stimulus, repeat : str, default "stimulus", "repeat"
        Names of the observation descriptors holding the stimulus id and the repeat label.

    Returns
    -------
    rsatoolbox.data.Dataset
        One observation per (stimulus, repeat) holding data (all-NaN trials are dropped), in
        stimulus-major order; observation descriptors ``stimulus``, ``repeat``, the stimulus
        coords (each observation its stimulus's value) and the coords on ``repeat`` or ``stimulus x
        repeat`` (each observation its trial's value; coords over other dims, e.g. ``stimulus x neuroid``,
        are left out with one warning naming them); channel descriptors ``neuroid_id`` and
        the other neuroid coords; ``descriptors``: the array's attrs, its ``name`` and its scalar
        coords. :func:`from_rsatoolbox` reads them all back (those that are strings or numbers; the
        scalar coords as attrs).
    """
    rsatoolbox = _require_rsatoolbox()
    check_names(stimulus=stimulus, repeat=repeat)
    if stimulus == repeat:  # one descriptor would hold the repeat labels, the stimulus ids written over
        raise LayoutError(f"repeat: names the descriptor {repeat!r}, which stimulus= names too; the stimulus ids and the "
                          f"repeat labels need a descriptor each (e.g. stimulus='stimulus', repeat='repeat').")
    validate_neural(neural, name="neural")
    if "time_bin" in neural.dims:
        raise LayoutError(
            f"neural: has dim 'time_bin' ({neural.sizes['time_bin']} bins); an rsatoolbox Dataset is static. Convert "
            f"one bin at a time: neural.isel(time_bin=i)."
        )
    reps = np.asarray(neural["repeat"].values) if "repeat" in neural.coords else np.arange(neural.sizes["repeat"])
    v = np.asarray(neural.transpose("stimulus", "repeat", "neuroid").values)
    s, r = np.nonzero(~np.isnan(v).all(axis=2))
    chans = {str(c): np.asarray(neural[c].values) for c in neural.coords if neural[c].dims == ("neuroid",)}
    index = [str(c) for c in neural.coords if c == "index" and neural[c].ndim]
    if index:  # rsatoolbox numbers its observations and channels in a descriptor of that name (read back as such)
        raise LayoutError("neural: coord 'index' has the name of rsatoolbox's own 'index' descriptor, which is not read "
                          "back; rename it.")
    obs = {stimulus: as_str(neural["stimulus_id"].values)[s], repeat: reps[r]}
    left: dict[str, tuple[str, ...]] = {}
    for c in neural.coords:  # one observation per trial: a stimulus coord, or a coord on repeat or stimulus x repeat
        dims_c = tuple(map(str, neural[c].dims))
        if c in ("stimulus_id", "repeat") or dims_c in ((), ("neuroid",)):
            continue
        if not set(dims_c) <= {"stimulus", "repeat"}:  # e.g. stimulus x neuroid: an observation has no place for it
            left[str(c)] = dims_c
            continue
        if c in obs:
            kind = "stimulus" if dims_c == ("stimulus",) else "trial"
            raise LayoutError(f"neural: {kind} coord {str(c)!r} has the name of the {c!r} descriptor; rename it, or "
                              f"pass another {'stimulus' if c == stimulus else 'repeat'}=<descriptor name>.")
        at = {"stimulus": s, "repeat": r}
        obs[str(c)] = np.asarray(neural[c].values)[tuple(at[d] for d in dims_c)]
    if left:
        warn(f"neural: coords {left} lie on no dim of an rsatoolbox Dataset (one observation, one channel or none), so "
             f"they are left out of it; keep them on stimulus, repeat or neuroid, or drop them first "
             f"(neural.drop_vars({sorted(left)})).")
    desc = dict(neural.attrs)
    if neural.name is not None:
        if "name" in desc and desc["name"] != str(neural.name):
            raise LayoutError(f"neural: attr 'name' ({desc['name']!r}) differs from the array's name ({str(neural.name)!r}), "
                              f"which the descriptor 'name' holds; rename the attr.")
        desc["name"] = str(neural.name)
    for c in neural.coords:  # scalar coords (e.g. subject, region): dataset-level descriptors
        if neural[c].ndim == 0:
            value = neural[c].values[()]
            value = value.item() if isinstance(value, np.generic) and value.dtype.kind not in "mM" else value
            if str(c) in desc and not (np.ndim(desc[str(c)]) == 0 and desc[str(c)] == value):
                raise LayoutError(f"neural: scalar coord {str(c)!r} and the attr or name of that name differ ({value!r}, "
                                  f"{desc[str(c)]!r}); one descriptor {str(c)!r} holds both: rename one of them.")
            desc[str(c)] = value
    return rsatoolbox.data.Dataset(v[s, r], descriptors=desc or None, obs_descriptors=obs, channel_descriptors=chans)


def from_rsatoolbox_rdms(rdms: Any, *, pattern: str | None = None, name: str = "rdm") -> xr.DataArray:
    """Convert rsatoolbox ``RDMs`` to neuroxr RDM ``DataArray`` objects.

    Parameters
    ----------
    rdms : rsatoolbox.rdm.RDMs
    pattern : str, optional
        Pattern descriptor holding the stimulus ids. Default: the first of ``"stimulus_id"``,
        ``"stimulus"``, ``"conds"``, ``"condition"``, ``"index"`` present.
    name : str, default "rdm"

    Returns
    -------
    xarray.DataArray
        dims ``(stimulus, stimulus_)`` for a single RDM (its rdm descriptors as scalar coords), else
        ``(rdm, stimulus, stimulus_)`` with the rdm descriptors as coords on ``rdm`` (``index`` as the
        ``rdm`` coord); the other pattern descriptors (e.g. a category) as stimulus coords on both dims
        (``category`` and ``category_``, as :func:`neuroxr.geometry.rdm` carries them); attrs ``dissimilarity_measure`` and ``method``
        when the measure is one of neuroxr's (rsatoolbox's own ``"euclidean"``, normalised by the
        channel count, is not: it gets no ``method``), and the ``RDMs``' ``descriptors`` that are strings or
        numbers (any other is left out with one warning naming it).
    """
    if not hasattr(rdms, "get_matrices") or not hasattr(rdms, "pattern_descriptors"):
        raise LayoutError(f"rdms: expected an rsatoolbox RDMs object, got {type(rdms).__name__}.")
    check_names(("pattern", "name"), pattern=pattern, name=name)
    # rsatoolbox's squareform casts to float: complex dissimilarities would lose their imaginary part
    real_array(rdms.get_vectors(), "rdms", "dissimilarities")
    D = np.asarray(rdms.get_matrices(), dtype=np.float64)
    m, n = D.shape[0], D.shape[1]
    desc = dict(rdms.pattern_descriptors or {})
    if pattern is None:
        pattern = stimulus_descriptor(desc) or ("index" if "index" in desc else None)
    ids = np.array([f"stimulus{i}" for i in range(n)]) if pattern is None else ids_str(
        _descriptor(desc, pattern, n, "pattern", "rdms.pattern_descriptors"), name="rdms",
        what=f"pattern descriptor {pattern!r}", where="patterns",
        unique="an RDM needs one row per stimulus: pass pattern=<a descriptor with unique ids>.")
    measure = getattr(rdms, "dissimilarity_measure", None)
    attrs: dict[str, Any] = {k: v for k, v in _descriptor_attrs(dict(getattr(rdms, "descriptors", None) or {}), "rdms").items()
                             if k not in ("dissimilarity_measure", "method")}
    attrs["dissimilarity_measure"] = str(measure)
    method = {v: k for k, v in _MEASURES.items()}.get(str(measure))
    if method:
        attrs["method"] = method
    coords: dict[str, Any] = {"stimulus_id": ("stimulus", ids), "stimulus_id_": ("stimulus_", ids)}
    for key, v in desc.items():  # the other pattern descriptors (e.g. a category): stimulus coords on both dims, as rdm's
        key = str(key)
        if key not in (pattern, "index", *RDM_DIMS, "stimulus_id", "stimulus_id_", "rdm") and np.shape(v) == (n,):
            coords.update({key: ("stimulus", _text(_values(v))), f"{key}_": ("stimulus_", _text(_values(v)))})
    descriptors = {str(k): _text(_values(v)) for k, v in (rdms.rdm_descriptors or {}).items() if np.shape(v) == (m,)}
    clash = [k for k in descriptors if k in (*RDM_DIMS, "stimulus_id", "stimulus_id_", *(("rdm",) if m > 1 else ()))]
    if clash:
        raise LayoutError(
            f"rdms: rdm descriptors {clash} have the names of the RDM's own dims/coords (the stimulus ids); rename "
            f"them first, e.g. rdms.rdm_descriptors['{clash[0]}_rdm'] = rdms.rdm_descriptors.pop({clash[0]!r})."
        )
    if m == 1:  # a single RDM: its descriptors (but the index) become scalar coords
        coords.update({k: v[0] for k, v in descriptors.items() if k != "index"})
        return xr.DataArray(D[0], dims=RDM_DIMS, coords=coords, name=name, attrs=attrs)
    for key, v in descriptors.items():
        coords[key if key != "index" else "rdm"] = ("rdm", v)
    return xr.DataArray(D, dims=("rdm", *RDM_DIMS), coords=coords, name=name, attrs=attrs)


def to_rsatoolbox_rdms(rdm: xr.DataArray | list[xr.DataArray], *, pattern: str = "stimulus_id") -> Any:
    """Convert neuroxr RDM ``DataArray`` objects to rsatoolbox ``RDMs``.

    Parameters
    ----------
    rdm : DataArray ``(stimulus, stimulus_)`` or a stack ``(<dim>, stimulus, stimulus_)``, or a list of them
        A list is stacked after ordering every RDM's stimuli like the first one's. A stack's first
        dim may have any name (``rdm``, or e.g. ``model`` / ``judge`` / ``subject`` of
        :func:`neuroxr.datasets.kriegeskorte.load_kriegeskorte_92`'s stacks).
    pattern : str, default "stimulus_id"
        Name of the pattern descriptor that receives the stimulus ids.

    Returns
    -------
    rsatoolbox.rdm.RDMs
        ``dissimilarity_measure`` from the ``method`` attr: ``correlation`` and ``cosine`` as they are;
        ``euclidean`` / ``sqeuclidean`` labelled as unnormalised, since rsatoolbox's ``"euclidean"``
        divides the squared distance by the channel count. ``rdm_descriptors``: the coords on a
        stack's first dim (its own coord under its name, e.g. ``model``) and the scalar coords
        (e.g. ``subject`` of a 2-D RDM; one value for every RDM of a stack), the ``rdm`` coord as
        ``index`` when every RDM has one and they are unique (else rsatoolbox numbers the RDMs).
        ``pattern_descriptors``: the stimulus ids under ``pattern`` and the other coords on ``stimulus``
        that every RDM has (e.g. a category), in the first RDM's stimulus order. ``descriptors``: the attrs
        but ``method`` (``label``, ``source``...) equal across the RDMs (others are left out with one warning).

    Raises
    ------
    LayoutError
        Not an RDM, missing, duplicate or differing stimulus ids, an RDM of a list lacking a
        coord the others have, RDMs of a list with different methods (``RDMs`` has one
        ``dissimilarity_measure``: convert them separately) or with different values of a stimulus coord, or an RDM that is not symmetric or
        has a non-zero diagonal (rsatoolbox keeps only the upper triangle).
    """
    rsatoolbox = _require_rsatoolbox()
    check_names(pattern=pattern)
    items = list(rdm) if isinstance(rdm, (list, tuple)) else [rdm]
    if not items:  # an empty list reached an IndexError
        raise LayoutError("rdm: got an empty list; pass an RDM, a stack of them or a non-empty list.")
    mats, ref, per_rdm, measures, per_stimulus, attrs = [], None, [], [], [], []
    for i, da in enumerate(items):
        label = f"rdm[{i}]" if len(items) > 1 else "rdm"
        if not isinstance(da, xr.DataArray) or tuple(da.dims[-2:]) != RDM_DIMS or da.ndim not in (2, 3):
            raise LayoutError(f"{label}: expected a DataArray with dims (stimulus, stimulus_) or a stack (rdm, stimulus, stimulus_) "
                              f"(any name for its first dim){_got_dims(da)}.")
        if "stimulus_id" not in da.coords:
            raise LayoutError(f"{label}: missing coord 'stimulus_id' on dim 'stimulus'.")
        if pattern != "stimulus_id" and pattern in da.coords and da[pattern].dims == ("stimulus",):  # it was dropped
            raise LayoutError(f"pattern: names {pattern!r}, a stimulus coord of {label}, whose values the stimulus ids "
                              f"would replace; pass another pattern= (default 'stimulus_id') or rename the coord.")
        ids = ids_str(da["stimulus_id"].values, name=label, what="coord 'stimulus_id'", where="stimuli")
        ids_ = ids
        if "stimulus_id_" in da.coords:
            ids_ = ids_str(da["stimulus_id_"].values, name=label, what="coord 'stimulus_id_'", where="stimuli")
        for coord, values in (("stimulus_id", ids), ("stimulus_id_", ids_)):
            if len(set(values.tolist())) != len(values):
                dup = pd.Index(values)
                raise LayoutError(
                    f"{label}: coord {coord!r} has duplicate stimulus ids, e.g. {examples(pd.unique(dup[dup.duplicated()]))}; "
                    f"an RDM needs one row and column per stimulus (drop the duplicates)."
                )
        if ref is None:
            ref = ids
        if set(ids_.tolist()) != set(ids.tolist()):
            odd = sorted(set(ids.tolist()) ^ set(ids_.tolist()))
            raise LayoutError(
                f"{label}: coords 'stimulus_id' and 'stimulus_id_' name different stimuli, e.g. {examples(odd)}; "
                f"an RDM's rows and columns are the same stimuli."
            )
        if set(ids.tolist()) != set(ref.tolist()):
            missing = sorted(set(ref.tolist()) ^ set(ids.tolist()))
            raise LayoutError(f"{label}: its stimulus ids differ from the first RDM's, e.g. {examples(missing)}; select common stimuli.")
        pos = {s: j for j, s in enumerate(ids.tolist())}
        pos_ = {s: j for j, s in enumerate(ids_.tolist())}
        a, b = [pos[s] for s in ref.tolist()], [pos_[s] for s in ref.tolist()]
        v = np.asarray(da.values)
        v = v[..., a, :][..., b]
        _check_square(v, label)
        mats.extend(v if v.ndim == 3 else [v])
        per_rdm.append(_rdm_coords(da))
        per_stimulus.append({str(c): np.asarray(da[c].values)[a].tolist() for c in da.coords
                             if da[c].dims == ("stimulus",) and c not in ("stimulus_id", pattern)})
        attrs.append({str(k): v for k, v in da.attrs.items() if k not in ("method", "dissimilarity_measure")})
        method = da.attrs.get("method")
        measures.append(_MEASURES.get(method, da.attrs.get("dissimilarity_measure", method)))
        if measures[-1] != measures[0]:
            raise LayoutError(
                f"{label}: its method {measures[-1]!r} differs from rdm[0]'s {measures[0]!r}, and rsatoolbox RDMs have "
                f"one dissimilarity_measure; convert RDMs of each method separately."
            )
    descriptors = _rdm_descriptors(per_rdm)
    measure = measures[0]
    shared = {k: v for k, v in attrs[0].items() if all(k in a and _same(a[k], v) for a in attrs[1:])}
    differing = sorted({k for a in attrs for k in a} - set(shared))
    if differing:
        warn(f"rdm: attrs {differing} differ between the RDMs of the list (or some lack them), and rsatoolbox RDMs have one "
             f"set of descriptors; they are left out (convert the RDMs separately to keep them).")
    return rsatoolbox.rdm.RDMs(
        np.stack(mats), dissimilarity_measure=measure, pattern_descriptors={pattern: list(ref), **_pattern_descriptors(per_stimulus)},
        rdm_descriptors=descriptors or None, descriptors=shared or None,
    )


def _pattern_descriptors(per_stimulus: list[dict[str, list[Any]]]) -> dict[str, list[Any]]:
    """The stimulus coords every item has (e.g. a category), in the first item's stimulus order, as
    ``pattern_descriptors``; an item whose values differ from the first's for the same stimuli is refused."""
    out = {k: v for k, v in per_stimulus[0].items() if all(k in d for d in per_stimulus)}
    for i, d in enumerate(per_stimulus[1:], 1):
        odd = [k for k in out if d[k] != out[k]]
        if odd:
            raise LayoutError(f"rdm[{i}]: its stimulus coord {odd[0]!r} differs from rdm[0]'s for the same stimuli, and "
                              "rsatoolbox RDMs have one set of pattern descriptors; drop it from one of them or convert them separately.")
    return out


def _check_square(v: np.ndarray, label: str) -> None:
    """Refuse an RDM that rsatoolbox's upper-triangle vectors would change: asymmetric, or a non-zero diagonal,
    beyond 1e-6 of that RDM's largest value (a floor of 1 let an RDM on a small scale be cut silently)."""
    for j, m in enumerate(v if v.ndim == 3 else [v]):
        where = f"{label}[{j}]" if v.ndim == 3 else label
        tol = 1e-6 * float(np.nanmax(np.abs(m), initial=0.0))
        diff = np.abs(m - m.T)
        if (np.isnan(m) != np.isnan(m.T)).any() or np.nanmax(diff, initial=0.0) > tol:
            r, c = np.unravel_index(np.nanargmax(np.where(np.isnan(diff), np.inf, diff)), m.shape)
            raise LayoutError(
                f"{where}: is not symmetric (entry [{r}, {c}] is {m[r, c]}, [{c}, {r}] is {m[c, r]}); rsatoolbox keeps only "
                f"the upper triangle, so symmetrise it first, e.g. (rdm + rdm.values.T) / 2."
            )
        d = np.diagonal(m)
        bad = np.flatnonzero(~(np.abs(d) <= tol))
        if bad.size:
            raise LayoutError(
                f"{where}: its diagonal is not zero (entry [{bad[0]}, {bad[0]}] is {d[bad[0]]}); rsatoolbox does not "
                f"store the diagonal, so it would come back as 0. Set the diagonal to 0 first, or leave those stimuli out."
            )


def _got_dims(da: Any) -> str:
    """``"; got dims (...)"`` of a DataArray (a stack of several dims: how to make one), else ``""``."""
    if not isinstance(da, xr.DataArray):
        return f"; got {type(da).__name__}"
    extra = [str(d) for d in da.dims if d not in RDM_DIMS]
    fix = f", e.g. rdm.stack(rdm={tuple(extra)!r}).transpose('rdm', ...)" if len(extra) > 1 else ""
    if len(extra) <= 1 and set(RDM_DIMS) <= set(map(str, da.dims)):  # the dims are there, in another order
        fix = f", e.g. rdm.transpose({', '.join(map(repr, [*extra, *RDM_DIMS]))})"
    return f"; got dims {tuple(map(str, da.dims))}{fix}"


def _rdm_coords(da: xr.DataArray) -> dict[str, list[Any]]:
    """The per-RDM coords of one item: those on a stack's first dim (whatever its name: ``rdm``,
    ``model``, ``subject`` ...) and the scalar ones, one value per RDM (a single RDM: its scalar coords)."""
    stack = da.dims[0] if da.ndim == 3 else None
    n = da.sizes[stack] if stack is not None else 1
    return {str(c): np.broadcast_to(np.asarray(da[c].values), (n,)).tolist() for c in da.coords
            if da[c].dims == () or (stack is not None and da[c].dims == (stack,))}


def _rdm_descriptors(per_rdm: list[dict[str, list[Any]]]) -> dict[str, list[Any]]:
    """The items' per-RDM coords as ``rdm_descriptors`` (coord ``rdm`` -> ``index`` when unique)."""
    keys = list(dict.fromkeys(k for d in per_rdm for k in d))
    for i, d in enumerate(per_rdm):
        lacking = [k for k in keys if k not in d and k != "rdm"]  # the rdm coord is a mere position
        if lacking:
            raise LayoutError(
                f"rdm[{i}]: lacks the coords {lacking} that other RDMs have; give every RDM these coords "
                f"(one value per RDM) or drop them from all."
            )
    out = {k: [v for d in per_rdm for v in d[k]] for k in keys if all(k in d for d in per_rdm)}
    index = out.pop("rdm", None)
    if index is not None and "index" not in out and len(set(map(str, index))) == len(index):
        out["index"] = index
    return out

