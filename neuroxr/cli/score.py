"""``neuroxr score KIND STORE SOURCE [TARGET]``: one entry through the entry engine.

Directions: forward, reverse, inter-animal, model-to-model; metrics: rsa (crsa, ersa, ereg),
shape, cka, dimensionality, brainscore (Brain-Score's ceiled PLS protocol). A complete entry with the same provenance is read back;
``--require-existing`` refuses to compute and names the parameters in which the existing
entries differ.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from ._advice import too_large
from ._common import (
    CommandGroup,
    Output,
    SpelledCommand,
    flag_name,
    main,
    one_line,
    open_store_or_fail,
    output_options,
    progress_for,
    running,
    storage_options,
)
from ._score_flags import (
    _BACKEND,
    _BIAS_BOOT_METHOD,
    _BOOT_DEFAULTS,
    _DIRECTION_DEFAULTS,
    _LEVEL,
    _METRIC_BOOT,
    _METRIC_PERM,
    _METRIC_RESAMPLE_SEED,
    _NEURAL_ONLY,
    _OVERWRITE,
    _REQUIRE,
    _given,
    _options,
)
from ._score_options import boot_options, check_regressor_options
from ._score_text import AGAIN, metric_line
from ._storage import read_only_error, store_writable

__all__ = ["score"]

#: the option that asks for an inference procedure's entry (its messages are named after it)
_OPTION = {"bootstrap": "--bootstrap", "permutation": "--permutations"}

_DIRECTION_COMMANDS = ("forward", "reverse", "inter-animal", "model-to-model")
_METRIC_COMMANDS = ("rsa", "shape", "cka", "dimensionality", "brainscore")
_TIME_COMMANDS = ("temporal-generalization",)


class _ScoreGroup(CommandGroup):
    """``neuroxr score KIND ...``: the subcommands in the order they were added; ``_`` may stand for
    ``-``; an unknown KIND is refused with the accepted ones listed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name) or super().get_command(ctx, cmd_name.replace("_", "-"))

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else None
        if name is not None and not name.startswith("-") and self.get_command(ctx, name) is None:
            raise click.UsageError(
                f"unknown score kind {name!r}: choose a direction ({', '.join(_DIRECTION_COMMANDS)})"
                f", a metric ({', '.join(_METRIC_COMMANDS)}) or a time-resolved kind ({', '.join(_TIME_COMMANDS)}).",
                ctx,
            )
        return super().resolve_command(ctx, args)


@main.group(cls=_ScoreGroup)
def score() -> None:
    """Score a direction or a geometry metric between sets of a study store and write the entry.

    Directions (scores/<direction>/<source>__<target>/<key>): forward, reverse, inter-animal,
    model-to-model. Metrics (metrics/<metric>/.../<key>): rsa (crsa, ersa, ereg), shape, cka,
    dimensionality, brainscore. Time-resolved sets: temporal-generalization. Sets are named NAME
    (neural set), NAME.REGION (region subset of a neural set) or MODEL.LAYER (feature set). <key> identifies the parameters and input versions: other
    parameters write a new entry beside the old one.
    """


def _open_for(store: str, overwrite: bool, require_existing: bool) -> Any:
    """The store of a score command, read-only where it only reads (a newer store too) or this user cannot write to it:
    a stored entry is read back, a missing one refused before it is computed (never computed, then lost at the write)."""
    if overwrite and require_existing:
        raise click.UsageError("--overwrite (recompute) and --require-existing (only read an existing entry) "
                               "contradict each other: pass one of them.")
    writable = require_existing or store_writable(store)
    if overwrite and not writable:
        raise read_only_error(store, "--overwrite")
    return open_store_or_fail(store, mode="r" if require_existing or not writable else "a")


@contextmanager
def _engine_errors() -> Iterator[None]:
    """The entry engine's refusals as the command's: a ValueError or KeyError one line (exit 1)."""
    from ..errors import ParameterError

    try:
        yield
    except (ValueError, KeyError) as exc:
        if isinstance(exc, ParameterError) or too_large(exc):  # a usage error, out of memory: the handler's
            raise
        raise click.ClickException(one_line(exc.args[0] if isinstance(exc, KeyError) and exc.args else exc)) from None


def _run(store: Any, kind: str, source: str, target: str | None, params: dict[str, Any], *, overwrite: bool,
         require_existing: bool, backend: str | None = None, dtype: str | None = None,
         options: dict[str, Any] | None = None) -> Any:
    """One entry of ``store`` (a URL, opened by :func:`_open_for`, or a store it opened)."""
    from ..entries import compute

    st = _open_for(store, overwrite, require_existing) if isinstance(store, str) else store
    with _engine_errors():
        return compute(st, kind, source, target, params=params, overwrite=overwrite, require_existing=require_existing,
                       backend=backend, dtype=dtype, options=options)


def _direction_summary(ds: Any) -> dict[str, Any]:
    """The summary of a direction entry over its *included* targets: the report's and the sweep's
    :func:`neuroxr.report.table.ev_summary` (i.e. ``included_summary``), ``n_targets`` (included
    targets with a finite EV), ``n_excluded``, ``n_all`` (every target), ``n_excluded_stimuli`` (stimuli left out
    for missing trials; None for an entry that predates the count), ``median_ev``, ``mean_ev``,
    ``q25_ev``, ``q75_ev``; a time-resolved entry pools its (target, time bin) pairs, as the report's
    score table, and adds ``n_time_bins``."""
    from ..report.table import ev_summary

    s = ev_summary(ds)
    stats = {k: s[k] for k in ("n_targets", "n_excluded", "n_all", "n_excluded_stimuli", "median_ev", "mean_ev", "q25_ev",
                               "q75_ev")}
    if "time_bin" in ds.dims:
        stats["n_time_bins"] = int(ds.sizes["time_bin"])
    return stats


def _direction_command(direction: str) -> click.Command:
    kinds = {"forward": ("MODEL.LAYER", "NAME[.REGION]"), "reverse": ("NAME[.REGION]", "MODEL.LAYER"),
             "inter-animal": ("NAME[.REGION]", "NAME[.REGION]"), "model-to-model": ("MODEL.LAYER", "MODEL.LAYER")}[direction]

    @click.argument("store")
    @click.argument("source")
    @click.argument("target")
    @_options(direction)
    def run(store: str, source: str, target: str, dtype: str | None, backend: str | None, n_boot: int, n_perm: int,
            overwrite: bool, require_existing: bool, as_json: bool, quiet: bool, **options: Any) -> None:
        out = Output(as_json, quiet)
        boot = boot_options({k: options.pop(k) for k in _BOOT_DEFAULTS}, n_boot)
        if (n_boot or n_perm) and options["max_n"] is not None:
            raise click.UsageError("--bootstrap/--permutations need a fixed design: drop --max-n.")
        if direction == "model-to-model":
            given = [flag_name(click.get_current_context().command, k) for k in _NEURAL_ONLY if options[k] is not None]
            if given:
                raise click.UsageError(f"{', '.join(given)}: model-to-model has no neural repeats (no split halves, "
                                       "ceiling or reliability); drop them.")
            if options["reps"] not in (None, 1) and options["max_n"] is None:  # as the sweep and inference refuse it
                from ..errors import no_effect

                raise click.UsageError(str(no_effect([f"--reps {options['reps']}"], "for model-to-model without --max-n",
                                                     "without max_n every rep is the same fit", "add --max-n")))
        check_regressor_options(options, _DIRECTION_DEFAULTS["regressor"])
        params: dict[str, Any] = {k: v for k, v in options.items() if v is not None}  # the others: the kind's defaults
        from ..entries import KINDS
        from ..predictivity.inference import applicable_options
        from ..sweep._util import per_bin
        from ..sweep.inference import inference_summary
        from ..sweep.tasks import score_takes_seed

        inference_params = {k: v for k, v in params.items() if k != "max_n"}
        asked = []  # the inference entries, their parameters checked before the score is computed
        for procedure, n, opt in (("bootstrap", n_boot, "n_boot"), ("permutation", n_perm, "n_perm")):
            if n:
                taken = applicable_options(direction.replace("-", "_"), procedure, inference_params)  # e.g. no reps for a permutation test
                own = {opt: n, **(boot if procedure == "bootstrap" else {})}
                kind = f"{direction.replace('-', '_')}_{procedure}"
                with running(_OPTION[procedure]):  # its messages name the option, not the Python function
                    KINDS[kind].fill({**taken, **own})
                asked.append((procedure, n, kind, {**taken, **own}, own))
        st = _open_for(store, overwrite, require_existing)  # once: the seed's rule, the score and its inference entries
        if (n_boot or n_perm) and "seed" in params:
            with _engine_errors():  # a name not in the store: the engine's own refusal
                if not score_takes_seed(direction, params, st, (source, target)):
                    params.pop("seed")  # it draws the inference entries' resamples only, as a sweep's (refused without them)
        res = _run(st, direction.replace("-", "_"), source, target, params, overwrite=overwrite,
                   require_existing=require_existing, backend=backend, dtype=dtype,
                   options={"progress": progress_for(out, f"{direction} reps")})
        stats = _direction_summary(res.dataset)
        lines = []
        for procedure, n, kind, inf_params, own in asked:
            with running(_OPTION[procedure]):
                inf = _run(st, kind, source, target, inf_params, overwrite=overwrite,
                           require_existing=require_existing, backend=backend, dtype=dtype)
            stats[f"{procedure}_path"] = inf.path
            summaries = []  # a time-resolved entry: one summary per bin, as the sweep's and the report's tables
            for cols, ds in per_bin(inf.dataset):
                got = inference_summary(ds, procedure)
                at = f" at {cols['time_bin_start']:g}-{cols['time_bin_end']:g} ms" if cols else ""
                if procedure == "bootstrap":
                    lo, hi, bad = got["median_ev_low"], got["median_ev_high"], got["n_boot_undefined"]
                    summaries.append({**cols, "median_ev_ci": [lo, hi], "n_boot_undefined": bad})
                    lines.append(f"{inf.path}{at}: median EV {_percent(own)} interval {lo:.2f}-{hi:.2f}% ({n} resamples of "
                                 f"the {_RESAMPLED[own.get('over', _BOOT_DEFAULTS['over'])]}{_undefined(bad)})")
                else:
                    summaries.append({**cols, "median_r": got["median_r"], "median_p": got["median_p"]})
                    lines.append(f"{inf.path}{at}: median r {got['median_r']:.3f}, permutation p = "
                                 f"{got['median_p']:.4g} ({n} permutations)")
            if len(summaries) == 1 and "time_bin_start" not in summaries[0]:
                stats.update(summaries[0])
            else:
                stats[f"{procedure}_by_time_bin"] = summaries
        out.json({"path": res.path, "kind": direction.replace("-", "_"), "source": source, "target": target,
                  "computed": bool(res.computed), **stats})
        n_other = stats["n_all"] - stats["n_excluded"] - stats["n_targets"]
        notes = [f"{stats['n_excluded']} excluded: included=False"] * bool(stats["n_excluded"]) + \
                [_left_out(stats["n_excluded_stimuli"])] * bool(stats["n_excluded_stimuli"]) + \
                [f"{n_other} without a finite EV"] * bool(n_other > 0)
        excluded = f" ({'; '.join(notes)})" if notes else ""
        counted = f"{stats['n_targets']} targets" if "n_time_bins" not in stats else (  # the pooled pairs
            f"{stats['n_targets']} (target, time bin) pairs of {stats['n_all'] // stats['n_time_bins']} targets x "
            f"{stats['n_time_bins']} time bins")
        median = (f"median EV {stats['median_ev']:.2f}% (IQR {stats['q25_ev']:.2f}-{stats['q75_ev']:.2f})"
                  if stats["n_targets"] else "no median EV (no included target with a finite EV)")  # never "nan%"
        out.echo(f"{res.path}: {counted}{excluded}, {median}" + ("" if res.computed else AGAIN))
        for line in lines:
            out.echo(line)

    run.__doc__ = (
        f"Score the {direction} direction from SOURCE ({kinds[0]}) to TARGET ({kinds[1]}) in STORE and write "
        f"scores/{direction.replace('-', '_')}/SOURCE__TARGET/<key> (a matching entry is read back unless --overwrite)."
    )
    return click.command(name=direction, cls=SpelledCommand)(run)


for _direction in _DIRECTION_COMMANDS:
    score.add_command(_direction_command(_direction))


def _run_metric(store: str, metric: str, source: str, target: str | None, overwrite: bool, require_existing: bool,
                params: dict[str, Any], out: Output, n_boot: int = 0, n_perm: int = 0, resample_seed: int | None = None,
                boot: dict[str, Any] | None = None) -> None:
    from ..entries import metric_kind, metric_value

    params = dict(params)
    kind = metric_kind(metric, params.pop("variant", None))
    boot = boot_options(boot or {}, n_boot)  # --level (and shape's and cka's --boot-method): the bootstrap entry's
    if (n_boot or n_perm) and kind not in ("crsa", "ersa", "cka", "shape"):
        raise click.UsageError(f"--bootstrap/--permutations: no inference entries for {kind}; use crsa, ersa, cka or shape.")
    if resample_seed and not (n_boot or n_perm):  # 0 is the default: it names the same entries
        from ..errors import no_effect

        raise click.UsageError(str(no_effect([f"--resample-seed {resample_seed}"], "without --bootstrap or --permutations",
                                             "it draws their resamples", "add one of them")))
    inference = _inference_params(kind, params, n_boot, n_perm, resample_seed, boot)  # refused before anything is computed
    backend = click.get_current_context().meta.get("neuroxr_backend")  # --backend, where the command has it
    st = _open_for(store, overwrite, require_existing)  # once: the metric and its inference entries
    res = _run(st, kind, source, target, params, overwrite=overwrite, require_existing=require_existing, backend=backend)
    ds = res.dataset
    split = "split" in ds["score"].dims
    from ..sweep._util import EXCLUDED_COUNTS, excluded_counts

    parts = {k: float(ds[k]) for k in ("raw", "error", "ceiling") if kind == "brainscore" and k in ds}
    if kind == "crsa":  # its split-half ceiling and the ceiled score, as its text line (null without a ceiling)
        parts = {k: float(ds[k]) if k in ds else None for k in ("ceiling", "ceiled_score")}
    stats, lines = _metric_inference(st, kind, source, target, inference, overwrite, require_existing, backend)
    out.json({"path": res.path, "kind": kind, "source": source, "target": target, "computed": bool(res.computed),
              "value": metric_value(ds), "train_value": metric_value(ds, "train") if split else None,
              "lower_is_better": bool(ds.attrs.get("lower_is_better", False)), **excluded_counts(ds.attrs, EXCLUDED_COUNTS),
              **parts, **stats})
    out.echo(metric_line(res.path, ds, not res.computed))
    for line in lines:
        out.echo(line)


@score.command(name="rsa")
@click.argument("store")
@click.argument("source")
@click.argument("target")
@click.option("--variant", type=click.Choice(["crsa", "ersa", "ereg"]), default="crsa", show_default=True,
              help="crsa: model RDM vs target RDM; ersa: RDM of cross-validated encoding predictions (train/test); ereg: encoding after a sparse random projection.")
@click.option("--rdm-method", type=click.Choice(["correlation", "cosine", "euclidean", "sqeuclidean"]), default=None, help="RDM of each set (crsa, ersa; default correlation).")
@click.option("--compare-method", type=click.Choice(["pearson", "spearman", "kendall", "cosine"]), default=None, help="RDM comparison (crsa, ersa; default spearman).")
@click.option("--ceiling/--no-ceiling", "noise_ceiling", default=None, help="Split-half noise ceiling of the neural RDM (crsa; default: when the target has >= 2 repeats).")
@click.option("--reps", type=click.IntRange(min=1), default=None, help="Split halves of the ceiling (crsa; default 10).")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Seed of the ceiling halves (crsa), the train/test split (ersa), the projection (ereg); default 0.")
@click.option("--alpha", type=click.FloatRange(min=0), default=None, help="Ridge penalty of the encoding model (ersa, ereg; default 0.1).")
@click.option("--n-folds", type=click.IntRange(min=2), default=None, help="Folds of the out-of-fold predictions (ersa, ereg; default 10).")
@click.option("--fold-seed", type=click.IntRange(min=0), default=None, help="Seed of the folds (ersa, ereg; default 0).")
@click.option("--test-size", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None, help="Held-out fraction of the stimuli (ersa; default 0.5).")
@click.option("--n-components", default=None, help="Projection dimension, an integer or 'auto' (ereg; default auto).")
@click.option("--eps", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None, help="Johnson-Lindenstrauss distortion for 'auto' (ereg; default 0.1).")
@_METRIC_BOOT
@_METRIC_PERM
@_METRIC_RESAMPLE_SEED
@_LEVEL
@_BACKEND
@_OVERWRITE
@_REQUIRE
@storage_options
@output_options
@click.pass_context
def score_rsa_command(ctx: click.Context, store: str, source: str, target: str, variant: str, overwrite: bool,
                      require_existing: bool, as_json: bool, quiet: bool, n_boot: int = 0, n_perm: int = 0,
                      resample_seed: int | None = None, level: float | None = None, **_: Any) -> None:
    """RSA between the feature set SOURCE (MODEL.LAYER) and TARGET (neural set NAME[.REGION] or
    MODEL.LAYER) in STORE; writes metrics/<variant>/SOURCE__TARGET/<key>.

    Options that do not apply to the chosen variant are refused.
    """
    params = _given(ctx, ["rdm_method", "compare_method", "noise_ceiling", "reps", "seed", "alpha", "n_folds", "fold_seed",
                          "test_size", "n_components", "eps"])
    if "n_components" in params and params["n_components"] != "auto":
        try:
            params["n_components"] = int(params["n_components"])
        except ValueError:
            raise click.BadParameter(f"must be an integer or 'auto'; got {params['n_components']!r}.", param_hint="--n-components") from None
    _run_metric(store, "rsa", source, target, overwrite, require_existing, {"variant": variant, **params}, Output(as_json, quiet),
                n_boot=n_boot, n_perm=n_perm, resample_seed=resample_seed, boot={"level": level})


@score.command(name="shape")
@click.argument("store")
@click.argument("source")
@click.argument("target")
@click.option("--alpha", type=click.FloatRange(0, 1), default=1.0, show_default=True, help="1 = Procrustes, 0 = CCA-like.")
@click.option("--center-columns/--no-center-columns", default=True, show_default=True)
@click.option("--zero-pad/--no-zero-pad", default=True, show_default=True, help="Pad the narrower representation with zero columns.")
@click.option("--score-method", type=click.Choice(["angular", "euclidean"]), default="angular", show_default=True)
@click.option("--test-size", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.5, show_default=True, help="Held-out fraction of the stimuli.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the train/test split (the split of ersa).")
@_METRIC_BOOT
@_METRIC_PERM
@_METRIC_RESAMPLE_SEED
@_LEVEL
@_BIAS_BOOT_METHOD
@_BACKEND
@_OVERWRITE
@_REQUIRE
@storage_options
@output_options
def score_shape_command(store: str, source: str, target: str, alpha: float, center_columns: bool, zero_pad: bool,
                        score_method: str, test_size: float, seed: int, overwrite: bool, require_existing: bool,
                        as_json: bool, quiet: bool, n_boot: int = 0, n_perm: int = 0, resample_seed: int | None = None,
                        level: float | None = None, method: str | None = None) -> None:
    """Shape-metric distance (LinearMetric) between the feature set SOURCE and TARGET (neural set or
    feature set) in STORE, fitted on train stimuli and reported on train and test; writes
    metrics/shape/SOURCE__TARGET/<key>."""
    _run_metric(store, "shape", source, target, overwrite, require_existing,
                dict(alpha=alpha, center_columns=center_columns, zero_pad=zero_pad, score_method=score_method,
                     test_size=test_size, seed=seed), Output(as_json, quiet), n_boot=n_boot, n_perm=n_perm,
                resample_seed=resample_seed, boot={"level": level, "method": method})


@score.command(name="cka")
@click.argument("store")
@click.argument("source")
@click.argument("target")
@click.option("--debiased", is_flag=True, help="The debiased CKA estimator (also of --bootstrap and --permutations).")
@_METRIC_BOOT
@_METRIC_PERM
@_METRIC_RESAMPLE_SEED
@_LEVEL
@_BIAS_BOOT_METHOD
@_BACKEND
@_OVERWRITE
@_REQUIRE
@storage_options
@output_options
def score_cka_command(store: str, source: str, target: str, debiased: bool, overwrite: bool, require_existing: bool,
                      as_json: bool, quiet: bool, n_boot: int = 0, n_perm: int = 0, resample_seed: int | None = None,
                      level: float | None = None, method: str | None = None) -> None:
    """Linear CKA between the feature set SOURCE and TARGET (neural set or feature set) in STORE;
    writes metrics/cka/SOURCE__TARGET/<key>."""
    _run_metric(store, "cka", source, target, overwrite, require_existing, {"debiased": debiased}, Output(as_json, quiet),
                n_boot=n_boot, n_perm=n_perm, resample_seed=resample_seed, boot={"level": level, "method": method})


@score.command(name="dimensionality")
@click.argument("store")
@click.argument("source")
@_BACKEND
@_OVERWRITE
@_REQUIRE
@storage_options
@output_options
def score_dimensionality_command(store: str, source: str, overwrite: bool, require_existing: bool, as_json: bool,
                                 quiet: bool) -> None:
    """Effective dimensionality of SOURCE (feature set MODEL.LAYER, or neural set NAME[.REGION],
    trial-averaged) in STORE; writes metrics/dimensionality/SOURCE/<key>."""
    _run_metric(store, "dimensionality", source, None, overwrite, require_existing, {}, Output(as_json, quiet))


@score.command(name="brainscore")
@click.argument("store")
@click.argument("source")
@click.argument("target")
@click.option("--n-components", type=click.IntRange(min=1), default=25, show_default=True, help="PLS components (at most the units).")
@click.option("--n-splits", type=click.IntRange(min=1), default=10, show_default=True, help="90/10 stimulus splits (and repetition split halves).")
@click.option("--train-size", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.9, show_default=True)
@click.option("--stratify-by", default="auto", show_default=True,
              help="Stimulus coord to stratify the splits by; 'auto': object_name when present; 'none': never.")
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True, help="random_state of the splits (Brain-Score's 1).")
@click.option("--ceiling/--no-ceiling", default=True, show_default=True, help="Internal-consistency ceiling (needs >= 2 repeats).")
@click.option("--ceiling-mode", type=click.Choice(["ratio", "squared_ratio", "r2_over_ceiling"]), default="ratio", show_default=True,
              help="score = raw/ceiling, (raw/ceiling)^2 or raw^2/ceiling.")
@_OVERWRITE
@_REQUIRE
@storage_options
@output_options
def score_brainscore_command(store: str, source: str, target: str, n_components: int, n_splits: int, train_size: float,
                             stratify_by: str, seed: int, ceiling: bool, ceiling_mode: str, overwrite: bool,
                             require_existing: bool, as_json: bool, quiet: bool) -> None:
    """Brain-Score's protocol (PLS regression-correlation, median over neuroids, ceiled by split-half
    internal consistency) of the feature set SOURCE (MODEL.LAYER) on TARGET (neural set NAME[.REGION])
    in STORE; writes metrics/brainscore/SOURCE__TARGET/<key>."""
    _run_metric(store, "brainscore", source, target, overwrite, require_existing,
                dict(n_components=n_components, n_splits=n_splits, train_size=train_size,
                     stratify_by=None if stratify_by.lower() == "none" else stratify_by, seed=seed, ceiling=ceiling,
                     ceiling_mode=ceiling_mode), Output(as_json, quiet))


# --- time-resolved responses (issue 20): temporal generalisation as an entry
@score.command(name="temporal-generalization")
@click.argument("store")
@click.argument("source")
@click.argument("target")
@click.option("--alpha", type=click.FloatRange(min=0), default=0.1, show_default=True, help="Ridge penalty (with an intercept).")
@click.option("--n-folds", type=click.IntRange(min=2), default=10, show_default=True, help="Folds of the out-of-fold predictions.")
@click.option("--fold-seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of the folds.")
@_OVERWRITE
@_REQUIRE
@storage_options
@output_options
def score_temporal_generalization_command(store: str, source: str, target: str, alpha: float, n_folds: int, fold_seed: int,
                                          overwrite: bool, require_existing: bool, as_json: bool, quiet: bool) -> None:
    """Temporal generalisation from SOURCE (MODEL.LAYER, model -> brain; or a time-resolved NAME[.REGION],
    inter-animal) to the time-resolved TARGET (NAME[.REGION]) in STORE: a ridge fitted at each time bin,
    tested at every bin; writes scores/temporal_generalization/SOURCE__TARGET/<key> (r over neuroid x
    time_bin_train x time_bin_test)."""
    import numpy as np

    out = Output(as_json, quiet)
    res = _run(store, "temporal_generalization", source, target, dict(alpha=alpha, n_folds=n_folds, fold_seed=fold_seed),
               overwrite=overwrite, require_existing=require_existing)
    ds = res.dataset
    med = np.asarray(ds["r"].median("neuroid", skipna=True).values)  # (train, test)
    diag = np.diagonal(med)
    off = med[~np.eye(len(diag), dtype=bool)]
    t = int(np.nanargmax(diag)) if np.isfinite(diag).any() else 0
    stats = {"n_targets": int(ds.sizes["neuroid"]), "n_time_bins": int(len(diag)), "direction": ds.attrs.get("direction"),
             "median_r_diagonal": float(np.nanmean(diag)), "median_r_off_diagonal": float(np.nanmean(off)) if off.size else None,
             "peak_r": float(diag[t]), "peak_bin": [float(ds["time_bin_train_start"][t]), float(ds["time_bin_train_end"][t])]}
    out.json({"path": res.path, "kind": "temporal_generalization", "source": source, "target": target,
              "computed": bool(res.computed), **stats})
    offs = "" if stats["median_r_off_diagonal"] is None else f", off it {stats['median_r_off_diagonal']:.3f}"
    out.echo(f"{res.path}: {stats['direction']} temporal generalisation, {stats['n_targets']} targets x {len(diag)} x {len(diag)} "
             f"time bins; median r over targets, averaged over the cells: on the diagonal {stats['median_r_diagonal']:.3f} "
             f"(peak {stats['peak_r']:.3f} at {stats['peak_bin'][0]:g}-{stats['peak_bin'][1]:g} ms){offs}" + ("" if res.computed else AGAIN))


def _inference_params(kind: str, params: dict[str, Any], n_boot: int, n_perm: int, seed: int | None = None,
                      boot: dict[str, Any] | None = None) -> list[tuple[str, int, dict[str, Any]]]:
    """``(procedure, n, parameters)`` of the bootstrap / permutation entries asked for, with the
    metric's options, the resampling ``seed`` (``--resample-seed``; the metric's own ``--seed``
    is not theirs) and the bootstrap's ``boot`` options (``--level``, shape's and cka's ``--boot-method``);
    options they cannot take are a usage error (checked before any computation)."""
    from ..entries import KINDS
    from ..entries.metrics import inference_params_of

    out = []
    for procedure, n, opt in (("bootstrap", n_boot, "n_boot"), ("permutation", n_perm, "n_perm")):
        if not n:
            continue
        extra = {opt: n, **({} if seed is None else {"seed": seed}), **(boot or {} if procedure == "bootstrap" else {})}
        with running(_OPTION[procedure]):
            try:
                out.append((procedure, n, inference_params_of(kind, params, procedure, **extra)))
            except ValueError as exc:
                raise click.UsageError(one_line(exc)) from None
            KINDS[f"{kind}_{procedure}"].fill(out[-1][2])  # the kind's own check (e.g. no Kendall resampled), before any work
    return out


def _metric_inference(store: Any, kind: str, source: str, target: str | None, inference: list[tuple[str, int, dict[str, Any]]],
                      overwrite: bool, require_existing: bool, backend: str | None = None) -> tuple[dict[str, Any], list[str]]:
    """The bootstrap / permutation entries of a metric (:func:`_inference_params`) in ``store``: their ``--json`` summary and lines."""
    from ..sweep.inference import metric_bootstrap_summary

    stats: dict[str, Any] = {"inference_statistic": _INFERENCE_STATISTIC.get(kind, "value")} if inference else {}
    lines: list[str] = []
    for procedure, n, p in inference:
        with running(_OPTION[procedure]):
            inf = _run(store, f"{kind}_{procedure}", source, target, p, overwrite=overwrite, require_existing=require_existing,
                       backend=backend)
        ds = inf.dataset
        if procedure == "bootstrap":
            got = metric_bootstrap_summary(ds)
            lo, hi, bad = got["score_low"], got["score_high"], got["n_boot_undefined"]
            stats.update(score=float(ds["score"]), score_ci=[lo, hi], n_boot_undefined=bad, bootstrap_path=inf.path)
            lines.append(f"{inf.path}: {kind} {float(ds['score']):.4f} on all stimuli, {_percent(p)} interval {lo:.4f}-{hi:.4f} "
                         f"({n} resamples of the stimuli{_undefined(bad)})")
        else:
            stats.update(p=float(ds["p"]), permutation_path=inf.path)
            lines.append(f"{inf.path}: {kind} {float(ds['score']):.4f}, permutation p = {float(ds['p']):.4g} ({n} permutations)")
    return stats, lines


#: what a metric inference entry's score, score_ci and p are of (``--json``'s inference_statistic; default "value")
_INFERENCE_STATISTIC = {"shape": "fit distance on all stimuli (value is the held-out distance)"}
#: what a direction's bootstrap resamples (``over``), as its line says it
_RESAMPLED = {"stimuli": "stimuli", "targets": "targets", "both": "stimuli and targets"}


def _percent(params: dict[str, Any]) -> str:
    """A bootstrap entry's interval level as its line says it (``95 %``)."""
    return f"{100 * params.get('level', _BOOT_DEFAULTS['level']):g} %"


def _left_out(n: int) -> str:
    """What a score line adds for the stimuli its entry left out for missing trials (its ``n_excluded_stimuli``)."""
    return f"{n} stimul{'us' if n == 1 else 'i'} left out for missing trials"


def _undefined(n: int) -> str:
    """What a bootstrap line adds for its undefined resamples (they make the interval NaN)."""
    return f"; {n} with an undefined statistic, so no interval" if n else ""
