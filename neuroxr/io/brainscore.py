"""Brain-Score assemblies <-> neuroxr neural layout, and neuroxr scores -> Brain-Score ``Score``.

A Brain-Score (brainio) ``NeuroidAssembly`` is a ``DataArray`` with dims
``presentation x neuroid [x time_bin]``; the metadata are levels of a MultiIndex on each dim:
``stimulus_id`` and ``repetition`` on ``presentation``; ``neuroid_id``, ``region``, ``animal``...
on ``neuroid``; ``time_bin_start`` / ``time_bin_end`` (ms) on ``time_bin``. A Brain-Score ``Score``
is a scalar ``DataAssembly`` whose attrs hold ``raw`` (the per-neuroid, per-split values), ``ceiling``
and ``error``.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import LayoutError, holding, no_effect, shown, warn
from ..kernels.resample import nanmean, nanmedian
from ..kernels.stats import standard_error_of_the_mean
from ..layouts import NEURAL_OPTIONAL_COORDS, validate_neural, validate_scores
from ..time_bins import check_distinct_bins
from ..validation import check_bool
from ._trials import as_str, build_neural, check_names, examples, ids_str, per_stimulus, stack_trials

__all__ = ["from_brainscore", "to_brainscore", "to_brainscore_score"]

_SIMPLE = (str, int, float, bool, np.integer, np.floating, np.bool_)
#: how an assembly's coord is renamed, for the error refusing one named like the neural layout's own dims or ids
_RENAME = "assembly.rename({{{old}: {new}}})"


def _simple_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    """The attrs a study store can keep (strings and numbers); a stimulus-set DataFrame is dropped."""
    return {str(k): (v.item() if isinstance(v, np.generic) else v) for k, v in attrs.items() if isinstance(v, _SIMPLE)}


def _select_time_bin(assembly: xr.DataArray, time_bin: Any, name: str) -> tuple[xr.DataArray, dict[str, Any]]:
    """Drop the ``time_bin`` dim: its only bin, the bin at an index, or the mean over a window."""
    n = assembly.sizes["time_bin"]
    has_edges = "time_bin_start" in assembly.coords and "time_bin_end" in assembly.coords
    starts = np.asarray(assembly["time_bin_start"].values, float) if has_edges else None
    ends = np.asarray(assembly["time_bin_end"].values, float) if has_edges else None
    if has_edges:  # a repeated bin would be averaged twice, or picked as one of two that say the same
        check_distinct_bins(starts, ends, name)
    bins = list(zip(starts.tolist(), ends.tolist())) if has_edges else list(range(n))
    if time_bin is None:
        if n != 1:
            raise LayoutError(
                f"{name}: dim 'time_bin' has {n} bins {examples(bins)}; pass time_bin=(start, end) to "
                f"average the bins inside a window, or time_bin=<index> to pick one."
            )
        sel = [0]
    elif isinstance(time_bin, (bool, np.bool_)):
        raise LayoutError(
            f"time_bin: got {shown(time_bin)}, a bool, not an index; pass None (every bin), an index or a (start, end) window."
        )
    elif isinstance(time_bin, (int, np.integer)):
        if not -n <= int(time_bin) < n:
            raise LayoutError(f"time_bin: index {time_bin} is out of range for dim 'time_bin' of length {n}.")
        sel = [int(time_bin) % n]
    else:
        try:
            t0, t1 = (float(t) for t in time_bin)
        except (TypeError, ValueError):
            raise LayoutError(f"time_bin: expected None, an index or a (start, end) pair; got {shown(time_bin)}.") from None
        if not has_edges:
            raise LayoutError(
                f"{name}: dim 'time_bin' lacks coords 'time_bin_start'/'time_bin_end'; pass time_bin=<index>."
            )
        sel = np.flatnonzero((starts >= t0) & (ends <= t1)).tolist()
        if not sel:
            raise LayoutError(
                f"time_bin: no bin of {name} lies inside [{t0:g}, {t1:g}]; its bins are {examples(bins)}."
            )
        _warn_unequal_parts(starts[sel], ends[sel], name, (t0, t1))
    out = assembly.isel(time_bin=sel)
    info: dict[str, Any] = {}
    if has_edges:
        info = {"time_bin_start": float(starts[sel].min()), "time_bin_end": float(ends[sel].max())}
    elif n > 1:  # which bin was kept, where no edges say it
        info = {"time_bin_index": int(sel[0])}
    # other coords on the bins (a label per bin): the kept bin's value goes to the attrs with the edges; one that
    # differs between the window's bins, or is no string or number, or spans other dims too, is left out, said
    left: list[str] = []
    for c in out.coords:
        if "time_bin" not in out.coords[c].dims or c in ("time_bin", "time_bin_start", "time_bin_end"):
            continue
        values = [v.item() if isinstance(v, np.generic) else v for v in np.asarray(out[c].values).ravel()]
        if (out[c].dims == ("time_bin",) and out[c].dtype.kind not in "mM" and isinstance(values[0], _SIMPLE)
                and all(type(v) is type(values[0]) and v == values[0] for v in values)):
            info[str(c)] = values[0]
        else:
            left.append(str(c))
    if left:
        warn(f"{name}: coords {left} of dim 'time_bin' take more than one value over the bins kept {examples([bins[i] for i in sel])} "
             f"(or are no string or number) and are left out; pass time_bin=<index> to keep one bin and its labels.")
    out = out.drop_vars([c for c in out.coords if "time_bin" in out.coords[c].dims])
    # NaN is not skipped: a trial missing one of the bins has no value for the window (the same window for every trial)
    return out.mean("time_bin", keep_attrs=True, skipna=False), info


def _warn_unequal_parts(starts: np.ndarray, ends: np.ndarray, name: str, window: tuple[float, float]) -> None:
    """One warning where the bins a window averages are not equal, abutting parts of one span: bins of
    unequal widths (a rate over the span weighs each by its width), overlapping ones (sliding windows:
    their shared time weighs more) or gaps between them (left out). Their plain mean, one weight per
    bin, is then not the response over the span that the attrs ``time_bin_start``/``_end`` name."""
    order = np.argsort(starts, kind="stable")
    s, e = starts[order], ends[order]
    widths, joins = e - s, s[1:] - e[:-1]  # joins: > 0 a gap, < 0 an overlap
    if s.size < 2 or (np.allclose(widths, widths[0]) and np.allclose(joins, 0)):
        return
    why = [w for w, bad in (("of unequal widths (a rate over the span weighs each bin by its width)",
                             not np.allclose(widths, widths[0])),
                            ("overlapping (their shared time weighs more)", (joins < 0).any()),
                            ("with gaps between them (left out)", (joins > 0).any())) if bad]
    warn(f"{name}: time_bin=({window[0]:g}, {window[1]:g}) averages {s.size} bins {' and '.join(why)}, "
         f"{examples(list(zip(s.tolist(), e.tolist())))}, with equal weights: not the response over {s[0]:g}-{e.max():g} ms. "
         f"Pass a window of equal, abutting bins, or time_bin=None and weigh the bins yourself.")


def from_brainscore(
    assembly: xr.DataArray,
    *,
    time_bin: int | tuple[float, float] | None = None,
    stimulus_coord: str = "stimulus_id",
    repeat_coord: str | None = "repetition",
    name: str | None = None,
) -> xr.DataArray:
    """Convert a Brain-Score ``NeuroidAssembly`` to a neuroxr neural array.

    Parameters
    ----------
    assembly : xarray.DataArray (or brainio ``NeuroidAssembly``), dims ``presentation x neuroid [x time_bin]``
        One row per presentation; coords ``stimulus_id`` (and ``repetition``) on ``presentation``,
        ``neuroid_id`` and e.g. ``region``, ``animal`` on ``neuroid`` (MultiIndex levels or plain coords).
    time_bin : int or (float, float), optional
        Which part of a ``time_bin`` dim to keep: an index (not a bool), or a window ``(start, end)``
        in the assembly's units whose bins (``start <= time_bin_start`` and ``time_bin_end <= end``)
        are averaged (the result then has no time dim; the edges go to the attrs, and so do other
        coords of the bins, labels, that take one string or number over the bins kept; the others are
        left out with one warning naming them). A trial missing
        (NaN) one of the window's bins is NaN for that window, a missing trial: every value is the
        mean over the same bins, one weight per bin (bins of unequal widths, overlapping or with gaps
        are warned about: that mean is not the window's response). Default: every bin, as a time-resolved array ``(stimulus, neuroid,
        repeat, time_bin)`` with the coords ``time_bin_start``/``time_bin_end``; an assembly with a
        single bin gives the static layout (its edges in the attrs).
    stimulus_coord : str
        Presentation coord holding the stimulus id. Default ``"stimulus_id"``.
    repeat_coord : str or None
        Presentation coord labelling the repeats. The default ``"repetition"`` is used when the
        assembly has it; otherwise (or with None) repeats are numbered by presentation order within
        each stimulus (presentations that are exact copies of another give one warning). Any other
        name must be a presentation coord.
    name : str, optional
        Name of the result. Default: the assembly's name when it is a string (what :func:`to_brainscore`
        writes, so the pair round-trips it), else ``"neural"``.

    Returns
    -------
    xarray.DataArray, dims ``(stimulus, neuroid, repeat)`` or ``(stimulus, neuroid, repeat, time_bin)``
        Stimuli in order of first presentation; stimuli with fewer repeats are NaN-padded; the
        ``repeat`` coord holds the repetition labels; every other 1-D neuroid coord is kept, and
        every other presentation coord that takes one value per stimulus (e.g. ``object_name``)
        becomes a stimulus coord; presentation coords that vary within a stimulus (per-trial
        fields) are left out with one warning naming them. Scalar coords (e.g. a ``session``)
        that are strings or numbers stay scalar coords (others are left out with one warning; one
        bin's edges go to the attrs), except ``region``, ``subject`` and ``animal`` (e.g. after
        ``assembly.sel(region="IT")``), which the layout keeps on ``neuroid``: their value is
        repeated for every neuroid; a dim xarray named after the one level a selection left of a
        two-level MultiIndex (``neuroid_id``, ``stimulus_id``) is read as ``neuroid`` (``presentation``),
        and ids or repeat labels left scalar hold for every entry. Simple attrs (strings, numbers) are kept; others are left out,
        with one warning naming them unless they are brainio's stimulus set (a DataFrame).
    """
    if not isinstance(assembly, xr.DataArray):
        raise LayoutError(f"assembly: expected an xarray.DataArray / brainio assembly, got {type(assembly).__name__}.")
    check_names(("repeat_coord",), stimulus_coord=stimulus_coord, repeat_coord=repeat_coord)
    assembly = _reduced_index(assembly, stimulus_coord, repeat_coord)
    if name is None:  # to_brainscore names the assembly after the array
        name = assembly.name if isinstance(assembly.name, str) else "neural"
    extra = [d for d in assembly.dims if d not in ("presentation", "neuroid", "time_bin")]
    if "presentation" not in assembly.dims or "neuroid" not in assembly.dims or extra:
        raise LayoutError(
            f"assembly: dims {tuple(assembly.dims)} are not 'presentation x neuroid [x time_bin]'; "
            f"rename the trial dim to 'presentation' and the channel dim to 'neuroid'."
        )
    info: dict[str, Any] = {}
    if "time_bin" in assembly.dims and time_bin is None and assembly.sizes["time_bin"] > 1:
        return _time_resolved(assembly, stimulus_coord, repeat_coord, name)
    if "time_bin" in assembly.dims:
        assembly, info = _select_time_bin(assembly, time_bin, "assembly")
    elif time_bin is not None:
        raise LayoutError("time_bin: the assembly has no 'time_bin' dim; pass time_bin=None.")
    else:  # an assembly squeezed to one bin keeps its edges as scalar coords
        info = {k: float(assembly[k]) for k in ("time_bin_start", "time_bin_end") if k in assembly.coords and assembly[k].ndim == 0}
    wide = [str(c) for c in assembly.coords if assembly[c].ndim > 1]  # e.g. a flag per trial and electrode
    if wide:
        warn(f"assembly: coords {wide} span {' and '.join(map(str, assembly[wide[0]].dims))}; the neural layout has "
             f"no place for them (one value per stimulus, neuroid or repeat) and they are left out.")
    if stimulus_coord not in assembly.coords or assembly[stimulus_coord].dims != ("presentation",):
        raise LayoutError(
            f"assembly: missing coord {stimulus_coord!r} on dim 'presentation'; pass stimulus_coord=<the "
            f"presentation coord naming the stimulus>."
        )
    repeat = None
    on_presentation = [str(c) for c in assembly.coords if assembly[c].dims == ("presentation",) and c != "presentation"]
    if repeat_coord is not None and repeat_coord != "repetition" and repeat_coord not in assembly.coords:
        raise LayoutError(
            f"repeat_coord: assembly has no coord {repeat_coord!r} on dim 'presentation'; found {on_presentation}. "
            f"Pass repeat_coord=<one of them>, or repeat_coord=None to number repeats by presentation order."
        )
    if repeat_coord is not None and repeat_coord in assembly.coords:
        repeat = np.asarray(assembly[repeat_coord].values)
    values = np.asarray(assembly.transpose("presentation", "neuroid").values)
    data, stim_ids, repeats = stack_trials(
        values, assembly[stimulus_coord].values, repeat, name="assembly",
        stimulus_arg=stimulus_coord, repeat_arg=repeat_coord or "repetition", by_order="repeat_coord=None",
        copies="Drop the copied presentations, or give the presentations a 'repetition' coord to keep them.",
    )
    k = assembly.sizes["neuroid"]
    if "neuroid_id" in assembly.coords:
        neuroid_id = ids_str(assembly["neuroid_id"].values, name="assembly", what="coord 'neuroid_id'", where="neuroids",
                             unique="give each neuroid its own id.")
    elif "neuroid" in assembly.coords and not isinstance(assembly.indexes.get("neuroid"), pd.MultiIndex):
        neuroid_id = ids_str(assembly["neuroid"].values, name="assembly", what="coord 'neuroid'", where="neuroids",
                             unique="give each neuroid its own id.")
    else:  # no id: named by position, said (two assemblies of one array may list its electrodes in other orders)
        neuroid_id = np.array([f"neuroid{i}" for i in range(k)])
        warn("assembly: has no 'neuroid_id' coord; its neuroids are named neuroid0, neuroid1, ... by position. Give "
             "them ids first, e.g. assembly.assign_coords(neuroid_id=('neuroid', ids)), to pair them by id.")
    # a plain coord 'neuroid' beside the ids is the neuroid dim's coord (a MultiIndex 'neuroid' holds the others)
    ids_from = "neuroid_id" if "neuroid_id" in assembly.coords else "neuroid"
    coords = {
        str(c): np.asarray(assembly[c].values)
        for c in assembly.coords
        if c not in (ids_from, "presentation") and assembly[c].dims == ("neuroid",)
        and not (c == "neuroid" and isinstance(assembly.indexes.get("neuroid"), pd.MultiIndex))
    }
    used = (stimulus_coord, repeat_coord if repeat is not None else None)
    per_trial = [c for c in on_presentation if c not in used]
    stim_coords = per_stimulus({c: assembly[c].values for c in per_trial}, as_str(assembly[stimulus_coord].values),
                               stim_ids, per_trial, "assembly", "presentation coord", strict=False,
                               hint="To label the repeats by one of them, pass repeat_coord=<its name>.")
    attrs = _simple_attrs(dict(assembly.attrs)) | info
    left = [str(k) for k, v in assembly.attrs.items()
            if not isinstance(v, (*_SIMPLE, pd.DataFrame)) and k != "stimulus_set"]
    if left:  # the stimulus set brainio attaches (a DataFrame) is dropped without a word, as documented
        warn(f"assembly: attrs {left} hold no string or number and are left out of the result's attrs; make them "
             f"strings or numbers (assembly.attrs[key] = ...) to keep them.")
    out = build_neural(data, stim_ids, neuroid_id, repeats, name=name, arg="assembly", attrs=attrs,
                       neuroid_coords=coords, stimulus_coords=stim_coords,
                       fields={"neuroid": ("neuroid coord", _RENAME), "stimulus": ("presentation coord", _RENAME)})
    scalar = _scalar_coords(assembly, out)
    # the layout keeps region/subject/animal on 'neuroid' (a scalar one, as left by assembly.sel(region='IT'),
    # is one value for every neuroid)
    on_neuroid = {c: ("neuroid", np.full(k, scalar.pop(c))) for c in list(scalar) if c in NEURAL_OPTIONAL_COORDS}
    return validate_neural(out.assign_coords(scalar | on_neuroid), name="assembly")


def _reduced_index(assembly: xr.DataArray, stimulus_coord: str, repeat_coord: str | None) -> xr.DataArray:
    """``assembly`` as it was before a selection reduced a MultiIndex. xarray names a dim after the one level
    left of its index (``sel(region='IT')`` on an index of ``neuroid_id`` and ``region`` gives the dim
    ``neuroid_id``, ``sel(repetition=0)`` the dim ``stimulus_id``, ``sel(time_bin_start=70)`` the dim
    ``time_bin_end``): that dim is ``neuroid`` (``presentation``, ``time_bin``) again, the level a coord on it.
    The ids, repeat labels or bin edges a selection leaves scalar are one per entry."""
    dims = [str(d) for d in assembly.dims]
    extra = [d for d in dims if d not in ("presentation", "neuroid", "time_bin")]
    levels = {"presentation": (stimulus_coord, repeat_coord or "repetition"), "neuroid": ("neuroid_id",),
              "time_bin": ("time_bin_start", "time_bin_end")}
    if len(extra) == 1 and extra[0] in assembly.coords and assembly[extra[0]].dims == (extra[0],):
        dim = next((d for d, names in levels.items() if d not in dims and extra[0] in names), None)
        if dim is not None:
            values = assembly[extra[0]].values
            assembly = assembly.rename({extra[0]: dim}).drop_vars(dim).assign_coords({extra[0]: (dim, values)})
    levels["presentation"] = (stimulus_coord, repeat_coord)  # repeat_coord=None: a scalar repetition stays scalar
    for dim, names in levels.items():
        for c in names:
            if dim in assembly.dims and c in assembly.coords and assembly[c].ndim == 0:
                assembly = assembly.assign_coords({c: (dim, np.full(assembly.sizes[dim], assembly[c].values[()]))})
    return assembly


def _scalar_coords(assembly: xr.DataArray, out: xr.DataArray) -> dict[str, Any]:
    """The assembly's scalar coords (a session, a subject, ...) as scalar coords of ``out``: strings and
    numbers; others are left out with one warning. One bin's edges are not among them (``out``'s attrs
    hold them), nor the bin's own index, a tuple of those edges."""
    keep: dict[str, Any] = {}
    left: list[str] = []
    for c in assembly.coords:
        if assembly[c].ndim or c in ("time_bin", "time_bin_start", "time_bin_end"):
            continue
        value = assembly[c].values.item()  # a datetime64[ns] would come out as an int: not kept as one
        if not isinstance(value, _SIMPLE) or assembly[c].dtype.kind in "mM":
            left.append(str(c))
        elif c in out.coords or c in out.dims:  # a scalar 'stimulus' was xarray's "already exists as a scalar variable"
            raise LayoutError(f"assembly: scalar coord {str(c)!r} is a name the neural array gives its own coord; rename "
                              f"it, e.g. assembly.rename({{{str(c)!r}: 'assembly_{c}'}}).")
        else:
            keep[str(c)] = value
    if left:
        warn(f"assembly: scalar coords {left} hold no string or number and are left out; make them strings "
             f"(assembly.assign_coords(...)) to keep them.")
    return keep


def _time_resolved(assembly: xr.DataArray, stimulus_coord: str, repeat_coord: str | None, name: str) -> xr.DataArray:
    """Every bin of a temporal assembly: the static conversion of each bin, stacked on a last ``time_bin``."""
    if "time_bin_start" not in assembly.coords or "time_bin_end" not in assembly.coords:
        raise LayoutError(
            "assembly: dim 'time_bin' lacks coords 'time_bin_start'/'time_bin_end' (ms); add them, or pass "
            "time_bin=<index> to keep one bin."
        )
    starts = np.asarray(assembly["time_bin_start"].values, float)
    ends = np.asarray(assembly["time_bin_end"].values, float)
    # other coords of the bins (a label per bin) stay on time_bin: one bin's value became a scalar coord of every bin
    edges = ("time_bin", "time_bin_start", "time_bin_end")
    per_bin_coords = {str(c): ("time_bin", np.asarray(assembly[c].values)) for c in assembly.coords
                      if assembly[c].dims == ("time_bin",) and c not in edges}
    # a coord over the bins and another dim (neuroid x time_bin) has no place in the layout: one bin's value would
    # stand for every bin
    across = [str(c) for c in assembly.coords if "time_bin" in assembly[c].dims and assembly[c].ndim > 1]
    if across:
        warn(f"assembly: coords {across} span 'time_bin' and another dim; the neural layout has no place for them and "
             f"they are left out.")
    per_bin = []
    for t in range(assembly.sizes["time_bin"]):
        one = assembly.isel(time_bin=t)
        one = one.drop_vars([c for c in one.coords if c in edges or c in per_bin_coords or c in across])
        with holding() if t else contextlib.nullcontext():  # the fields left out are the same in every bin: said once
            per_bin.append(from_brainscore(one, stimulus_coord=stimulus_coord, repeat_coord=repeat_coord, name=name))
    da = xr.concat(per_bin, dim="time_bin", coords="minimal", compat="override", combine_attrs="override")
    da = da.transpose("stimulus", "neuroid", "repeat", "time_bin")
    da = da.assign_coords(time_bin_start=("time_bin", starts), time_bin_end=("time_bin", ends), **per_bin_coords)
    return validate_neural(da.rename(name), name="assembly")


def to_brainscore(neural: xr.DataArray, *, multiindex: bool = True) -> xr.DataArray:
    """Convert a neuroxr neural array to a Brain-Score ``presentation x neuroid [x time_bin]`` assembly.

    Parameters
    ----------
    neural : xarray.DataArray, dims ``(stimulus, neuroid, repeat)`` or ``(stimulus, neuroid, repeat, time_bin)``
    multiindex : bool, default True
        Gather the coords of each dim into a MultiIndex, as ``brainio.DataAssembly`` does.

    Returns
    -------
    xarray.DataArray, dims ``(presentation, neuroid)`` or ``(presentation, neuroid, time_bin)``
        (a temporal assembly, ``time_bin_start``/``time_bin_end`` on ``time_bin``)
        One presentation per (stimulus, repeat) that holds data (all-NaN trials are dropped), with
        ``stimulus_id``, ``repetition``, the stimulus coords (each trial its stimulus's value,
        as Brain-Score keeps stimulus metadata; the stimulus dim's own coord ``stimulus`` too) and
        the coords on ``repeat`` (e.g. a per-repeat ``session``: each trial its repeat's value) or on
        ``stimulus x repeat`` (per-trial fields) on ``presentation``, the neuroid coords on ``neuroid``
        (the neuroid dim's own coord ``neuroid`` only with ``multiindex=False``: the MultiIndex takes
        its name, so it is left out with one warning), other coords on ``time_bin`` there
        too, the array's scalar coords (scalar coords there too) and its attrs. Coords over other
        combinations of dims (e.g. ``stimulus x neuroid``) have no place in the assembly: they are
        left out with one warning naming them. :func:`from_brainscore` reads the stimulus coords
        back (per-trial coords it leaves out with a warning, unless one is ``repeat_coord=``).
    """
    multiindex = check_bool(multiindex, "multiindex", "True: coords gathered into MultiIndexes as brainio does.",
                            caller="to_brainscore")  # "no" is truthy
    validate_neural(neural, name="neural")
    reps = np.asarray(neural["repeat"].values) if "repeat" in neural.coords else np.arange(neural.sizes["repeat"])
    timed = "time_bin" in neural.dims
    v = np.asarray(neural.transpose("stimulus", "repeat", "neuroid", *(("time_bin",) if timed else ())).values)
    s, r = np.nonzero(~np.isnan(v).all(axis=(2, 3) if timed else 2))
    coords: dict[str, Any] = {
        "stimulus_id": ("presentation", as_str(neural["stimulus_id"].values)[s]),
        "repetition": ("presentation", reps[r]),
    }
    left: dict[str, tuple[str, ...]] = {}
    for c in neural.coords:
        dims_c = tuple(map(str, neural[c].dims))
        if c in ("repeat", "time_bin", "stimulus_id"):  # written as repetition / the bins' edges / stimulus_id
            continue
        if c == "neuroid" and multiindex:  # the MultiIndex 'neuroid' gathers the neuroid coords: no level takes its name
            left[str(c)] = dims_c
            continue
        if dims_c == ("neuroid",):
            if c in ("repetition", "presentation", "stimulus_id"):
                raise LayoutError(f"neural: neuroid coord {str(c)!r} is a name Brain-Score's presentation dim uses; rename it.")
            coords[str(c)] = ("neuroid", np.asarray(neural[c].values))
        elif not dims_c or set(dims_c) <= {"stimulus", "repeat"}:
            # per trial (a session on repeat, a field on stimulus x repeat) as Brain-Score keeps it: on presentation
            if c in ("repetition", "presentation"):
                kind = {(): "scalar", ("stimulus",): "stimulus", ("repeat",): "repeat"}.get(dims_c, "trial")
                raise LayoutError(f"neural: {kind} coord {str(c)!r} is a name Brain-Score's presentation dim uses; rename it.")
            if dims_c:
                at = {"stimulus": s, "repeat": r}
                coords[str(c)] = ("presentation", np.asarray(neural[c].values)[tuple(at[d] for d in dims_c)])
        elif timed and dims_c == ("time_bin",):
            coords[str(c)] = ("time_bin", np.asarray(neural[c].values))
        else:
            left[str(c)] = dims_c
    if "neuroid" in left:
        left.pop("neuroid")
        warn("neural: coord 'neuroid' (the neuroid dim's own) is left out of the assembly, whose MultiIndex 'neuroid' "
             "gathers the neuroid coords and has no level of its name; pass multiindex=False to keep it, or rename it "
             "first (neural.assign_coords(neuroid_label=('neuroid', neural['neuroid'].values)).drop_vars('neuroid')).")
    if left:  # over neuroid and a trial's dims, say: a presentation x neuroid assembly has no place for it
        warn(f"neural: coords {left} lie on no dim of a Brain-Score assembly (one presentation, one neuroid or one "
             f"time bin), so they are left out of it; keep them on stimulus, repeat or neuroid, or drop them first "
             f"(neural.drop_vars({sorted(left)})).")
    dims: tuple[str, ...] = ("presentation", "neuroid", *(("time_bin",) if timed else ()))
    # Brain-Score's temporal assemblies: presentation x neuroid x time_bin
    out = xr.DataArray(v[s, r], dims=dims, coords=coords, attrs=dict(neural.attrs), name=neural.name)
    if multiindex:
        index = {d: [c for c in coords if coords[c][0] == d] for d in dims}
        if timed:  # the edges first, as Brain-Score's time_bin index has them
            edges = ["time_bin_start", "time_bin_end"]
            index["time_bin"] = edges + [c for c in index["time_bin"] if c not in edges]
        out = out.set_index(index)
    # scalar coords (e.g. subject, or one bin's edges, as an assembly squeezed to one bin keeps them)
    return out.assign_coords({str(c): neural[c].variable for c in neural.coords if neural[c].ndim == 0})


def _score_class() -> type:
    """``brainscore_core``'s ``Score`` when it is installed, else ``xarray.DataArray``."""
    try:
        from brainscore_core.metrics import Score
    except Exception:  # not installed, or its optional dependencies are missing
        return xr.DataArray
    return Score


def _per_target(da: xr.DataArray, dim: str, score_cls: type, included: xr.DataArray | None) -> xr.DataArray:
    """``da`` as ``(split, <dim>[, time_bin])`` with the target ids (and ``included``) on ``<dim>``, Brain-Score style."""
    tail = ("time_bin",) if "time_bin" in da.dims else ()
    da = da.rename(rep="split").transpose("split", dim, *tail)
    keep = {c: da.coords[c].variable for c in da.coords if da.coords[c].dims in ((dim,), ("split",), *((t,) for t in tail))}
    if included is not None:
        keep["included"] = included.transpose(dim, *tail).variable
    return score_cls(da.values, dims=("split", dim, *tail), coords=keep, attrs=dict(da.attrs))


def _pooled(v: np.ndarray, inc: np.ndarray, pool: Any) -> tuple[np.ndarray, np.ndarray]:
    """The pool over the included targets of the rep-mean, and the per-rep pool, of ``v`` ``(target, rep, ...)``."""
    v = np.where(inc[:, None], v, np.nan)
    return pool(nanmean(v, axis=1), axis=0), pool(v, axis=0)  # a bin without included targets (or data): NaN


def _protocol_score(ds: xr.Dataset, variable: str | None, score_cls: type, attrs: dict[str, Any]) -> Any:
    """A :func:`neuroxr.predictivity.brainscore` result (or its entry) as Brain-Score's benchmarks return it
    (``ceil_score``): the ceiled score, attrs ``raw`` (the raw Score, with its own ``raw``, the held-out r per
    split x neuroid, and ``error``), ``ceiling`` (with its own ``raw``, the split-half consistency, and
    ``error``) and ``error`` (the raw score's, copied unscaled). Without a ceiling, the raw Score."""
    has_ceiling = "consistency" in ds.data_vars
    var = variable or ("score" if has_ceiling else "raw")
    if var not in ("score", "raw"):
        raise LayoutError(f"variable: a brainscore result is summarised as 'score' (ceiled) or 'raw'; got {shown(var)}.")
    if var == "score" and not has_ceiling:
        raise LayoutError("variable: this brainscore result has no ceiling (ceiling=False), so its score is NaN; pass "
                          "variable='raw' (the default for it) for the raw Score.")

    def per_split(name: str, dim: str) -> Any:  # Brain-Score's raw values: split x neuroid, with the neuroid ids
        da = ds[name].transpose(dim, "neuroid")
        return score_cls(np.asarray(da.values), dims=("split", "neuroid"),
                         coords={"split": np.arange(da.sizes[dim]), "neuroid_id": ("neuroid", np.asarray(ds["neuroid_id"].values))})

    error = float(ds["error"])
    raw_attrs = {"raw": per_split("r", "split"), "error": error}
    if var == "raw":
        return score_cls(float(ds["raw"]), attrs=attrs | raw_attrs)
    raw = score_cls(float(ds["raw"]), attrs=raw_attrs)
    ceiling = score_cls(float(ds["ceiling"]), attrs={"raw": per_split("consistency", "split_half"),
                                                     "error": float(ds["ceiling_error"])})
    return score_cls(float(ds["score"]), attrs=attrs | {"raw": raw, "ceiling": ceiling, "error": error})


def to_brainscore_score(
    scores: xr.Dataset,
    *,
    variable: str | None = None,
    aggregate: str = "median",
    split: str = "test",
) -> xr.DataArray:
    """Summarise a neuroxr score (or metric) dataset as a Brain-Score ``Score``.

    Parameters
    ----------
    scores : xarray.Dataset
        A predictivity score dataset (``ev`` over ``(neuroid|unit, rep)``), a metric entry
        (variable ``score``, scalar or over ``split``), or a :func:`neuroxr.predictivity.brainscore`
        result (or its ``brainscore`` entry), returned as Brain-Score's benchmarks return theirs: the
        ceiled ``score`` with attrs ``raw`` (the raw Score, whose own attrs hold ``raw``, the held-out
        r per ``split x neuroid``, and ``error``), ``ceiling`` (its ``raw`` the split-half
        consistency per ``split x neuroid``, and ``error``) and ``error`` (the raw score's SEM,
        copied unscaled); ``variable="raw"`` (the default without a ceiling) gives the raw Score.
        ``aggregate`` and ``split`` are refused for it (the median over neuroids is the protocol's).
    variable : str, optional
        Variable to summarise. Default ``ev`` for predictivity scores (noise-corrected explained
        variance in percent, reported as a fraction), ``score`` for metric entries.
    aggregate : {"median", "mean"}, default "median"
        How the targets are pooled (Brain-Score's neural benchmarks use the median).
    split : str
        For a metric entry over ``split``: which split is the score. Default ``"test"``.

    Returns
    -------
    brainscore_core.metrics.Score if installed, else xarray.DataArray
        A scalar. Predictivity: the ``aggregate`` over the included targets (``included`` true, the
        flag ``min_reliability=`` sets; every target when the dataset has no flag) of the rep-mean
        of ``variable`` (percent -> fraction), with attrs ``raw`` (``variable`` per split x target,
        every target, with the coord ``included`` when the dataset has it), ``error`` (standard error
        of the mean over reps of the per-rep aggregate, ``std(ddof=0) / sqrt(n_reps)``: Brain-Score's
        ``standard_error_of_the_mean`` over its splits), ``ceiling`` (aggregate of ``target_shc`` over the same targets,
        with its own ``raw``, when present) and the dataset's scalar attrs. Time-resolved scores
        give a score per bin: the value, ``error`` and ``ceiling`` are Scores over ``time_bin`` (coords
        ``time_bin_start``/``time_bin_end``), each bin summarised over its own included targets,
        and ``raw`` is ``split x target x time_bin``.
    """
    if aggregate not in ("median", "mean"):
        raise LayoutError(f"aggregate: must be 'median' or 'mean'; got {shown(aggregate)}.")
    if not isinstance(scores, xr.Dataset):
        raise LayoutError(f"scores: expected an xarray.Dataset, got {type(scores).__name__}.")
    Score = _score_class()
    attrs = _simple_attrs(dict(scores.attrs))
    if scores.attrs.get("protocol") == "brainscore" and {"raw", "error", "r"} <= set(scores.data_vars):
        inert = [f"{k}={v!r}" for k, v, d in (("aggregate", aggregate, "median"), ("split", split, "test")) if v != d]
        if inert:
            raise no_effect(inert, "on a brainscore result", "its raw score is the median over neuroids of each split's r, "
                            "averaged over the splits, as Brain-Score's", caller="to_brainscore_score")
        return _protocol_score(scores, variable, Score, attrs)
    if "score" in scores.data_vars and "ev" not in scores.data_vars:
        var = variable or "score"
        if var not in scores.data_vars:
            raise LayoutError(f"variable: scores have no variable {var!r}; found {sorted(map(str, scores.data_vars))}.")
        da = scores[var]
        if "split" in da.dims:
            if split not in da["split"].values.tolist():
                raise LayoutError(f"split: {split!r} is not a split of scores (splits {da['split'].values.tolist()}).")
            attrs["raw"] = Score(da.values, dims=("split",), coords={"split": da["split"].values})
            da = da.sel(split=split)
        if da.ndim:
            raise LayoutError(f"scores: variable {var!r} has dims {da.dims}; a metric score must be a scalar or over 'split'.")
        return Score(float(da.values), attrs=attrs)
    validate_scores(scores, name="scores")
    dim = "neuroid" if "neuroid" in scores.dims else "unit"
    var = variable or "ev"
    if var not in scores.data_vars:
        raise LayoutError(f"variable: scores have no variable {var!r}; found {sorted(map(str, scores.data_vars))}.")
    # neuroxr's ev is always in percent (a store may not carry the variable's units attr)
    scale = 100.0 if var == "ev" or scores[var].attrs.get("units") == "percent" else 1.0
    pool = nanmedian if aggregate == "median" else nanmean
    tail = ("time_bin",) if "time_bin" in scores.dims else ()
    included = scores["included"] if "included" in scores.data_vars else None
    shape = (scores.sizes[dim], *(scores.sizes[d] for d in tail))
    inc = np.ones(shape, dtype=bool) if included is None else np.asarray(included.transpose(dim, *tail).values, dtype=bool)

    def summary(value: np.ndarray, **kw: Any) -> Any:  # a scalar, or a Score over the bins
        if not tail:
            return Score(float(value), **kw)
        bins = {c: ("time_bin", np.asarray(scores[c].values)) for c in ("time_bin_start", "time_bin_end")}
        return Score(np.asarray(value, dtype=float), dims=tail, coords=bins, **kw)

    v = scores[var].transpose(dim, "rep", *tail).values / scale
    centre, per_rep = _pooled(v, inc, pool)
    attrs["raw"] = _per_target(scores[var] / scale, dim, Score, included)
    # Brain-Score's error: the standard error of the mean over its splits, here reps
    error = standard_error_of_the_mean(per_rep) if v.shape[1] > 1 else np.full(shape[1:], np.nan)
    attrs["error"] = summary(error) if tail else float(error)
    if "target_shc" in scores.data_vars:
        c, _ = _pooled(scores["target_shc"].transpose(dim, "rep", *tail).values, inc, pool)
        attrs["ceiling"] = summary(c, attrs={"raw": _per_target(scores["target_shc"], dim, Score, included)})
    attrs["aggregation"] = aggregate
    return summary(centre, attrs=attrs)


