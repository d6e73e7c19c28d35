"""A small, realistic synthetic study whose ground truth is known exactly by construction.

The study has two animals (neural responses ``stimulus x neuroid x repeat`` with missing trials
and unequal repeat counts) and several models with several layers (features ``stimulus x unit``
with a power-law eigenspectrum). Everything derives from one latent matrix ``Z``.

Construction (all statements are exact, in-sample, over the ``n`` generated stimuli)
-----------------------------------------------------------------------------------
Latent
    ``Z`` (``n x d``, ``d = n_latent``): orthogonal, centred columns; column ``k`` (1-based) has
    variance ``lambda_k = k ** -spectrum_alpha`` (variances with ``ddof=0``). Its first columns
    carry stimulus-category structure (``category`` coord on ``stimulus``).
Layers
    A layer with shared fraction ``g`` and ``m`` private dims has latent ``X`` (``n x q``,
    ``q = d + m``) with orthogonal centred columns::

        X[:, k] = sqrt(lambda_k) * (sqrt(g) * z_k + sqrt(1 - g) * p_k)   for k < d
        X[:, k] = sqrt(lambda_k) * p_k                                  for d <= k < q

    (``z_k``, ``p_k`` unit-variance columns of ``Z`` and of a private basis orthogonal to ``Z``
    and to the constant), and features ``F = sqrt(p) * X @ A + offset`` with ``A`` (``q x p``)
    having orthonormal rows. So the covariance eigenvalues of ``F`` are exactly
    ``p * lambda_k``, ``k = 1..q`` (then zeros): a power law with slope ``-spectrum_alpha``.
    Layer profiles follow ``g``; the *true* layer has ``g = 1`` and ``m = 0``, so its column
    space (plus the constant) is exactly that of ``Z``.
Neural signal (noise-free, trial-averaged)
    For neuroid ``j``: ``s_j = baseline_j + sd_j * (sqrt(ef_j) * u_j + sqrt(1 - ef_j) * v_j)``
    with ``u_j = Z w_j`` (``w_j ~ N(0, I)``) scaled to unit variance and ``v_j`` a unit-variance
    vector orthogonal to the constant and to ``Z``. Hence ``var(s_j) = sd_j ** 2`` and the
    least-squares ``R^2`` of ``s_j`` on the true layer (with intercept) is exactly
    ``explainable_fraction = ef_j``.
Trials
    ``R[i, j, t] = s_j[i] + noise``, noise i.i.d. ``N(0, sigma_j^2)``,
    ``snr_j = sd_j^2 / sigma_j^2`` (per single trial). The repeat axis has ``T`` slots per
    animal; some stimuli have fewer valid repeats (trailing NaN slots) and a few random trials
    are NaN. Every (stimulus, neuroid) keeps at least ``ceil(T/2) + 1`` valid trials, so every
    split half (first ``ceil(T/2)`` of a random permutation of the ``T`` slots, the rest) holds
    at least one valid trial.
Reliability
    With ``m1``, ``m2`` the numbers of valid trials in the two halves of a uniformly random
    split of the slots (hypergeometric given the valid count of each stimulus/neuroid)::

        a_h  = mean over stimuli of E[1 / m_h]                       (h = 1, 2)
        rho  = sd^2 / sqrt((sd^2 + sigma^2 a_1) * (sd^2 + sigma^2 a_2))
        reliability = 2 rho / (1 + rho)                              (Spearman-Brown)

    the expected split-half reliability of the full-repeat mean (``split_half_r = rho``).
    ``mean_reliability = sd^2 / (sd^2 + sigma^2 * mean(1 / n_valid))`` is the reliability of the
    NaN-mean over all valid trials itself.
Cross-validated truth
    ``cv_explainable_fraction`` is the squared Pearson correlation between ``s_j`` and its
    out-of-fold ridge prediction from the true layer (``Ridge(alpha=0.1, fit_intercept=True)``,
    10 folds of ``RandomState(0)``-shuffled ``arange(n)``, in the generated stimulus order).
    It is the noise-free limit of the noise-ceiled forward EV of the true layer (divide the EV
    in percent by 100); it lies slightly below ``explainable_fraction`` (over-fitting of the
    ``d`` weights to the unexplainable part).
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr
from threadpoolctl import threadpool_limits

from ..errors import ParameterError, shown, warn
from ..layouts import features as _features
from ..layouts import neural as _neural
from ..store import StudyStore
from ..store.study import as_store
from ..validation import check_int
from ._construction import (
    as_per_animal,
    expected_split_half,
    oof_ridge_r2,
    orthonormal_complement,
    orthonormalize,
    unit_variance,
)
from ._study import DEFAULT_ANIMALS, DEFAULT_MODELS, TRUE_LAYER, TRUE_MODEL, LayerSpec, Study

__all__ = [
    "LayerSpec",
    "Study",
    "DEFAULT_MODELS",
    "DEFAULT_ANIMALS",
    "TRUE_MODEL",
    "TRUE_LAYER",
    "make_study",
    "write_example_study",
    "expected_split_half",
]


# ---------------------------------------------------------------------------------- generator
def _numbered(prefix: str, count: int, digits: int) -> np.ndarray:
    """``prefix`` + ``0 .. count - 1``, zero-padded to at least ``digits`` digits and to the widest
    number, so that the ids sort in generation order (the canonical order is by id)."""
    width = max(digits, len(str(max(count - 1, 0))))
    return np.array([f"{prefix}{i:0{width}d}" for i in range(count)])


def make_study(
    seed: int = 0,
    n_stimuli: int = 400,
    animals: Mapping[str, int] | None = None,
    n_repeats: int | Sequence[int] | Mapping[str, int] = (24, 30),
    models: Mapping[str, Sequence[LayerSpec | tuple]] | None = None,
    true_model: str = TRUE_MODEL,
    true_layer: str = TRUE_LAYER,
    n_latent: int = 16,
    spectrum_alpha: float = 1.0,
    unit_scale: float = 1.0,
    n_categories: int = 8,
    regions: Mapping[str, float] | None = None,
    explainable_range: tuple[float, float] = (0.2, 0.95),
    snr_range: tuple[float, float] = (0.05, 2.0),
    short_fraction: float = 0.25,
    missing_rate: float = 0.03,
    cv_alpha: float = 0.1,
    cv_folds: int = 10,
    fold_seed: int = 0,
    dtype: str | np.dtype = "float64",
) -> Study:
    """Generate a synthetic study with exact ground truth (see the module docstring).

    Parameters
    ----------
    seed : int, default 0
        Seed of everything, a non-negative int (independent ``numpy.random`` streams: latent and neural spawned from
        ``SeedSequence(seed)``, one per layer keyed by ``seed`` and ``"model/layer"``); same seed,
        same arrays. The latent and the neural data do not depend on ``models``, and a layer's
        features depend only on the seed, its name, its spec, the latent and ``n_stimuli``.
    n_stimuli : int, default 400
        Number of stimuli ``n`` (shared, in the same order, by all animals and models).
    animals : mapping str -> int, optional
        Neuroids per animal; default ``{"animalA": 120, "animalB": 88}``.
    n_repeats : int, sequence of int (one per animal) or mapping
        Repeat slots ``T`` per animal (default 24 and 30). Needs ``T >= 4``.
    models : mapping str -> sequence of LayerSpec, optional
        Models and their layers in depth order; default :data:`DEFAULT_MODELS`. Tuples
        ``(name, n_units, shared_fraction, n_private)`` are accepted.
    true_model, true_layer : str, default "netA", "layer3"
        The layer the neural signal is built from; it must have ``shared_fraction == 1`` and
        ``n_private == 0``.
    n_latent : int, default 16
        Dimension ``d`` of the true latent.
    spectrum_alpha : float, default 1.0
        Power-law exponent: latent dim ``k`` (1-based) has variance ``k ** -spectrum_alpha``.
    unit_scale : float, default 1.0
        Multiplies every layer's unit count (for benchmarks).
    n_categories : int, default 8
        Stimulus categories (coord ``category``); they shape the top latent dims. 0 or 1: none.
    regions : mapping str -> float, optional
        Region labels and their proportions per animal; default ``{"V4": 0.4, "IT": 0.6}``.
    explainable_range : (float, float), default (0.2, 0.95)
        Explainable fractions are uniform on this interval (within ``[0, 1]``).
    snr_range : (float, float), default (0.05, 2.0)
        Single-trial signal-to-noise variance ratios are log-uniform on this interval.
    short_fraction : float, default 0.25
        Fraction of stimuli (per animal) with fewer valid repeats (trailing NaN slots); their
        counts are uniform on ``[ceil(0.6 T), T - 1]``.
    missing_rate : float, default 0.03
        Probability that a single trial is NaN (never leaving fewer than ``ceil(T/2) + 1`` valid).
    cv_alpha, cv_folds, fold_seed : float, int, int, default 0.1, 10, 0
        Ridge penalty and folds of ``cv_explainable_fraction``.
    dtype : str or numpy dtype, default "float64"
        Float dtype of the neural and feature values (truth stays float64).

    Returns
    -------
    Study
        ``truth`` holds, over ``neuroid`` (all animals): ``explainable_fraction``,
        ``cv_explainable_fraction``, ``reliability``, ``split_half_r``, ``mean_reliability``,
        ``snr``, ``signal_variance``, ``noise_variance``, ``baseline``, ``mean_valid_repeats``;
        ``signal`` (``stimulus x neuroid``, noise-free trial-averaged responses); ``latent``
        (``stimulus x factor``, the matrix ``Z``) and ``latent_variance`` (``factor``); per ``layer_key``:
        ``model``, ``layer``, ``shared_fraction``, ``n_private``, ``n_units``, ``depth_index``.
        Attrs name the true layer and the parameters.

    Raises
    ------
    ParameterError
        Inconsistent parameters (e.g. too many latent dims for the stimuli, a true layer that is
        not pure). A layer with fewer units than its latent dims is enlarged to them, with a warning.
    """
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or int(seed) < 0:
        raise ParameterError(f"make_study: seed must be a non-negative int (it determines every array); got {seed!r}.")
    animals = dict(DEFAULT_ANIMALS if animals is None else animals)
    for a, k in animals.items():  # int() truncated 2.5, a name such as 'A/B' made ids no store takes
        if not isinstance(a, str) or not a or "/" in a:
            raise ParameterError(f"make_study: animals must be keyed by non-empty names without '/'; got {shown(a)}.")
        check_int(k, f"animals[{a!r}]", 1, "Pass a number of neuroids per animal.", caller="make_study")
    for arg, v, low in (("n_stimuli", n_stimuli, 1), ("n_latent", n_latent, 2), ("n_categories", n_categories, 0),
                        ("cv_folds", cv_folds, 2), ("fold_seed", fold_seed, 0)):
        check_int(v, arg, low, caller="make_study")  # int() truncated 100.7 to 100
    regions = dict({"V4": 0.4, "IT": 0.6} if regions is None else regions)
    raw_models = DEFAULT_MODELS if models is None else models
    specs: dict[str, list[LayerSpec]] = {}
    for m, layers in raw_models.items():
        specs[str(m)] = []
        for spec in layers:
            if isinstance(spec, (str, bytes)) or not isinstance(spec, Sequence) or len(spec) != 4:  # LayerSpec's fields
                raise ParameterError(f"make_study: models[{m!r}] holds {shown(spec)}; give each layer as LayerSpec(name, n_units, shared_fraction, n_private), e.g. ('l1', 64, 0.5, 8).")  # noqa: E501
            s = LayerSpec(*spec)
            n_units = max(int(round(s.n_units * unit_scale)), n_latent + s.n_private)
            if n_units != int(round(s.n_units * unit_scale)):  # never silently: the layer asked for is not the one built
                warn(f"make_study: layer {m}.{s.name} asked for {int(round(s.n_units * unit_scale))} units, fewer than its "
                     f"n_latent + n_private = {n_latent} + {s.n_private} latent dims; it gets {n_units}. Ask for at least "
                     f"that many, or lower n_latent / n_private.")
            specs[str(m)].append(s._replace(n_units=n_units))
    if len(specs) != len(raw_models):
        raise ParameterError(f"models: keys {list(raw_models)} name one model twice as strings; give each model its own name.")
    n, d = int(n_stimuli), int(n_latent)
    reps = as_per_animal(n_repeats, list(animals), "n_repeats")

    # --- checks
    if not animals:
        raise ParameterError("animals: needs at least one animal.")
    if d < 2:
        raise ParameterError(f"n_latent must be at least 2; got {d}.")
    if true_model not in specs or true_layer not in [s.name for s in specs[true_model]]:
        raise ParameterError(
            f"true layer {true_model}/{true_layer} is not among the models: "
            f"{ {m: [s.name for s in ls] for m, ls in specs.items()} }."
        )
    for m, layers in specs.items():
        names = [s.name for s in layers]
        twice = sorted({x for x in names if names.count(x) > 1})
        if twice:  # one would overwrite the other in features[model] (and the true layer would be ambiguous)
            raise ParameterError(f"models: model {m!r} names layers {twice} more than once; give each layer its own name.")
        for s in layers:
            if not 0.0 <= s.shared_fraction <= 1.0:
                raise ParameterError(f"layer {m}/{s.name}: shared_fraction must lie in [0, 1]; got {s.shared_fraction}.")
            if s.n_private < 0:
                raise ParameterError(f"layer {m}/{s.name}: n_private must be >= 0; got {s.n_private}.")
            if 1 + 2 * d + s.n_private > n:
                raise ParameterError(
                    f"layer {m}/{s.name}: {d} latent + {d + s.n_private} private dims do not fit in "
                    f"{n} stimuli; use more stimuli or fewer dims."
                )
    tspec = next(s for s in specs[true_model] if s.name == true_layer)
    if tspec.shared_fraction != 1.0 or tspec.n_private != 0:
        raise ParameterError(
            f"true layer {true_model}/{true_layer} must have shared_fraction 1 and n_private 0; "
            f"got {tspec.shared_fraction} and {tspec.n_private}."
        )
    if sum(animals.values()) + d + 1 > n:
        raise ParameterError(f"too few stimuli ({n}) for {sum(animals.values())} neuroids and {d} latent dims.")
    lo_ef, hi_ef = explainable_range
    if not 0.0 <= lo_ef <= hi_ef <= 1.0:
        raise ParameterError(f"explainable_range must satisfy 0 <= low <= high <= 1; got {explainable_range}.")
    if not 0.0 < snr_range[0] <= snr_range[1]:
        raise ParameterError(f"snr_range must be positive and increasing; got {snr_range}.")
    for a, t in reps.items():
        if t < 4:
            raise ParameterError(f"n_repeats for {a!r} must be at least 4; got {t}.")
    if not 0.0 <= missing_rate < 0.5 or not 0.0 <= short_fraction <= 1.0:
        raise ParameterError(f"missing_rate must lie in [0, 0.5) and short_fraction in [0, 1]; got {missing_rate}, {short_fraction}.")

    # independent streams: changing the models leaves the latent and the neural data unchanged
    rng_latent, rng = (np.random.default_rng(c) for c in np.random.SeedSequence(seed).spawn(2))
    ids = _numbered("stim", n, 4)
    category = np.zeros(n, dtype=int)

    # --- latent: orthogonal centred columns with variances k^-alpha
    lam_all = np.arange(1, 1 + max(d + s.n_private for ls in specs.values() for s in ls), dtype=float) ** -spectrum_alpha
    g = rng_latent.standard_normal((n, d))
    if n_categories > 1:
        category = rng_latent.integers(0, n_categories, n)
        n_cat_dims = min(d, n_categories - 1)
        means = rng_latent.standard_normal((n_categories, n_cat_dims)) * 2.0
        g[:, :n_cat_dims] += means[category]
    const = np.full((n, 1), 1.0 / np.sqrt(n))
    g -= g.mean(0)
    zb = orthonormalize(g)  # orthonormal, orthogonal to the constant
    zb -= const @ (const.T @ zb)
    zb = orthonormalize(zb)
    z_unit = zb * np.sqrt(n)  # unit variance (ddof=0)
    latent = z_unit * np.sqrt(lam_all[:d])
    base = np.hstack([const, zb])  # orthonormal basis of [1, Z]

    # --- features
    feats: dict[str, dict[str, xr.DataArray]] = {}
    layer_rows = []
    true_x = None
    for m, layers in specs.items():
        feats[m] = {}
        for depth, s in enumerate(layers):
            qd = d + s.n_private
            # one stream per layer, keyed by its name: adding or removing layers changes no other layer
            rng_feat = np.random.default_rng([int(seed), 1, zlib.crc32(f"{m}/{s.name}".encode())])
            if s.shared_fraction == 1.0 and s.n_private == 0:
                x_unit = z_unit.copy()
            else:
                priv = orthonormal_complement(rng_feat, base, qd) * np.sqrt(n)
                x_unit = priv.copy()
                x_unit[:, :d] = np.sqrt(s.shared_fraction) * z_unit + np.sqrt(1.0 - s.shared_fraction) * priv[:, :d]
            x = x_unit * np.sqrt(lam_all[:qd])
            a = orthonormalize(rng_feat.standard_normal((s.n_units, qd))).T  # qd x p, orthonormal rows
            offset = rng_feat.uniform(0.0, 2.0, s.n_units)
            scaled = np.sqrt(s.n_units) * x
            f = scaled @ a + offset
            if m == true_model and s.name == true_layer:
                true_x = scaled
            unit_ids = _numbered(f"{s.name}_u", s.n_units, 5)
            da = _features(
                f.astype(dtype, copy=False), ids, unit_ids, model=m, layer=s.name, name=f"{m}/{s.name}",
                attrs={
                    "source": "neuroxr.datasets.synthetic",
                    "seed": int(seed),
                    "depth_index": depth,
                    "shared_fraction": float(s.shared_fraction),
                    "n_latent_dims": int(qd),
                    "spectrum_alpha": float(spectrum_alpha),
                    "is_true_layer": bool(m == true_model and s.name == true_layer),
                },
            )
            feats[m][s.name] = da.assign_coords(category=("stimulus", category))
            layer_rows.append((f"{m}/{s.name}", m, s.name, s.shared_fraction, s.n_private, s.n_units, depth))
    assert true_x is not None

    # --- neural signal and trials, per animal
    k_total = sum(animals.values())
    w = rng.standard_normal((d, k_total))
    u = unit_variance(latent @ w)
    v = unit_variance(orthonormal_complement(rng, base, k_total))
    ef = rng.uniform(lo_ef, hi_ef, k_total)
    snr = np.exp(rng.uniform(np.log(snr_range[0]), np.log(snr_range[1]), k_total))
    sd = np.exp(rng.uniform(np.log(1.0), np.log(4.0), k_total))
    baseline = rng.uniform(5.0, 20.0, k_total)
    signal = baseline + sd * (np.sqrt(ef) * u + np.sqrt(1.0 - ef) * v)
    sigma = sd / np.sqrt(snr)
    with threadpool_limits(1, user_api="blas"):
        cv_ef = oof_ridge_r2(true_x, signal, cv_alpha, cv_folds, fold_seed)

    region_names = list(regions)
    props = np.asarray([regions[rn] for rn in region_names], dtype=float)
    if (props < 0).any() or props.sum() <= 0:
        raise ParameterError(f"regions: proportions must be non-negative with a positive sum; got {regions}.")
    props = props / props.sum()

    neural_sets: dict[str, xr.DataArray] = {}
    cols = {key: [] for key in ("neuroid_id", "animal", "region", "reliability", "split_half_r", "mean_reliability", "mean_valid_repeats")}
    start = 0
    for animal, k in animals.items():
        t_slots = reps[animal]
        sl = slice(start, start + k)
        start += k
        lo_valid = (t_slots + 1) // 2 + 1  # neither split half can be empty
        counts = np.full(n, t_slots)
        short = rng.random(n) < short_fraction
        short_lo = max(lo_valid, int(np.ceil(0.6 * t_slots)))
        counts[short] = rng.integers(short_lo, t_slots, short.sum()) if short_lo < t_slots else t_slots
        valid = np.arange(t_slots)[None, None, :] < counts[:, None, None]
        valid = np.broadcast_to(valid, (n, k, t_slots)).copy()
        drop = rng.random((n, k, t_slots)) < missing_rate
        kept = valid & ~drop
        too_few = kept.sum(-1) < lo_valid
        kept[too_few] = valid[too_few]
        n_valid = kept.sum(-1)  # n x k

        noise = rng.standard_normal((n, k, t_slots)) * sigma[sl][None, :, None]
        trials = signal[:, sl, None] + noise
        trials[~kept] = np.nan

        inv1, inv2 = expected_split_half(t_slots, n_valid)
        a1, a2 = inv1.mean(0), inv2.mean(0)
        var_s, var_n = sd[sl] ** 2, sigma[sl] ** 2
        rho = var_s / np.sqrt((var_s + var_n * a1) * (var_s + var_n * a2))
        rel = 2 * rho / (1 + rho)
        mean_rel = var_s / (var_s + var_n * np.mean(1.0 / n_valid, axis=0))

        n_per_region = np.floor(props * k).astype(int)
        n_per_region[np.argmax(props)] += k - n_per_region.sum()
        region = rng.permutation(np.repeat(np.array(region_names), n_per_region))
        nid = _numbered(f"{animal}_n", k, 3)

        da = _neural(
            trials.astype(dtype, copy=False), ids, nid, name=animal,
            attrs={
                "source": "neuroxr.datasets.synthetic",
                "seed": int(seed),
                "true_model": true_model,
                "true_layer": true_layer,
            },
            animal=np.full(k, animal),
            region=region,
            explainable_fraction=ef[sl],
            cv_explainable_fraction=cv_ef[sl],
            reliability=rel,
            snr=snr[sl],
        )
        neural_sets[animal] = da.assign_coords(category=("stimulus", category))
        for key, val in (("neuroid_id", nid), ("animal", np.full(k, animal)), ("region", region),
                         ("reliability", rel), ("split_half_r", rho), ("mean_reliability", mean_rel),
                         ("mean_valid_repeats", n_valid.mean(0))):
            cols[key].append(val)
    col = {key: np.concatenate(vals) for key, vals in cols.items()}

    keys, lm, ll, lg, lp, lu, ldep = map(np.asarray, zip(*layer_rows))
    truth = xr.Dataset(
        {
            "signal": (("stimulus", "neuroid"), signal),
            "explainable_fraction": ("neuroid", ef),
            "cv_explainable_fraction": ("neuroid", cv_ef),
            "reliability": ("neuroid", col["reliability"]),
            "split_half_r": ("neuroid", col["split_half_r"]),
            "mean_reliability": ("neuroid", col["mean_reliability"]),
            "snr": ("neuroid", snr),
            "signal_variance": ("neuroid", sd**2),
            "noise_variance": ("neuroid", sigma**2),
            "baseline": ("neuroid", baseline),
            "mean_valid_repeats": ("neuroid", col["mean_valid_repeats"]),
            "latent": (("stimulus", "factor"), latent),
            "latent_variance": ("factor", lam_all[:d]),
            "shared_fraction": ("layer_key", lg.astype(float)),
            "n_private": ("layer_key", lp.astype(int)),
            "n_units": ("layer_key", lu.astype(int)),
            "depth_index": ("layer_key", ldep.astype(int)),
        },
        coords={
            "stimulus_id": ("stimulus", ids),
            "category": ("stimulus", category),
            "neuroid_id": ("neuroid", col["neuroid_id"]),
            "animal": ("neuroid", col["animal"]),
            "region": ("neuroid", col["region"]),
            "factor": np.arange(1, d + 1),
            "layer_key": keys.astype(str),
            "model": ("layer_key", lm.astype(str)),
            "layer": ("layer_key", ll.astype(str)),
        },
        attrs={
            "true_model": true_model,
            "true_layer": true_layer,
            "seed": int(seed),
            "spectrum_alpha": float(spectrum_alpha),
            "cv_alpha": float(cv_alpha),
            "cv_folds": int(cv_folds),
            "fold_seed": int(fold_seed),
            "definitions": (
                "explainable_fraction: in-sample least-squares R^2 (with intercept) of the noise-free signal "
                "on the true layer. cv_explainable_fraction: squared Pearson r of the signal and its "
                "out-of-fold ridge prediction from the true layer (the noise-free limit of forward EV / 100). "
                "reliability: Spearman-Brown of the expected split-half Pearson r (random split of the repeat "
                "slots, ceil(T/2) / floor(T/2)). snr: single-trial signal variance / noise variance. "
                "See neuroxr.datasets.synthetic."
            ),
        },
    )
    params = dict(
        seed=seed, n_stimuli=n, animals=animals, n_repeats=reps, n_latent=d, spectrum_alpha=spectrum_alpha,
        unit_scale=unit_scale, n_categories=n_categories, regions=regions, explainable_range=explainable_range,
        snr_range=snr_range, short_fraction=short_fraction, missing_rate=missing_rate,
    )
    return Study(neural=neural_sets, features=feats, truth=truth, true_model=true_model,
                 true_layer=true_layer, params=params)


def write_example_study(
    store_or_path: StudyStore | str | os.PathLike,
    seed: int = 0,
    unit_chunk: int = 4096,
    **kw: Any,
) -> StudyStore:
    """Generate a study with :func:`make_study` and write it to a study store.

    Writes ``neural/<animal>`` for each animal and ``features/<model>/<layer>`` for each layer
    (layers keep their depth order through the ``depth_index`` attr). The neuroid-level truth
    travels as coords of the neural sets; the true layer is named in their attrs.

    Parameters
    ----------
    store_or_path : StudyStore, str or os.PathLike
        An open (writable) store, or where to create one.
    seed : int, default 0
        Seed passed to :func:`make_study`.
    unit_chunk : int, default 4096
        Units per chunk of the feature arrays.
    **kw
        Further arguments of :func:`make_study`.

    Returns
    -------
    StudyStore
        The store written to.
    """
    unit_chunk = check_int(unit_chunk, "unit_chunk", 1, "Pass a number of units per chunk, e.g. 4096.",
                           caller="write_example_study")
    study = make_study(seed=seed, **kw)  # first: a refused argument left an empty store behind
    store = as_store(store_or_path, "a", create=True)  # a generator makes the store
    for animal, da in study.neural.items():
        store.write_neural(animal, da)
    for model, layers in study.features.items():
        for layer, da in layers.items():
            store.write_features(model, layer, da, unit_chunk=unit_chunk)
    return store
