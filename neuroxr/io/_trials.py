"""Shared helpers of the converters: trials in long form -> ``(stimulus, neuroid, repeat)``.

Every converter reads some table of trials (one row per presentation of a stimulus) and needs the
same step: group the rows by stimulus id, give each a repeat index and NaN-pad stimuli with fewer
repeats. That step lives here, so every format pads, orders and reports errors the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import LayoutError, examples, missing_ids_error, shown, warn
from ..layouts import missing_ids


def plain_attrs(items: Any) -> tuple[dict[str, Any], list[str]]:
    """The ``(key, value)`` pairs ``items`` whose values are strings or numbers, as attrs (numpy scalars and 0-d
    arrays, as HDF5 reads them, as Python values; UTF-8 bytes decoded), and the keys of the others (left out)."""
    attrs: dict[str, Any] = {}
    left: list[str] = []
    for key, v in items:
        if isinstance(v, (np.ndarray, np.generic)) and v.ndim == 0 and v.dtype.kind in "biufUS":
            v = v.item()
        if isinstance(v, bytes):
            try:
                v = v.decode("utf-8")
            except UnicodeDecodeError:
                pass
        if isinstance(v, (str, int, float)):  # bool is an int
            attrs[str(key)] = v
        else:
            left.append(str(key))
    return attrs, left


def as_str(values: Any, name: str = "ids") -> np.ndarray:
    """Ids as a 1-D string array (bytes from HDF5 are decoded as UTF-8); bytes of another encoding are a
    one-line :class:`LayoutError` starting with ``name`` (the input and the field holding them)."""
    arr = np.asarray(values)
    try:
        if arr.dtype.kind == "S":
            return np.char.decode(arr, "utf-8").astype(str)
        if arr.dtype.kind == "O":
            return np.array([v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in arr.tolist()], dtype=str)
    except UnicodeDecodeError as exc:  # numpy's or Python's own error named no argument
        raise LayoutError(f"{name} holds byte strings that are not UTF-8 text, e.g. {bytes(exc.object)!r}; decode them "
                          f"with their encoding first, e.g. [v.decode('latin-1') for v in values].") from None
    return arr.astype(str)


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _kind(value: Any) -> str:
    return "str" if isinstance(value, str) else "bytes" if isinstance(value, bytes) else "other"


def _as_given(values: Any) -> np.ndarray:
    """``values`` as an array, a list or tuple kept as its objects: numpy would read ``[1, "1"]`` as two
    strings ``"1"``, the collision unseen."""
    return np.asarray(values, dtype=object) if isinstance(values, (list, tuple)) else np.asarray(values)


def refuse_str_collisions(values: Any, strs: np.ndarray, *, name: str, what: str) -> None:
    """Refuse values that differ but read the same as text (``1`` and ``"1"``, ``b"s0"`` and ``"s0"``).

    neuroxr ids (and the repeat labels a store keeps) are strings, so such values would silently
    merge into one id. Only an object array mixing strings, bytes and other values can collide.

    Parameters
    ----------
    values : array-like, shape (n,)
        The values as given.
    strs : ndarray of str, shape (n,)
        The same values as text (:func:`as_str`).
    name, what : str
        The input and the column/coord/descriptor holding the values, named in the error.

    Raises
    ------
    LayoutError
        Two distinct values share their text.
    """
    arr = _as_given(values)
    if arr.dtype.kind != "O" or arr.ndim != 1:
        return
    kinds = np.array([_kind(v) for v in arr.tolist()])
    if len(set(kinds.tolist())) < 2:
        return
    counts = pd.DataFrame({"text": strs, "kind": kinds}).groupby("text", sort=False)["kind"].nunique()
    bad = counts.index[counts > 1].tolist()
    if bad:
        raise LayoutError(
            f"{name}: {what} holds values of different types that read the same as text, e.g. "
            f"{examples(pd.unique(arr[strs == bad[0]]).tolist())} ({len(bad)} such ids); ids and labels are strings, so "
            f"they would merge: give the values one type first (.astype(str) if they are the same, else rename one)."
        )


def ids_str(values: Any, *, name: str, what: str, where: str = "positions", labels: Any = None, fix: str = "",
            unique: str = "") -> np.ndarray:
    """Ids as a 1-D string array; a missing id (None, NaN) is an error, never the string ``"nan"``,
    and so are ids that differ but read the same as text (:func:`refuse_str_collisions`).

    Parameters
    ----------
    values : array-like
        The ids.
    name, what : str
        The input and the column/coord/descriptor holding the ids, named in the error.
    where : str
        What the positions of the missing ids are (``"trials"``, ``"rows"``...).
    labels : array-like, optional
        The label of each entry (e.g. a table's index) to report instead of its position.
    fix : str
        What to do, appended to the error.
    unique : str, optional
        When given, the ids must be unique (a channel's or neuroid's own id); this is what to do
        otherwise, appended to the error naming ``what``.

    Raises
    ------
    LayoutError
        Some ids are missing, empty (``''``), lists, collide as text or (with ``unique``) repeat.
    """
    pos = missing_ids(values)
    if pos.size:
        at = pos if labels is None else np.asarray(labels)[pos]
        raise missing_ids_error(f"{name}: {what}", at, fix or "give each an id or drop those entries first.", where)
    arr = _as_given(values)
    if arr.dtype.kind == "O" and arr.ndim == 1:  # a list per entry (NWB's tags) read as the text "['img0']"
        odd = np.flatnonzero([isinstance(v, (list, np.ndarray, dict, set)) for v in arr.tolist()])
        if odd.size:
            at = odd if labels is None else np.asarray(labels)[odd]
            raise LayoutError(f"{name}: {what} holds lists or arrays, not one id per entry, at {where} {examples(at.tolist())}; "
                              f"give each entry one id, e.g. a column of one-element lists as its first elements "
                              f"(table[col].str[0]).")
    out = as_str(values, f"{name}: {what}")
    refuse_str_collisions(values, out, name=name, what=what)
    empty = np.flatnonzero(out == "") if out.ndim == 1 else np.zeros(0, dtype=int)
    if empty.size:  # the layout's own refusal named positions on its dim, not the input's rows
        at = empty if labels is None else np.asarray(labels)[empty]
        raise LayoutError(f"{name}: {what} has {empty.size} empty ids ('') at {where} {examples(at.tolist())}; "
                          f"{fix or 'give each a non-empty id or drop those entries first.'}")
    if unique and out.ndim == 1:  # ids of another shape: the caller's own error
        dup = pd.Index(out)
        dup = pd.unique(out[dup.duplicated()])
        if dup.size:
            raise LayoutError(f"{name}: {what} has {dup.size} duplicate ids, e.g. {examples(dup.tolist())}; {unique}")
    return out


def warn_copies(values: np.ndarray, codes: np.ndarray, ids: Any, name: str, fix: str) -> None:
    """Warn once when presentations numbered by order are exact copies of another presentation of
    the same stimulus (every neuroid's value equal, NaN included): a table appended to itself, a
    row copied twice. Copies would be read as independent repeats and inflate the split-half
    reliability. Presentations holding a value of a continuous quantity warn on any copy. Those
    whose every neuroid takes values on a lattice (:func:`_discrete`: spike counts, or rates,
    counts divided by one window, where a few neuroids' values are often equal by chance) warn
    only for a table appended to itself: every stimulus's presentations, in order, are one block
    repeated (the later ones repeat the earlier ones row for row), and not all are zero. All-NaN
    presentations (missing trials) are not checked.

    Parameters
    ----------
    values : ndarray, shape (n_trials, n_neuroids)
    codes : ndarray of int, shape (n_trials,)
        The stimulus of each trial, as a position in ``ids``.
    ids : array-like
        The stimulus ids (for the message).
    name, fix : str
        The input, and what to do, named in the warning.
    """
    finite = np.isfinite(values)
    discrete = np.array([_discrete(values[:, j]) for j in range(values.shape[1])], dtype=bool)
    fractional = (finite & ~discrete[None, :]).any(axis=1)  # a continuous value: chance copies are (nearly) impossible
    integer = ~fractional & finite.any(axis=1)
    codes = np.asarray(codes)
    n_copies, hit = 0, []
    if fractional.any():
        rows, stim = np.ascontiguousarray(values[fractional]), codes[fractional]
        copies = pd.Index([bytes(r) + int(c).to_bytes(8, "little") for r, c in zip(rows, stim)]).duplicated()  # bitwise
        n_copies, hit = int(copies.sum()), stim[copies].tolist()
    if integer.any() and (finite[integer] & (values[integer] != 0)).any():
        repeated = _repeated_blocks(values[integer], codes[integer])
        if repeated is not None:
            n_copies, hit = n_copies + sum(repeated.values()), hit + list(repeated)
    if n_copies:
        first = np.asarray(ids)[np.asarray(hit, dtype=int)]
        warn(f"{name}: {n_copies} presentations are exact copies of another presentation of the same stimulus "
             f"(every neuroid's value equal), e.g. stimuli {examples(pd.unique(first).tolist())}; they are read as "
             f"repeats and would inflate the split-half reliability. {fix}")


def _discrete(column: np.ndarray) -> bool:
    """Whether one neuroid's finite values lie on a lattice ``v0 + k * step`` (``k`` an integer up to
    10**6): spike counts (step 1), rates (counts divided by one window, step ``1 / window``), either
    less a baseline. The step is the smallest gap between its distinct values; continuous values
    (z-scores, fMRI betas) fall off such a lattice unless they take two distinct values or fewer."""
    u = np.unique(column[np.isfinite(column)])
    if u.size < 3:
        return True
    gaps = np.diff(u)
    gaps = gaps[gaps > 1e-9 * max(1.0, float(np.abs(u).max()))]  # the same value computed two ways is one level
    if not gaps.size:
        return True
    q = (u - u[0]) / gaps.min()
    return bool(q[-1] <= 1e6 and np.abs(q - np.round(q)).max() <= 1e-6)


def _repeated_blocks(rows: np.ndarray, stim: np.ndarray) -> dict[int, int] | None:
    """``{stimulus: copies}`` when every stimulus's rows (in order) are one block repeated ``j >= 2``
    times (``copies = rows - rows / j``), else ``None``."""
    order = np.argsort(stim, kind="stable")
    cut = np.flatnonzero(np.diff(stim[order])) + 1
    out = {}
    for idx in np.split(order, cut):
        block, c = rows[idx], idx.size
        size = next((c // j for j in range(2, c + 1) if c % j == 0  # the largest block that repeats: the table's
                     and np.array_equal(block, np.tile(block[: c // j], (j, 1)), equal_nan=True)), None)
        if size is None:
            return None
        out[int(stim[idx[0]])] = c - size
    return out


def stack_trials(
    values: np.ndarray,
    stimulus_id: Any,
    repeat: Any | None = None,
    *,
    name: str,
    stimulus_arg: str = "stimulus_id",
    repeat_arg: str = "repeat",
    by_order: str = "",
    copies: str | None = "",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrange trials ``(trial, neuroid)`` as ``(stimulus, neuroid, repeat)``, NaN-padded.

    Parameters
    ----------
    values : ndarray, shape (n_trials, n_neuroids)
        One row per presentation.
    stimulus_id : array-like, shape (n_trials,)
        Stimulus of each row; stimuli keep the order of their first appearance.
    repeat : array-like, shape (n_trials,), optional
        Repeat label of each row (``repetition``, a run, a session...). The ``repeat`` dim holds
        the sorted distinct labels, so a stimulus lacking a label gets NaN there (one warning, with
        the count, when most slots are such padding). Labels of different types that read the same
        as text (``0`` and ``"0"``) are an error. Default: the order of presentation within each
        stimulus (0, 1, ...).
    name : str
        The input, named in error messages.
    stimulus_arg, repeat_arg : str
        How the caller names the stimulus and repeat fields (for error messages).
    by_order : str
        The caller's argument that numbers repeats by order, e.g. ``"repeat_coord=None"``.
        Default ``"<repeat_arg>=None"``.
    copies : str or None
        Without ``repeat``: what to do about presentations that are exact copies of another
        (:func:`warn_copies`, one warning); None skips the check (a caller with a better one).

    Returns
    -------
    data : ndarray, shape (n_stimuli, n_neuroids, n_repeats), float64
    stimulus_ids : ndarray of str, shape (n_stimuli,)
    repeats : ndarray, shape (n_repeats,)
        The repeat labels.

    Raises
    ------
    LayoutError
        Wrong lengths, no trials, a missing stimulus id or repeat label, ids or labels that collide
        as text, labels that mix text and numbers, or two trials with the same stimulus and repeat label.
    """
    values = np.asarray(values)
    if values.ndim != 2:
        raise LayoutError(f"{name}: trials must form a 2-D array (trial, neuroid); got shape {values.shape}.")
    n = values.shape[0]
    if n == 0:
        raise LayoutError(f"{name}: holds no trials; it needs at least one presentation.")
    stim = ids_str(stimulus_id, name=name, what=repr(stimulus_arg), where="trials",
                   fix="every trial needs a stimulus id: drop those trials first.")
    if stim.shape != (n,):
        raise LayoutError(f"{name}: {stimulus_arg!r} needs one value per trial ({n}); got shape {stim.shape}.")
    codes, ids = pd.factorize(pd.Index(stim), sort=False)
    if values.dtype.kind not in "fiub":  # text would fail in the cast, complex lose its imaginary part
        raise LayoutError(f"{name}: values must be real numbers; found dtype {values.dtype}. Convert them first, "
                          f"e.g. {name}.astype('float64') (or the real part of complex values).")
    values = values.astype(np.float64, copy=False)
    if repeat is None:
        if copies is not None:
            warn_copies(values, codes, ids, name, copies or f"Drop the copies, or give each presentation a "
                        f"{repeat_arg!r} label to keep them.")
        rep_codes = pd.Series(codes).groupby(codes).cumcount().to_numpy()
        labels = np.arange(rep_codes.max() + 1 if n else 0)
    else:
        rep = np.asarray(repeat)
        if rep.shape != (n,):
            raise LayoutError(f"{name}: {repeat_arg!r} needs one value per trial ({n}); got shape {rep.shape}.")
        rep_codes, labels = pd.factorize(pd.Index(rep), sort=True)
        labels = np.asarray(labels)
        if (rep_codes < 0).any():
            gone = np.flatnonzero(rep_codes < 0)
            raise LayoutError(f"{name}: {repeat_arg!r} holds {gone.size} missing values (trials at positions "
                              f"{gone[:5].tolist()}); give every trial a repeat label, or pass {by_order or repeat_arg + '=None'} "
                              f"to number repeats by presentation order.")
        what = f"repeat labels {repeat_arg!r}"
        refuse_str_collisions(labels, as_str(labels, f"{name}: {what}"), name=name, what=what)
        if labels.dtype.kind == "O" and len({_kind(v) == "other" for v in labels.tolist()}) > 1:  # no store keeps them
            mixed = [next(v for v in labels.tolist() if (_kind(v) == "other") is k) for k in (True, False)]
            raise LayoutError(f"{name}: {what} mix text and numbers, e.g. {examples(mixed)}; give them one type first "
                              f"(e.g. .astype(str)), or pass {by_order or repeat_arg + '=None'} to number repeats by "
                              f"presentation order.")
        pair = codes.astype(np.int64) * len(labels) + rep_codes
        dup = pd.Index(pair).duplicated()
        if dup.any():
            bad = [(str(ids[p // len(labels)]), _py(labels[p % len(labels)])) for p in pd.unique(pair[dup])]
            raise LayoutError(
                f"{name}: {int(dup.sum())} trials repeat a ({stimulus_arg}, {repeat_arg}) pair, e.g. "
                f"{examples(bad)}. Give each presentation its own {repeat_arg!r} label, or pass "
                f"{by_order or repeat_arg + '=None'} to number repeats by presentation order."
            )
        slots = len(ids) * len(labels)
        if 2 * (slots - n) > slots:  # most slots empty: labels such as a session-wide trial number
            most = int(np.bincount(codes, minlength=len(ids)).max())
            warn(f"{name}: {repeat_arg!r} takes {len(labels)} distinct labels but each stimulus has at most {most} "
                 f"of them, so {slots - n} of the {slots} (stimulus, repeat) slots ({(slots - n) / slots:.0%}) are NaN "
                 f"padding. If {repeat_arg!r} numbers trials across a session, pass "
                 f"{by_order or repeat_arg + '=None'} to number repeats by presentation order within each stimulus.")
    shape = (len(ids), values.shape[1], len(labels))
    try:
        out = _nan_array(shape)
    except MemoryError:  # numpy's own error: a traceback naming no argument
        size = float(np.prod(shape, dtype=np.float64)) * 8
        raise LayoutError(
            f"{name}: the (stimulus, neuroid, repeat) array of shape {shape} ({size / 2**30:.3g} GiB) does not fit in "
            f"memory; its {len(labels)} repeats are " + (f"the distinct labels of {repeat_arg!r}: if they number trials "
            f"across a session, pass {by_order or repeat_arg + '=None'} to number repeats by presentation order within "
            f"each stimulus." if repeat is not None else "the most presentations of one stimulus: read fewer trials at "
            "a time.")) from None
    out[codes, :, rep_codes] = values
    return out, np.asarray(ids, dtype=str), labels


def check_names(optional: tuple[str, ...] = (), **names: Any) -> None:
    """A one-line :class:`LayoutError` for an argument naming a column, coord or descriptor that is no
    str (a list gave pandas' or Python's bare ``unhashable type`` TypeError); those in ``optional`` may be None."""
    for arg, value in names.items():
        if not isinstance(value, str) and not (value is None and arg in optional):
            raise LayoutError(f"{arg}: expected one name (a str){' or None' if arg in optional else ''}; got {shown(value)}.")


def _nan_array(shape: tuple[int, ...]) -> np.ndarray:
    """A float64 array of NaN (missing trials) of ``shape``."""
    return np.full(shape, np.nan)


def per_neuroid(table: Mapping[str, Any], neuroids: np.ndarray, keys: Sequence[str], name: str,
                shared: str | None = None) -> dict[str, np.ndarray]:
    """One value per neuroid for each ``key`` of ``table`` (columns aligned with ``neuroids``).

    Raises a :class:`LayoutError` when a key takes two values on one neuroid; ``shared``: the
    table's neuroid id column, which the message says how to make unique (neuroids of two animals
    sharing an id). Any key may be given, ``"neuroid"`` too: the rows are grouped by the ids
    themselves, not by a column of the table.
    """
    out: dict[str, np.ndarray] = {}
    for key in keys:  # a list per row would fail the grouping below with "unhashable type"
        col = np.asarray(table[key])
        if col.dtype.kind == "O":
            _check_object_coord(col, np.asarray(neuroids), f"{name}: column {key!r}", "neuroid")
    if not keys:
        return out
    groups = pd.DataFrame({k: np.asarray(table[k]) for k in keys}).groupby(np.asarray(neuroids), sort=False)
    for key in keys:
        counts = groups[key].nunique(dropna=False)
        if (counts > 1).any():
            raise LayoutError(
                f"{name}: column {key!r} takes several values on one neuroid, e.g. neuroids "
                f"{examples(counts.index[counts > 1].tolist())}; it must be constant per neuroid (or drop it)"
                + (f". If it tells apart neuroids of different animals or sessions sharing an id, give them ids of "
                   f"their own first, e.g. {name}[{shared!r}] = {name}[{key!r}].astype(str) + '/' + "
                   f"{name}[{shared!r}].astype(str)." if shared is not None else ".")
            )
        out[key] = groups[key].first().to_numpy()
    return out


def per_stimulus(table: Mapping[str, Any], stimulus: np.ndarray, ids: np.ndarray, keys: Sequence[str], name: str,
                 what: str, strict: bool = True, hint: str = "") -> dict[str, np.ndarray]:
    """One value per stimulus, in the order ``ids``, for each ``key`` of ``table`` (values aligned with
    ``stimulus``, the stimulus id of each trial).

    A key that takes several values on one stimulus is a one-line :class:`LayoutError` with
    ``strict`` (the caller asked for it), else it is left out with one :class:`NeuroxrWarning`
    naming it (a per-trial field, which the neural layout has no place for) and ``hint``. Any key
    may be given, ``"stimulus"`` too: the trials are grouped by ``stimulus`` itself.
    """
    out: dict[str, np.ndarray] = {}
    varying: list[str] = []
    if not keys:
        return out
    # grouped by the ids themselves: a key "stimulus" is a field like any other
    groups = pd.DataFrame({k: np.asarray(table[k]) for k in keys}).groupby(np.asarray(stimulus), sort=False)
    for key in keys:
        counts = groups[key].nunique(dropna=False)
        if (counts > 1).any():
            if strict:
                raise LayoutError(
                    f"{name}: {what} {key!r} takes several values on one stimulus, e.g. stimuli "
                    f"{examples(counts.index[counts > 1].tolist())}; it must be constant per stimulus (or drop it)."
                )
            varying.append(key)
            continue
        out[key] = groups[key].first().reindex(pd.Index(ids)).to_numpy()
    if varying:
        warn(f"{name}: {what}s {varying} vary within a stimulus (per-trial fields) and are left out; the neural "
             f"layout keeps per-stimulus coords (and the repeat label) only.{' ' + hint if hint else ''}")
    return out


#: the names the neural layout gives its own dims and id coords: a field of one dim cannot take another's
#: (a field named like its own dim, ``"stimulus"`` on the stimulus, is that dim's coord)
LAYOUT_NAMES = {"stimulus": "dim 'stimulus'", "neuroid": "dim 'neuroid'", "repeat": "dim 'repeat'",
                "stimulus_id": "stimulus ids", "neuroid_id": "neuroid ids"}


def refuse_layout_names(keys: Sequence[Any], dim: str, *, arg: str, what: str, rename: str = "") -> None:
    """A one-line :class:`LayoutError` for a field meant as a ``dim`` coord but named like one of the
    layout's own dims or id coords (:data:`LAYOUT_NAMES`) other than ``dim`` itself: it would be
    written over, or silently left out of, the array.

    Parameters
    ----------
    keys : sequence
        The names of the fields meant as coords on ``dim``.
    dim : {"stimulus", "neuroid"}
    arg, what : str
        The input (or argument) and what a field of it is (``"column"``, ``"presentation coord"``...).
    rename : str, optional
        How the caller renames a field, with the placeholders ``{old}`` and ``{new}`` (names, quoted).
    """
    clash = [k for k in keys if isinstance(k, str) and k in LAYOUT_NAMES and k != dim]
    if clash:
        k = clash[0]
        how = f", e.g. {rename.format(old=repr(k), new=repr(k + '_2'))}" if rename else ""
        raise LayoutError(f"{arg}: {what} {k!r} is named like the array's own {LAYOUT_NAMES[k]}, so it cannot be a "
                          f"{dim} coord; rename it first{how}.")


def build_neural(
    data: np.ndarray,
    stimulus_id: np.ndarray,
    neuroid_id: np.ndarray | None,
    repeats: np.ndarray,
    *,
    name: str,
    arg: str,
    attrs: Mapping[str, Any] | None = None,
    neuroid_coords: Mapping[str, Any] | None = None,
    stimulus_coords: Mapping[str, Any] | None = None,
    fields: Mapping[str, tuple[str, str]] | None = None,
) -> Any:
    """A validated neural array named ``name`` with a ``repeat`` coord and any extra coords on
    ``neuroid`` and ``stimulus``; its errors name the input it is read from, the argument ``arg``.

    Extra coords are attached after :func:`neuroxr.layouts.neural` so that names such as ``name``
    cannot collide with its keyword arguments. A coord named like its own dim (``"stimulus"`` among
    ``stimulus_coords``) is that dim's coord; one named like another of the layout's dims or id
    coords is a one-line error (:func:`refuse_layout_names`), never skipped. ``fields``: per dim,
    what the input calls such a field and how it renames one (``{old}``, ``{new}``), for that error.
    """
    from ..layouts import neural, validate_neural

    if name is not None and not isinstance(name, str):  # a list or a number was kept as the array's name
        raise LayoutError(f"name: expected a str (the array's name) or None; got {shown(name)}.")
    da = neural(data, stimulus_id, neuroid_id, name=arg, attrs=attrs)
    labels = np.asarray(repeats)
    if labels.dtype.kind in "OS" and all(isinstance(v, (str, bytes)) for v in labels.tolist()):  # bytes decoded, as ids
        labels = as_str(labels, f"{arg}: repeat labels")
    extra: dict[str, Any] = {}
    for dim, given in (("neuroid", neuroid_coords), ("stimulus", stimulus_coords)):
        what, rename = (fields or {}).get(dim, (f"{dim} field", ""))
        refuse_layout_names(list(given or {}), dim, arg=arg, what=what, rename=rename)
        for key, values in (given or {}).items():
            if str(key) in extra:
                raise LayoutError(f"{arg}: {key!r} names both a neuroid and a stimulus field; rename one of them.")
            v = np.asarray(values)
            if v.shape != (da.sizes[dim],):
                raise LayoutError(f"{arg}: {dim} coord {key!r} has shape {v.shape}; expected ({da.sizes[dim]},).")
            if v.dtype.kind == "O":
                _check_object_coord(v, da[f"{dim}_id"].values, f"{arg}: {dim} coord {key!r}", dim)
            if v.dtype.kind in "OS" and all(isinstance(x, (str, bytes)) for x in v.tolist()):
                v = as_str(v, f"{arg}: {dim} coord {key!r}")
            extra[str(key)] = (dim, v)
    return validate_neural(da.assign_coords(repeat=labels, **extra).rename(name), name=arg)


def _check_object_coord(v: np.ndarray, ids: np.ndarray, shown: str, dim: str) -> None:
    """A one-line :class:`LayoutError` for a coord of Python objects that no store can keep: a value
    that is no scalar (a list), or values of several kinds (text and numbers); missing values (None,
    NaN) stay missing."""
    vals = v.tolist()
    odd = [i for i, x in enumerate(vals) if not (np.isscalar(x) or x is None)]
    if odd:
        raise LayoutError(f"{shown} has values that are no scalars at {dim}s {examples(list(dict.fromkeys(str(ids[i]) for i in odd)))}; give "
                          f"every {dim} one value or drop the column.")
    kinds = {"text" if isinstance(x, (str, bytes)) else "number" if isinstance(x, (int, float, np.number)) else type(x).__name__
             for x in vals if not pd.isna(x)}
    if len(kinds) > 1:
        raise LayoutError(f"{shown} mixes {' and '.join(sorted(kinds))} values; convert the column to one type "
                          f"(e.g. df[col].astype(str)) or drop it.")
