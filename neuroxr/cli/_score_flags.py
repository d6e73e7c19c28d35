"""The options of ``neuroxr score``'s subcommands: their click declarations, the kinds' defaults their
help shows, and which were given on the command line (their checks and parsing are in
:mod:`neuroxr.cli._score_options`)."""

from __future__ import annotations

from typing import Any

import click

from ..backend import BACKENDS
from ._common import output_options, storage_options
from ._score_options import parse_alphas

#: the defaults of the direction kinds (``neuroxr.entries.KINDS[kind].defaults``) shown in the help; an option
#: not given is not passed, so the kind's default applies (tests check this table against the kinds)
_DIRECTION_DEFAULTS: dict[str, Any] = {"reps": 20, "seed": 0, "regressor": "ridge", "alpha": 0.1, "n_components": 20,
                                       "alphas": (1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3, 1e4, 1e5), "n_folds": 10,
                                       "fold_seed": 0, "split": "valid", "min_reliability": None}
_MODEL_TO_MODEL_DEFAULTS: dict[str, Any] = {**_DIRECTION_DEFAULTS, "reps": 1}
#: the regressors named by ``--regressor`` (``neuroxr.kernels.regressors.REGRESSORS``, the sweep's; a test checks it)
_REGRESSORS = ("ridge", "linear", "lasso", "elasticnet", "pls", "ridgecv", "univariate")
#: the defaults of a ``--bootstrap`` entry's own options (``KINDS["<direction>_bootstrap"].defaults``, the sweep's
#: ``inference`` keys; a test checks them); ``shape``'s and ``cka``'s interval (``shape_bootstrap``'s and
#: ``cka_bootstrap``'s ``method``, ``neuroxr.kernels.resample.BIAS_BOOT_METHODS``) is their own
_BOOT_DEFAULTS: dict[str, Any] = {"level": 0.95, "method": "percentile", "over": "stimuli"}
_BIAS_BOOT_DEFAULT = "centred"
#: options of the directions with neural data (split halves of the repeats) only
_NEURAL_ONLY = ("split", "noise_ceiling", "min_reliability")


def _score_options(direction: str) -> list[Any]:
    """The options of a direction command; every default is the kind's (None on the command line)."""
    d = _MODEL_TO_MODEL_DEFAULTS if direction == "model-to-model" else _DIRECTION_DEFAULTS
    m2m = direction == "model-to-model"
    return [
        click.option("--reps", type=click.IntRange(min=1), default=None,
                     help=f"Repetitions of the random split halves (default {d['reps']})." if not m2m else
                     f"Repetitions, each with a fresh --max-n subset of predictors (default {d['reps']}; more need --max-n)."),
        click.option("--seed", type=click.IntRange(min=0), default=None, help=f"Seed of the split-half generator (default {d['seed']})."),
        click.option("--regressor", type=click.Choice(_REGRESSORS), default=None, help=f"default {d['regressor']}"),
        click.option("--alpha", type=float, default=None, help=f"Penalty of ridge/lasso/elasticnet (default {d['alpha']})."),
        click.option("--n-components", type=click.IntRange(min=1), default=None,
                     help=f"PLS components (--regressor pls; default {d['n_components']})."),
        click.option("--alphas", type=str, default=None, callback=parse_alphas, metavar="A,B,...",
                     help=f"Penalties of --regressor ridgecv, separated by commas (default {','.join(f'{a:g}' for a in d['alphas'])})."),
        click.option("--n-folds", type=click.IntRange(min=2), default=None, help=f"Folds of the out-of-fold predictions (default {d['n_folds']})."),
        click.option("--fold-seed", type=click.IntRange(min=0), default=None, help=f"Seed of the folds (default {d['fold_seed']})."),
        click.option("--max-n", type=click.IntRange(min=1), default=None, help="Fresh random subset of predictors every rep."),
        click.option("--split", type=click.Choice(["valid", "slots"]), default=None, hidden=m2m, help=f"Split-half mode (default {d['split']})."),
        click.option("--no-ceiling", "noise_ceiling", is_flag=True, flag_value=False, default=None, hidden=m2m,
                     help="Report r^2*100 without the split-half noise ceiling (default: the ceiling where the target has repeats)."),
        click.option("--min-reliability", type=click.FloatRange(0, 1), default=None, hidden=m2m,
                     help="Mark targets whose split-half reliability is below this included=False (default: none marked)."),
        click.option("--dtype", type=click.Choice(["float64", "float32"]), default=None, help="Precision of the kernels (default float64)."),
        click.option("--backend", type=click.Choice(BACKENDS), default=None, help="Array backend of the ridge kernels."),
        click.option("--bootstrap", "n_boot", type=click.IntRange(min=0), default=0, show_default=True,
                     help="Also write a bootstrap entry (N resamples): an interval of the median EV (--level, --boot-method, --boot-over)."),
        click.option("--permutations", "n_perm", type=click.IntRange(min=0), default=0, show_default=True,
                     help="Also write a permutation-test entry (N permutations): p-value of the median r."),
        _LEVEL,
        click.option("--boot-method", "method", type=click.Choice(["percentile", "bca"]), default=None,
                     help=f"Interval of the --bootstrap entry (default {_BOOT_DEFAULTS['method']})."),
        click.option("--boot-over", "over", type=click.Choice(["stimuli", "targets", "both"]), default=None,
                     help=f"What the --bootstrap entry resamples (default {_BOOT_DEFAULTS['over']})."),
    ]


_OVERWRITE = click.option("--overwrite", is_flag=True, help="Recompute even if a matching entry exists.")
_BACKEND = click.option("--backend", type=click.Choice(BACKENDS), default=None, expose_value=False,
                        callback=lambda ctx, _p, v: ctx.meta.__setitem__("neuroxr_backend", v),  # _run_metric reads it
                        help="Array backend of the Grams, RDMs, their comparisons and the ridge fits (default numpy; "
                             "--bootstrap/--permutations resample on NumPy).")
_REQUIRE = click.option("--require-existing", is_flag=True,
                        help="Only read a matching existing entry; refuse (naming the differing parameters) otherwise.")

_METRIC_BOOT = click.option("--bootstrap", "n_boot", type=click.IntRange(min=0), default=0, show_default=True,
                            help="Also write a bootstrap entry (N resamples of the stimuli): an interval at --level (crsa, ersa, cka, shape).")
_METRIC_PERM = click.option("--permutations", "n_perm", type=click.IntRange(min=0), default=0, show_default=True,
                            help="Also write a permutation-test entry (N permutations): one-sided p-value (crsa, ersa, cka, shape).")

_LEVEL = click.option("--level", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
                      help=f"Confidence level of the --bootstrap interval (default {_BOOT_DEFAULTS['level']}).")
_BIAS_BOOT_METHOD = click.option("--boot-method", "method", type=click.Choice(["centred", "percentile", "basic"]), default=None,
                                 help=f"Interval of the --bootstrap entry (default {_BIAS_BOOT_DEFAULT}: centred on the estimate).")

_METRIC_RESAMPLE_SEED = click.option("--resample-seed", type=click.IntRange(min=0), default=None,
                                     help="Seed of the --bootstrap resamples and --permutations (default 0; the sweep's seed).")

def _options(direction: str) -> Any:
    def add(fn: Any) -> Any:
        for opt in reversed([*_score_options(direction), _OVERWRITE, _REQUIRE, storage_options, output_options]):
            fn = opt(fn)
        return fn
    return add


def _given(ctx: click.Context, names: list[str]) -> dict[str, Any]:
    """The options given on the command line (the others keep the metric's defaults)."""
    out = {}
    for name in names:
        source = ctx.get_parameter_source(name)
        if source is not None and source not in (click.core.ParameterSource.DEFAULT, click.core.ParameterSource.DEFAULT_MAP):
            out[name] = ctx.params[name]
    return out
