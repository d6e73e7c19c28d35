"""The one-line summaries of ``neuroxr score``'s metric entries."""

from __future__ import annotations

from typing import Any

#: what a line adds for an entry read from the store, not computed
AGAIN = "  [already in the store; --overwrite recomputes]"


def metric_line(path: str, ds: Any, existed: bool) -> str:
    """``<path>: <metric> <value> (...)`` for a metric entry."""
    score_ = ds["score"]
    if "split" in score_.dims:
        value = ", ".join(f"{sp} {float(score_.sel(split=sp)):.4f}" for sp in score_["split"].values.astype(str))
    else:
        value = f"{float(score_):.4f}"
    extra = []
    if "raw" in ds and "ceiling" in ds:  # brainscore: score is raw / ceiling
        extra.append(f"raw {float(ds['raw']):.4f}, ceiling {float(ds['ceiling']):.4f}, {ds.attrs.get('ceiling_mode', '')}")
    elif "ceiling" in ds:
        extra.append(f"ceiling {float(ds['ceiling']):.4f}, ceiled {float(ds['ceiled_score']):.4f}")
    if "r" in ds and "neuroid" in ds["r"].dims and "split" not in ds["r"].dims:
        extra.append(f"mean r over {ds.sizes['neuroid']} neuroids")
    left = [f"{n} {what} left out for missing trials" for what, n in (("stimuli", ds.attrs.get("n_excluded_stimuli")),
                                                                         ("neuroids", ds.attrs.get("n_excluded_neuroids"))) if n]
    extra.extend(left)
    if ds.attrs.get("lower_is_better"):
        extra.append("distance: lower = more similar")
    note = f" ({'; '.join(extra)})" if extra else ""
    return f"{path}: {ds.attrs.get('metric', '')} {value}{note}{AGAIN if existed else ''}"
