"""The revision history of the entry kinds: which fix changed which kinds' numbers.

An entry's provenance records its kind's revision (:func:`entry_revision`), so an entry written
before a fix that changed its numbers has another key, is listed ``stale (older revision)`` and is
never read back (docs/entries.md). Each stop's fixes raise the kinds they changed by one
(:data:`STOPS`); a fix that changed only some entries of a kind (by a parameter the key holds)
raises those alone (:func:`entry_revision`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..kernels.regressors import fits_jointly
from .kinds import (
    DIRECTION_INFERENCE_KINDS,
    DIRECTION_KINDS,
    KINDS,
    METRIC_INFERENCE_KINDS,
    METRIC_KINDS,
    TIME_KINDS,
    get_kind,
    streams,
)

__all__ = ["REVISIONS", "STOPS", "entry_revision", "raised_per_stop"]

#: kind -> revision, for the kinds whose numbers a fix changed (absent: 0). Shape entries split by
#: position in the stored order, crsa_permutation permuted a model RDM whose columns were not in
#: canonical order, RSA inference returned NaN for an RDM with NaN pairs (now left out and counted),
#: brainscore took its ceiling from neuroids by position when one was dropped, and cka_bootstrap
#: kept the common stimuli of two sets instead of refusing. Revision 2 of forward: time-resolved
#: responses whose bins miss trials of different stimuli were scored on the stimuli all bins shared
#: (the bins' missing patterns were grouped together; also, a streamed Gram of lazy float32
#: features is now float64); the neural directions' inference: per-bin
#: resamples were labeled with the first bin's stimuli; shape (2) and its inference: the whitening
#: floors covariance eigenvalues at netrep's absolute 1e-7, not relative to the largest; shape (3):
#: the held-out distance pairs only the directions the training data determine (a partial isometry,
#: the null space whitened by alpha alone), so it no longer follows the rounding of a null space
#: (at least as many units as training stimuli; the training distance is unchanged). brainscore
#: (2): its PLS fitted the neuroids in the input's order, now in canonical id order, (3) and the units
#: too (the components past the features' rank fitted order-dependent rounding); ereg (1): the
#: random projection drew over the units in the stored order, now in canonical id order. gram (1):
#: it records whether the features are integers (and their largest magnitude), which exact
#: Euclidean RDMs need; one stored before reads as not integral; (2) it holds the row pass where
#: the stimuli have large offsets (kernels.gram_rows), without which correlation and cosine RDMs
#: from it lose digits; one stored before has none. cka_bootstrap (2): its interval is centred on the
#: estimate by default (method="centred"; resampled biased CKA runs above it), with score_bias.
REVISIONS = {"gram": 2, "forward": 2, "shape": 2, "crsa_bootstrap": 1, "crsa_permutation": 1, "ersa_bootstrap": 1,
             "ersa_permutation": 1, "brainscore": 3, "ereg": 1, "cka_bootstrap": 2, "cka_permutation": 1, "shape_bootstrap": 1,
             "shape_permutation": 1, "forward_bootstrap": 1, "reverse_bootstrap": 1, "inter_animal_bootstrap": 1,
             "forward_permutation": 1, "reverse_permutation": 1, "inter_animal_permutation": 1}
#: The kinds fitting ridge through the shared kernels (the directions, their inference, eRSA, eReg):
#: a kernel of numerical rank below the training size (more predictors than training stimuli, but
#: low rank) once amplified its null space's rounding by 1 / alpha; it now runs on its low-rank
#: factor (docs/kernels.md, "Ridge precision"), so each is one revision up; temporal generalisation's
#: fits take scikit-learn's SVD solution then.
RIDGE_KINDS = (*DIRECTION_KINDS, *DIRECTION_INFERENCE_KINDS, "ersa", "ersa_bootstrap", "ersa_permutation", "ereg",
               *TIME_KINDS)
for _name in RIDGE_KINDS:
    REVISIONS[_name] = REVISIONS.get(_name, 0) + 1
#: The kinds that decide "no variance across the stimuli": features or targets constant up to
#: rounding (a centred sum of squares at most 256 eps of the uncentred one, :mod:`neuroxr.kernels.stats`)
#: were scored as if they varied (CKA, effective dimensionality, a target's r, a shape distance:
#: numbers from rounding; forward scored an exactly constant target whose float mean is not exact
#: r = 1); now NaN with a warning (a constant design: the error; shape: as a zero representation), so each is one revision up.
CONSTANT_KINDS = (*DIRECTION_KINDS, *DIRECTION_INFERENCE_KINDS, "cka", "dimensionality", "cka_bootstrap", "cka_permutation",
                  "shape", "shape_bootstrap", "shape_permutation", *TIME_KINDS)
#: The kinds that rank their targets' split halves whatever their parameters (forward and
#: inter-animal's ceiling, resampled by their bootstrap): ranks now tie values equal up to rounding
#: (docs/kernels.md, "Ties up to rounding"), which changes the numbers of data whose ties rounding
#: broke (spike rates); which data those are the key cannot tell, so each is one revision up.
RANK_KINDS = ("forward", "inter_animal", "forward_bootstrap", "inter_animal_bootstrap")
#: The kinds whose numbers other fixes of the same stop changed for some inputs: permutation p-values
#: count null values equal to the observed one up to rounding as ties (a sparse target's p followed
#: the rounding); the metrics average float16 / float32 neural repeats in float64 (they were averaged
#: in the input's dtype); a target group with 2 stimuli is NaN (its out-of-fold r was always -1);
#: shape's held-out distance pairs only the directions the training data span (it followed the
#: rounding of their null space); shape_bootstrap's interval corrects the resampling bias.
OTHER_KINDS = (*(k for k in KINDS if k.endswith("_permutation")), *METRIC_KINDS, *METRIC_INFERENCE_KINDS,
               *DIRECTION_KINDS, *TIME_KINDS)
#: The kinds fitting ridge on in-memory features through the shared kernels: where the rank bound
#: fires, features of *nearly* low rank (small genuine axes below the Gram's resolution) lost those
#: axes, and a float32 Gram of most features lost far more; the primal forms now run on the features'
#: principal axes (docs/kernels.md, "Ridge precision"; temporal generalisation's fits were already scikit-learn's SVD solution).
PRINCIPAL_AXES_KINDS = (*DIRECTION_KINDS, *DIRECTION_INFERENCE_KINDS, "ersa", "ersa_bootstrap", "ersa_permutation", "ereg")
#: The bootstrap kinds, whose interval of a statistic with an undefined (NaN) resample is now NaN, as
#: scipy.stats.bootstrap's (those resamples were left out; n_boot_undefined counts them), and whose
#: resampled r over 2 distinct stimuli of a target is undefined (it was +-1); crsa, whose ceiled_score
#: is NaN for a ceiling <= 0 (it divided by it); temporal generalisation, which counts the group limit
#: of its targets' missing-stimulus patterns per (train bin, test bin) pair (the diagonal is the direction's r).
UNDEFINED_RESAMPLE_KINDS = (*(k for k in KINDS if k.endswith("_bootstrap")), "crsa", *TIME_KINDS)
#: Temporal generalisation, whose targets with fewer usable stimuli than folds now count among their
#: (train bin, test bin) pair's missing-stimulus patterns and shared stimuli, as the direction counts
#: them on a bin (left out, they could turn the group limit's fallback on or off: the diagonal was off
#: the direction's r).
TG_FEW_TARGET_KINDS = (*TIME_KINDS,)
#: crsa and Brain-Score, whose split-half ceilings now halve each (stimulus, neuroid)'s valid repeats
#: (split="valid"; the halves of slots left neuroids out per rep, or made the ceiling NaN, with
#: unequal repeat counts) and whose score uses the ceiling's neuroids (2 valid repeats on every
#: stimulus): a neuroid with one trial on a stimulus was in the score but not in its ceiling.
#: crsa's bootstrap and permutation entries score the same neuroids as crsa's default. Equal on
#: complete data.
GEOMETRY_MISSING_KINDS = ("crsa", "brainscore", "crsa_bootstrap", "crsa_permutation")
#: The RSA inference kinds, whose comparisons with fewer than 3 complete RDM pairs (an all-NaN RDM: the
#: correlation RDM of one unit or neuroid, or of a constant layer) are now NaN as compare_rdms's: the
#: permutation entries held score 0.0 and p 1.0 (Pearson and cosine; Spearman crashed), the bootstraps'
#: score and resamples of 1 or 2 complete pairs +-1.
ALL_NAN_RDM_KINDS = ("crsa_bootstrap", "crsa_permutation", "ersa_bootstrap", "ersa_permutation")
#: Brain-Score, which now refuses splits holding out fewer than 3 stimuli (11 to 20 stimuli at
#: train_size=0.9: every held-out r was +-1; 10 or fewer: NaN) and scores a neuroid whose trial means
#: are constant across stimuli NaN in its consistency (its halves gave r = -1: -inf, or about 1e16).
BRAINSCORE_FEW_KINDS = ("brainscore",)
#: The ridge metrics, which now refuse features without variance across the stimuli (a dead layer;
#: eRSA's also on its training stimuli) as the directions refuse such a design: eReg's r was an
#: artefact of intercept-only predictions (near -0.6), eRSA's train_score finite; same stop.
CONSTANT_DESIGN_METRIC_KINDS = ("ereg", "ersa", "ersa_bootstrap", "ersa_permutation")
#: This stop's kinds whose stored numbers can change. Features, a design or trial means are constant
#: when every unit is, each decided on its own squares (one large constant unit, e.g. at 1e8 or a
#: float32 Gram's "massive activation", once made a whole layer constant: CKA, dimensionality and
#: shape NaN), and the Gram records its varying units (gram); features or trial means constant up
#: to rounding give exactly constant RDMs (RSA scores NaN; they were finite, from rounding noise);
#: temporal_generalization refuses a source constant at a bin (it scored an intercept's r);
#: Brain-Score's ceiling refuses fewer than 3 stimuli with 2 valid repeats (it read 1.0). The
#: directions and their inference only refuse designs they refused before, or fewer: their stored
#: numbers stand.
STOP_18_KINDS = ("gram", *TIME_KINDS, *METRIC_KINDS, *METRIC_INFERENCE_KINDS)
#: This stop's kinds whose stored numbers change: the RSA bootstraps with a Spearman comparison
#: (crsa's and ersa's default compare_method) now rank each resample's RDMs anew, as compare_rdms
#: ranks the resampled RDMs (their score_boot and score_ci were the Pearson correlation of the
#: full-sample ranks on the resampled pairs); the point scores stand. The permutation kinds stand: a
#: permutation of the stimuli permutes the ranks exactly (and ersa_permutation keeps no resample).
STOP_19_KINDS = ("crsa_bootstrap", "ersa_bootstrap")
#: The kinds that take ``dtype`` (the directions and their inference), whose float32 entries alone
#: change at this stop: the shared kernels centre each column (design or target) in float64 before
#: the float32 cast (:func:`neuroxr.kernels.regressors.centred_cast`), so a column far from zero keeps
#: its variation's digits (features at 1e5 with unit spread: r off by up to 3.5e-3 before, 3e-7
#: now); every float32 entry's numbers move by float32's rounding. Their float64 entries stand, so
#: these kinds are raised by :func:`entry_revision` for ``dtype='float32'`` alone, not in a stop.
FLOAT32_CENTRED_KINDS = (*DIRECTION_KINDS, *DIRECTION_INFERENCE_KINDS)
#: The directions' bootstrap kinds, whose entries over targets (``over`` "targets" or "both") only
#: change at this stop: the targets are drawn among those scored, where a target never scored
#: (all-NaN, constant, too few stimuli: NaN in every variable) was drawn too, so each resample that
#: drew it took the median of fewer targets (``median_ev_boot`` / ``_ci``, ``median_ceiling_boot`` /
#: ``_ci``). Their entries over stimuli stand, so these kinds are raised by :func:`entry_revision` for
#: ``over`` other than "stimuli" alone, not in a stop.
TARGET_DRAW_KINDS = tuple(k for k in DIRECTION_INFERENCE_KINDS if k.endswith("_bootstrap"))
#: The CKA inference kinds, whose numbers change at this stop: the biased bootstrap's resamples are
#: computed in closed form from the draw counts (not from the gathered Grams: the same values up to
#: rounding); a resample whose drawn stimuli are equal up to rounding is constant (NaN and counted,
#: biased and debiased; it scored the rounding); the permutation nulls (biased and debiased) centre
#: the Grams once and permute the centred Gram (each permuted Gram was centred anew: rounding).
CKA_CLOSED_FORM_KINDS = ("cka_bootstrap", "cka_permutation")
#: The CKA kinds whose debiased entries (``debiased`` true) alone change at this stop: Song et al.'s
#: unbiased HSIC of the estimate and of the permutation null is computed with the bootstrap
#: resamples' formula at unit counts (one formula; sums over the Grams without their diagonal built a
#: block of columns at a time, 3 Grams of memory instead of 6): the same estimator, other rounding.
#: Their biased entries stand, so these kinds are raised by :func:`entry_revision` for
#: ``debiased`` alone, not in a stop.
DEBIASED_HSIC_KINDS = ("cka", "cka_bootstrap", "cka_permutation")
#: The RSA kinds whose entries with a correlation or cosine RDM (``rdm_method``) alone change at this
#: stop: an RDM whose values are all equal up to rounding on the measure's own scale (``1 - r`` errs
#: by about ``1e-16`` absolute) is now made constant (:func:`neuroxr.kernels.rdm.tie_bounded`), so
#: the RDM of affine copies of one pattern (rounding up to ``1e-15`` around 0, which a comparison
#: correlated: any score) is flat and its comparisons NaN. Their Euclidean entries stand, so these kinds are raised by :func:`entry_revision` for those
#: ``rdm_method`` alone, not in a stop.
BOUNDED_TIE_KINDS = ("crsa", "ersa", "crsa_bootstrap", "crsa_permutation", "ersa_bootstrap", "ersa_permutation")
#: The RSA bootstraps whose entries comparing by Pearson (``compare_method`` "pearson") alone change at
#: this stop: a resample's RDM without variance is judged by :func:`~neuroxr.geometry.compare_rdms`'s
#: rule on the values it draws (:func:`neuroxr.kernels.compare.flat_ends`; an RDM whose relative spread
#: lay between about ``6e-14`` and ``2.4e-7`` was scored by compare_rdms and NaN in every resample),
#: the moments are taken of values shifted by their mean (fewer digits lost; scores move by rounding)
#: and a noise bound of a subject without variance is NaN, as rdm_noise_ceiling's. Their Spearman and
#: cosine entries stand, so these kinds are raised by :func:`entry_revision` for Pearson alone.
#: ersa_permutation takes its observed score from the same full-sample evaluation (its p with it).
FLAT_RESAMPLE_KINDS = ("crsa_bootstrap", "ersa_bootstrap", "ersa_permutation")
#: The direction bootstraps whose target's split halves are ranked (forward, inter-animal): each
#: stimulus resample (and BCa's jackknife) now ranks the halves anew among its drawn complete pairs,
#: a stimulus drawn c times as c tied copies, as the direction ranks the resample's rows (their
#: ceiling_boot / _ci, ev_boot / _ci and the medians' resamples and intervals were the Pearson
#: correlation of the full-sample ranks on the resampled pairs). Their point scores stand, as do
#: reverse_bootstrap and model_to_model_bootstrap (no ranked halves) and the permutation kinds.
RERANKED_HALVES_KINDS = ("forward_bootstrap", "inter_animal_bootstrap")
#: forward and inter-animal, which judge a target constant on the stimuli it is scored on: with a ceiling
#: (split="valid"), a trial mean from 1 valid repeat at a stimulus the target is not scored on made a target
#: constant up to rounding on its scored stimuli count as varying (its r and ev NaN, but its prediction_shc a
#: correlation of rounding, and no warning). Their inference judged it so already.
SCORED_CONSTANT_KINDS = ("forward", "inter_animal")
#: The kinds that take ``regressor`` (the directions and their inference), whose entries with
#: ``regressor="univariate"`` alone change at this stop: a predictor column constant up to rounding on
#: a training fold (:func:`neuroxr.kernels.stats.constant_units`) could be chosen as a target's best
#: column (its |r| was rounding noise; its huge slope predicted scaled rounding); it is never chosen
#: now. Their other entries stand, so these kinds are raised by :func:`entry_revision` for
#: univariate alone, not in a stop.
UNIVARIATE_CONSTANT_KINDS = (*DIRECTION_KINDS, *DIRECTION_INFERENCE_KINDS)
#: The kinds fitting least squares through the shared kernels (``regressor="linear"``, or ridge with
#: ``alpha`` 0: the directions and their inference; eRSA and eReg with ``alpha`` 0), whose such entries
#: alone change at this stop: each fold's pseudo-inverse zeroed the eigenvalues below ``m eps`` times the
#: fold system's largest, but the system is down-dated from the whole Gram and carries its rounding, so a
#: low-rank design whose largest stimuli a fold holds out inverted that rounding (predictions off by up to
#: 10, r by 1e-3 ... 0.2); the cutoff now also counts the Gram's largest diagonal. Their other entries
#: stand, so these kinds are raised by :func:`entry_revision` for least squares alone, not in a stop.
LEAST_SQUARES_KINDS = (*DIRECTION_KINDS, *DIRECTION_INFERENCE_KINDS, "ersa", "ersa_bootstrap", "ersa_permutation", "ereg")
#: Temporal generalisation, whose targets with a bin where the neuroid's trial means are constant
#: across its stimuli up to rounding (the directions' rule, :func:`~neuroxr.predictivity._prepare.warn_constant_targets`)
#: are now NaN, with a warning: where out-of-fold ridge spread that rounding (a relative spread near
#: 1e-7, many features) their r was a number (the diagonal was not the direction's NaN).
TG_CONSTANT_TARGET_KINDS = (*TIME_KINDS,)
#: CKA of a cut Gram is judged constant on the stimuli kept (it scored rounding, e.g. -0.07; now NaN), its Grams are
#: not centred twice (rounding); shape's permutation p counts null angles within acos's rounding (~2e-7) as ties;
#: brainscore stratifies by numeric labels in their order (as text, '10' came before '2': not Brain-Score's splits).
METRIC_FIX_KINDS = ("cka", "cka_bootstrap", "cka_permutation", "shape_bootstrap", "shape_permutation", "brainscore")
#: The neural directions' inference, time-resolved: each bin drew its resamples and permutations over
#: its own stimuli, so a bin lacking a stimulus (no valid trial there) paired none of its resamples with
#: the other bins'; every bin now draws over every stimulus some bin keeps and uses the draws on its own
#: (docs/time.md). Which sets are time-resolved the key cannot tell, so each is one revision up.
PAIRED_BINS_KINDS = tuple(k for k in DIRECTION_INFERENCE_KINDS if not k.startswith("model_to_model"))
#: Effective dimensionality, now summed over the stimuli in canonical order (as cka): the same features
#: stored in another row order gave another last bit.
ED_ORDER_KINDS = ("dimensionality",)
#: The RSA permutation kinds, whose p leaves out the permutations with an undefined score (NaN pairs
#: moved with the model left a subject fewer than 3 complete pairs); they counted in its denominator
#: alone, so each made p smaller. The entries record n_perm_undefined.
UNDEFINED_PERMUTATION_KINDS = ("crsa_permutation", "ersa_permutation")
#: The Gram, which holds the pair pass where some stimulus pair's squared distance from its
#: column-centred Gram cancels (stimuli close together against their distance from the mean: one
#: stimulus far from the rest, tight clusters; :mod:`neuroxr.kernels.gram_pairs`); one stored before
#: has none, so its Euclidean RDMs of such stimuli lost digits (distances off by half, ties among
#: distinct ones). The RSA entries with a Euclidean RDM are raised by :func:`entry_revision`.
PAIR_PASS_KINDS = ("gram",)
#: The kinds that score targets missing different stimuli (forward, inter-animal, their inference and
#: temporal generalisation): beyond 8 patterns of usable stimuli the incomplete targets were scored
#: together on the stimuli they all shared, so a target's numbers followed the other targets' missing
#: stimuli; each pattern is now its own sub-problem however many there are. Which data had so many
#: patterns the key cannot tell, so each is one revision up.
MISSING_PATTERN_KINDS = ("forward", "inter_animal", "forward_bootstrap", "forward_permutation", "inter_animal_bootstrap",
                         "inter_animal_permutation", *TIME_KINDS)
#: The kinds that rank (RSA comparing by Spearman or Kendall, Euclidean RDMs' ties, the targets'
#: split halves): values each within the tie tolerance of the next chained into one tie group however
#: far the chain reached (values 4e-11 apart over 2.6e-9, the tolerance 5.7e-11: one group, a Spearman
#: comparison NaN where Pearson scored); a group now spans at most the tolerance
#: (:func:`neuroxr.backend.split_long_groups`). Which data chain so the key cannot tell, so each is one
#: revision up.
TIE_SPAN_KINDS = (*RANK_KINDS, "crsa", "ersa", "crsa_bootstrap", "crsa_permutation", "ersa_bootstrap", "ersa_permutation")
#: The directions with a noise ceiling, whose EV at a ceiling of exactly 0 (a split-half Spearman of 0,
#: easily met with few stimuli) was inf, kept by the mean over reps; it is NaN now, as at a negative
#: ceiling (their inference left such reps out already).
ZERO_CEILING_KINDS = ("forward", "reverse", "inter_animal")
#: CKA and effective dimensionality of features beyond about 1e+-154 (squares out of float64's normal
#: range) gave wrong numbers or NaN; they are refused now, as RDMs were. The debiased CKA's sums are
#: those of the U-centred Grams (:func:`neuroxr.kernels.gram_measures._u_shift`): one stimulus far from
#: the others cancelled them (an outlier 1e8 times the others: 3 % of the CKA). Which data did so the
#: key cannot tell, so each is one revision up.
GRAM_RANGE_KINDS = ("cka", "cka_bootstrap", "cka_permutation", "dimensionality")
#: eReg, whose neuroids constant across the stimuli up to rounding are NaN now (the directions' rule,
#: counted in ``n_constant_neuroids``): their out-of-fold correlation was one of rounding. Which data
#: had such neuroids the key cannot tell, so each entry is one revision up.
CONSTANT_NEUROID_KINDS = ("ereg",)
#: forward, whose split-half prediction reliability multiplied two sums of squares (targets beyond
#: about 1e+-77: NaN); it is :func:`neuroxr.kernels.stats.root_product` now (the same bits elsewhere).
HALF_R_RANGE_KINDS = ("forward",)
#: eRSA and eReg, whose ridge fits summed the units and neuroids in the order given (a unit selection
#: also left the features in Fortran order): permuting the units or neuroids moved their numbers in the
#: last bits. They now fit in canonical id order, C-ordered, as the other kinds sum. Which stored sets
#: were not in that order the key cannot tell, so each is one revision up.
UNIT_ORDER_KINDS = ("ersa", "ereg", "ersa_bootstrap", "ersa_permutation")
#: The direction bootstraps whose target's split halves are ranked (forward, inter-animal): a resample
#: kept the full sample's tie groups of values within the tie tolerance (a group's smallest value not
#: drawn, or the column's largest value whose magnitude set the tolerance); each resample's ties now
#: follow the one tie rule on its drawn rows (:class:`~neuroxr.kernels.resample_ranks.ResampledSpearman`).
#: Which data had such near ties the key cannot tell, so each is one revision up.
RESAMPLE_TIE_KINDS = ("forward_bootstrap", "inter_animal_bootstrap")
#: The kinds whose target split halves are ranked among their complete pairs (the directions with a
#: ceiling, their inference, temporal generalisation): the incomplete rows were filled above the
#: complete values, which set the tie tolerance (values of magnitude 1e-14 all tied; near ties within
#: three tolerances tied); they are ranked by the tie rule on the complete values alone now
#: (:func:`neuroxr.kernels.stats.rank_pairs`). Which data had such halves the key cannot tell, so each
#: is one revision up.
COMPLETE_RANK_KINDS = ("forward", "reverse", "inter_animal", *TIME_KINDS,
                       *(k for k in DIRECTION_INFERENCE_KINDS if not k.startswith("model_to_model")))
#: cRSA and its inference, whose Euclidean RDMs from a Gram with the pair pass (stimuli close together)
#: tied a chain of near-tie squared distances spanning several tolerances into one value; the chain is
#: split into groups spanning one tolerance, as the tie rule does elsewhere
#: (:func:`neuroxr.kernels.rdm.tie_squares`). Which data chain so the key cannot tell, so each is one
#: revision up.
PAIR_TIE_KINDS = ("crsa", "crsa_bootstrap", "crsa_permutation")
#: Brain-Score and the shape metrics in units far from 1: brainscore's PLS scored tiny responses (1e-16)
#: NaN and crashed at 1e+-100, and its ceiling beyond about 1e+-154 lost digits or was NaN (now refused in
#: one line, as the directions); angular shape distances of two networks near 1e-150 or 1e150 were NaN or
#: pi/2 (the product of their squared norms out of range). Each is now scaled by a power of two first
#: (numbers at ordinary scales bit-identical). Which data were so far from 1 the key cannot tell, so each
#: is one revision up.
UNIT_SCALE_KINDS = ("brainscore", "shape", "shape_bootstrap", "shape_permutation")
#: The kinds whose targets are judged by the mean of their split-half reliabilities over the reps (the
#: directions with a ceiling, their inference, temporal generalisation): a reliability of -inf (a
#: split-half Spearman of -1, met with few stimuli) was left out of that mean, so a target with it in
#: some reps was judged on its other reps only (:func:`neuroxr.predictivity._result.reliable_targets`).
MINUS_INF_RELIABILITY_KINDS = COMPLETE_RANK_KINDS
#: The kinds that group their targets by the stimuli each is valid at (forward, inter-animal, their
#: inference, temporal generalisation): a group whose stimuli leave the design constant (the predictors
#: vary only where its targets miss) got a finite r of the training folds' means; NaN now, with a warning
#: (:func:`neuroxr.predictivity._groups.constant_design`; temporal generalisation with ``alpha=0`` on a
#: rank-deficient training fold also takes the least-squares solution now).
CONSTANT_GROUP_DESIGN_KINDS = ("forward", "inter_animal", "forward_bootstrap", "forward_permutation",
                               "inter_animal_bootstrap", "inter_animal_permutation", *TIME_KINDS)
#: The directions' permutation nulls, whose out-of-fold r of targets near 1e-150 was inf, near 1e-160
#: NaN (an absolute floor) and near 1e150 wrong; each target is scaled by a power of two now
#: (bit-identical at ordinary scales). Which data were so far from 1 the key cannot tell.
SCALE_FREE_NULL_KINDS = tuple(k for k in DIRECTION_INFERENCE_KINDS if k.endswith("_permutation"))
#: The directions whose noise ceiling is a product of two reliabilities, and their bootstraps: a split-half
#: Spearman of -1 (Spearman-Brown ``-inf``) times a negative reliability made a ceiling of ``+inf``, whose EV
#: of exactly 0 was averaged in; NaN now, as a ceiling that is not positive (:func:`neuroxr.predictivity._result.ev`).
INFINITE_CEILING_KINDS = ("forward", "inter_animal", "forward_bootstrap", "inter_animal_bootstrap")
#: The CKA and shape bootstraps: a resample drawing fewer distinct stimuli than the full sample needs (3; 2
#: with an uncentred shape metric) scored the trivial value those give whatever the data (CKA 1, distance
#: 0) as a measurement; undefined (NaN, counted) now. Which data drew such resamples the key cannot tell.
FEW_DISTINCT_RESAMPLE_KINDS = ("cka_bootstrap", "shape_bootstrap")
#: The forward and inter-animal inference kinds: their draws were made over the stimuli some target is scored
#: on, so a stimulus that one target alone has (or its being NaN there) changed every other target's resamples,
#: intervals and nulls; they are drawn over every stimulus of the design now (docs/inference.md). Which data
#: lacked a stimulus for every target the key cannot tell.
DESIGN_DRAW_KINDS = ("forward_bootstrap", "forward_permutation", "inter_animal_bootstrap", "inter_animal_permutation")
#: The shape kinds: the partial whitening took the eigenvalues of ``X^T X``, resolved to ``eps`` times the
#: largest only, so a unit far larger than the others (``1e6``) had the others' directions taken for null;
#: a poorly resolved spectrum is taken from the SVD of ``X`` now (docs/kernels.md, "Null spaces").
SHAPE_SVD_KINDS = ("shape", "shape_bootstrap", "shape_permutation")
#: Reverse and inter-animal with more predictor neuroids than training stimuli built every design's
#: kernel from the repeats' slot kernels (a Gram alone) on NumPy where the rank bound fires too: a
#: neuroid far larger than the others lost precision there (and the backends disagreed); such designs
#: are fitted themselves now (docs/shapes.md). Which data the bound fired on the key cannot tell.
SLOT_KERNEL_KINDS = ("reverse", "inter_animal")
#: The shape bootstrap: a resample on which a representation is constant up to rounding (it varies only at
#: stimuli the resample left out) scored the rounding of its rotated rows as a shape (angles near 1.4, none
#: undefined); such a representation is scored as a zero one now, as the full sample's is and as
#: cka_bootstrap judges its resamples (angular: NaN and counted; Euclidean: the other's norm). Which data
#: drew such resamples the key cannot tell.
FLAT_SHAPE_RESAMPLE_KINDS = ("shape_bootstrap",)
#: The permutation kinds: a p-value none of whose permutations had a defined statistic (an RSA permutation
#: leaving a subject fewer than 3 complete pairs each time) was 1, NaN now; a direction's max-T p-value
#: counted the permutations without a defined statistic for any target in its denominator, so each made
#: ``p_maxt`` smaller; they are left out now, as the per-target p leaves them out
#: (:mod:`neuroxr.kernels.pvalues`). Which data had such permutations the key cannot tell.
UNDEFINED_NULL_KINDS = tuple(k for k in KINDS if k.endswith("_permutation"))
#: The directions' bootstraps: the BCa acceleration of 3 stimuli took its jackknife from Pearson r of the 2
#: stimuli each leaves in (+-1 whatever the data) where no target lacked one; undefined (NaN) now, as the
#: jackknife of a target with missing stimuli and the resamples give them. Which data had 3 stimuli the key cannot tell.
FEW_ITEM_JACKKNIFE_KINDS = tuple(k for k in DIRECTION_INFERENCE_KINDS if k.endswith("_bootstrap"))
#: crsa, whose split-half ceiling was NaN when every rep's halves correlated at r = -1 (Spearman-Brown -inf)
#: and -inf when some did; -inf now, the directions' mean of their reliabilities over reps
#: (:func:`neuroxr.kernels.splits.mean_over_reps`). Which data had such halves the key cannot tell.
MINUS_INF_CEILING_KINDS = ("crsa",)
#: The kinds each stop's fixes changed, one set per stop, oldest first.
STOPS = ({*CONSTANT_KINDS, *RANK_KINDS, *OTHER_KINDS, *PRINCIPAL_AXES_KINDS}, {*UNDEFINED_RESAMPLE_KINDS},
         {*TG_FEW_TARGET_KINDS, *GEOMETRY_MISSING_KINDS},
         {*ALL_NAN_RDM_KINDS, *BRAINSCORE_FEW_KINDS, *CONSTANT_DESIGN_METRIC_KINDS}, {*STOP_18_KINDS}, {*STOP_19_KINDS},
         {*CKA_CLOSED_FORM_KINDS, *RERANKED_HALVES_KINDS}, {*SCORED_CONSTANT_KINDS, *TG_CONSTANT_TARGET_KINDS, *METRIC_FIX_KINDS},
         {*PAIRED_BINS_KINDS, *ED_ORDER_KINDS, *UNDEFINED_PERMUTATION_KINDS}, {*PAIR_PASS_KINDS},
         {*MISSING_PATTERN_KINDS, *TIE_SPAN_KINDS, *ZERO_CEILING_KINDS}, {*GRAM_RANGE_KINDS}, {*CONSTANT_NEUROID_KINDS, *HALF_R_RANGE_KINDS},
         {*UNIT_ORDER_KINDS}, {*RESAMPLE_TIE_KINDS, *COMPLETE_RANK_KINDS, *PAIR_TIE_KINDS, *UNIT_SCALE_KINDS},
         {*MINUS_INF_RELIABILITY_KINDS, *CONSTANT_GROUP_DESIGN_KINDS, *SCALE_FREE_NULL_KINDS},
         {*INFINITE_CEILING_KINDS, *FEW_DISTINCT_RESAMPLE_KINDS}, {*DESIGN_DRAW_KINDS, *SHAPE_SVD_KINDS, *SLOT_KERNEL_KINDS},
         {*FLAT_SHAPE_RESAMPLE_KINDS}, {*UNDEFINED_NULL_KINDS}, {*FEW_ITEM_JACKKNIFE_KINDS, *MINUS_INF_CEILING_KINDS})


def raised_per_stop(revisions: Mapping[str, int], stops: Sequence[Iterable[str]]) -> dict[str, int]:
    """``revisions`` with each kind one up per stop that changed it: once per stop however many of
    its fixes did, and again at every later stop (entries written by an earlier stop's code are then
    stale)."""
    out = dict(revisions)
    for stop in stops:
        for name in set(stop):
            out[name] = out.get(name, 0) + 1
    return out


#: The revisions before the per-stop raises.
REVISIONS_BEFORE_STOPS = dict(REVISIONS)
REVISIONS = raised_per_stop(REVISIONS_BEFORE_STOPS, STOPS)
for _name, _rev in REVISIONS.items():
    KINDS[_name] = replace(KINDS[_name], revision=_rev)


def entry_revision(kind: str, params: Mapping[str, Any]) -> int:
    """The revision an entry of ``kind`` with ``params`` gets now: the kind's, raised by one for each
    fix that changed only some of its entries' numbers, so a later raise of the kind's revision
    raises these too:

    - a direction's entry with a fit that depends on the order of its columns: a joint fit (PLS,
      an estimator; given as the object or as its identity) of the targets, or lasso / elasticnet
      (coordinate descent) of the predictors, once in the input's unit/neuroid order and now in
      canonical id order (a forward joint fit also mixed the time bins before forward's revision 1);
    - a direction's entry with ``max_n``: its subsets were drawn over the predictors' positions,
      now over their canonical id order;
    - a direction's bootstrap or permutation entry with such a fit, by the first rule (its joint
      fits' permutation nulls also fitted a batch of permuted copies together);
    - an RSA entry (cRSA, eRSA and their inference) with a Euclidean or squared Euclidean RDM: on
      integer features the distances are now exact, so tied pairs share their rank;
    - an RSA entry with a correlation or cosine RDM: where the stimuli have large offsets (row
      means large against their variation across units) the RDMs lost digits; they now take the
      row pass (:mod:`neuroxr.kernels.gram_rows`).
    - an RSA entry comparing RDMs by ranks (``compare_method`` Spearman or Kendall), and a forward or
      inter-animal permutation entry with ``min_reliability`` (its targets judged by their split-half
      Spearman): ranks now tie values equal up to rounding (the kinds that always rank:
      :data:`RANK_KINDS`);
    - an RSA entry comparing RDMs by Pearson (``compare_method`` "pearson"): an RDM whose
      dissimilarities are equal up to rounding (equal values averaged, the Euclidean RDM of stimuli
      equally far apart) had a Pearson correlation of its rounding (about
      ``1e-16``, or anything); it is now NaN, as scipy's ``pearsonr`` and the Spearman comparison
      (whose ranks tie it) give (:mod:`neuroxr.kernels.compare`, "Constant RDMs");
    - an RSA entry with a Euclidean RDM: distances small against the largest carried the rounding of
      the largest squared norms through their square root, so equal ones ranked apart; their squared
      distances equal up to rounding are now made equal (:func:`neuroxr.kernels.rdm.tie_squares`;
      Pearson and cosine comparisons move by rounding only, the ranks by the ties);
    - a forward entry that streams (:func:`streams`) with ``dtype`` float32: its out-of-fold
      operator was built from the float64 Gram cast to float32 (which lost the small eigenvalues:
      power-law layers erred by up to ``0.6``), now in float64 (docs/kernels.md, "Ridge precision");
    - a direction's entry (and its inference) with ``dtype`` float32: the correlations' denominator
      ``sqrt(var_a var_b)`` underflowed where the product of two float32 variances fell below the
      dtype's range (values near 1e-12: r off by 0.05, or infinite); it is now
      :func:`neuroxr.kernels.stats.root_product`;
    - a direction's entry (and its inference) with ``dtype`` float32 (:data:`FLOAT32_CENTRED_KINDS`):
      its columns were cast to float32 before they were centred (a column far from zero lost its
      variation's digits); they are now centred in float64 first;
    - a direction's bootstrap entry over targets (:data:`TARGET_DRAW_KINDS`, ``over`` "targets" or
      "both"): a target never scored was drawn among the targets; now only the scored ones are;
    - an RSA entry with a correlation or cosine RDM (:data:`BOUNDED_TIE_KINDS`): an RDM whose values
      are all equal up to rounding on the measure's own scale is made constant (the RDM of affine
      copies of one pattern read rounding around 0, which a comparison correlated; its comparisons
      are NaN now);
    - an RSA bootstrap entry (and ersa_permutation, whose observed score is the bootstrap's full-sample
      evaluation) comparing by Pearson (:data:`FLAT_RESAMPLE_KINDS`): its resamples judge
      an RDM without variance by compare_rdms's rule on the values drawn (a relative spread between
      about ``6e-14`` and ``2.4e-7`` was NaN in every resample, scored in compare_rdms), from moments of
      shifted values;
    - a debiased CKA entry (:data:`DEBIASED_HSIC_KINDS`): the unbiased HSIC in the resamples' formula
      at unit counts (other rounding);
    - a direction's entry (and its inference) with ``regressor="linear"`` and ``dtype`` float32: least
      squares in float32 squared the design's condition number (a near-duplicate unit moved EV by
      points); such a request is refused now, so these entries are listed stale;
    - a direction's entry (and its inference) with ``regressor="univariate"``
      (:data:`UNIVARIATE_CONSTANT_KINDS`): a predictor column constant up to rounding on a training
      fold could be a target's best column; it is never chosen now;
    - a direction's entry (and its inference), eRSA's or eReg's fitting least squares (``regressor="linear"``,
      or ``alpha`` 0; :data:`LEAST_SQUARES_KINDS`): a fold's pseudo-inverse inverted the rounding of the
      Gram its system is down-dated from (low-rank designs); it is zeroed now;
    - an RSA entry with a Euclidean or squared Euclidean RDM: stimulus pairs close together against
      their distance from the mean lost their distances' digits (one stimulus far from the rest put
      the others' distances off by up to half); they now come from the pair pass (a Gram about a
      typical stimulus, or direct sums; :data:`PAIR_PASS_KINDS`) and tie only within their own rounding;
    - an RSA entry comparing RDMs by Pearson or cosine: RDM values whose squares left float64's normal
      range (beyond about 1e+-154, e.g. a squared Euclidean RDM of features near 1e-80) gave wrong
      numbers, NaN or inf; each RDM is now scaled by a power of two first
      (:func:`neuroxr.backend.pow2_scaled`: exact, no change at other scales).
    """
    k = get_kind(kind)
    rev = k.revision
    reg = params.get("regressor")
    if k.name in DIRECTION_KINDS or k.name in DIRECTION_INFERENCE_KINDS:
        if isinstance(reg, Mapping) or fits_jointly(reg) or reg in ("lasso", "elasticnet"):
            rev += 1
        if params.get("max_n") is not None:
            rev += 1
    if "rdm_method" in k.defaults and params.get("rdm_method") in ("euclidean", "sqeuclidean"):
        rev += 1
    if "rdm_method" in k.defaults and params.get("rdm_method") in ("correlation", "cosine"):
        rev += 1
    if "rdm_method" in k.defaults and params.get("rdm_method") == "euclidean":
        rev += 1
    if "compare_method" in k.defaults and params.get("compare_method") in ("spearman", "kendall"):
        rev += 1
    if "compare_method" in k.defaults and params.get("compare_method") == "pearson":
        rev += 1
    if k.name in ("forward_permutation", "inter_animal_permutation") and params.get("min_reliability") is not None:
        rev += 1
    if streams(k.name, params) and params.get("dtype") == "float32":
        rev += 1
    if (k.name in DIRECTION_KINDS or k.name in DIRECTION_INFERENCE_KINDS) and params.get("dtype") == "float32":
        rev += 1
    if k.name in FLOAT32_CENTRED_KINDS and params.get("dtype") == "float32":
        rev += 1
    if k.name in TARGET_DRAW_KINDS and params.get("over", "stimuli") != "stimuli":
        rev += 1
    if k.name in BOUNDED_TIE_KINDS and params.get("rdm_method") in ("correlation", "cosine"):
        rev += 1
    if k.name in FLAT_RESAMPLE_KINDS and params.get("compare_method") == "pearson":
        rev += 1
    if k.name in DEBIASED_HSIC_KINDS and params.get("debiased"):
        rev += 1
    if k.name in UNIVARIATE_CONSTANT_KINDS and params.get("regressor") == "univariate":
        rev += 1
    if k.name in FLOAT32_CENTRED_KINDS and reg == "linear" and params.get("dtype") == "float32":
        rev += 1
    if k.name in LEAST_SQUARES_KINDS and (reg == "linear" or (reg in (None, "ridge") and params.get("alpha") == 0)):
        rev += 1
    if "rdm_method" in k.defaults and params.get("rdm_method") in ("euclidean", "sqeuclidean"):
        rev += 1
    if "compare_method" in k.defaults and params.get("compare_method") in ("pearson", "cosine"):
        rev += 1
    return rev
