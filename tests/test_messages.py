"""Messages about inputs name them by the argument of the public function called, followed by the
input's own label in parentheses where it has one that differs (``neural (V4)``, ``features (net/l1)``),
never by the label alone or by an internal name; code suggested in a message uses the argument."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest

import neuroxr as nx
from neuroxr import geometry as geo
from neuroxr.errors import LayoutError, NeuroxrWarning, ParameterError
from neuroxr.geometry.inference import cka_bootstrap, crsa_bootstrap, ersa_bootstrap, rsa_bootstrap, shape_bootstrap
from neuroxr.kernels.folds import kfold_indices
from neuroxr.kernels.ridge import oof_predict
from neuroxr.predictivity import brainscore, brainscore_ceiling, temporal_generalization
from neuroxr.predictivity.inference import best_layer, bootstrap, compare, permutation_test

N, K, T, P = 30, 6, 4, 8
SID = [f"s{i:02d}" for i in range(N)]


def _neural(seed=0, name="V4", nan=False, inf=False, lazy=False, stim=SID):
    """Responses named ``name`` (pure noise: unreliable) on stimuli ``stim``; ``nan``: s00 without trials
    and n1 without a trial on s03; ``inf``: stimulus s01 infinite (past the constructor's check); ``lazy``: dask-backed."""
    R = np.random.default_rng(seed).standard_normal((len(stim), K, T))
    if nan:
        R[0], R[3, 1] = np.nan, np.nan
    da = nx.neural(R, list(stim), [f"n{j}" for j in range(K)], name=name)
    if inf:
        da = da.copy(data=np.where(np.arange(len(stim))[:, None, None] == 1, np.inf, R))
    if lazy:
        import dask.array as dska

        da = da.copy(data=dska.from_array(da.values, chunks=(10, 3, T)))
    return da


def _features(seed=1, layer="l1", nan=False, stim=SID):
    X = np.random.default_rng(seed).standard_normal((len(stim), P))
    da = nx.features(X, stim, model="net", layer=layer)
    if nan:  # one value (past the constructor's check)
        X = X.copy()
        X[0, 0] = np.nan
        da = da.copy(data=X)
    return da


def _boot(seed):
    """A small forward bootstrap over stimuli, the same resamples for every ``seed`` of the features."""
    return bootstrap("forward", _features(seed), _neural(), n_boot=5, reps=2)


def _rdm():
    """A NumPy RDM of ``N`` stimuli (Euclidean distances of random patterns)."""
    X = np.random.default_rng(3).standard_normal((N, 4))
    return np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))


def _ragged():
    """Responses where each neuroid lacks its trials on a different stimulus: no neuroid spans them all."""
    R = np.random.default_rng(2).standard_normal((N, K, T))
    for j in range(K):
        R[j, j] = np.nan
    return nx.neural(R, SID, [f"n{j}" for j in range(K)], name="V4")


def _time_neural(name="V4", nan=False, bins=((0, 50), (50, 100))):
    """Time-resolved responses; ``nan``: s00 without trials in every bin."""
    R = np.random.default_rng(3).standard_normal((N, K, T, 2))
    if nan:
        R[0] = np.nan
    return nx.neural(R, SID, [f"n{j}" for j in range(K)], name=name, time_bins=list(bins))


def _constant_unit(seed=2, layer="l2"):
    """Features whose first unit is constant across stimuli."""
    F = _features(seed, layer)
    return F.copy(data=np.where(np.arange(P) == 0, 1.0, F.values))


def _constant_neuroid(name="V4"):
    """Responses whose neuroid n0 has the same trials at every stimulus."""
    da = _neural(name=name)
    return da.copy(data=np.where((np.arange(K) == 0)[None, :, None], np.arange(T, dtype=float), da.values))


def _df_with_inf():
    return pd.DataFrame({"stimulus_id": ["a", "a", "b", "b", "c", "c"], "neuroid_id": ["n"] * 6,
                         "value": [1.0, np.inf, 2.0, 3.0, 4.0, 5.0]})


WARNINGS = {  # call -> the start of the message that names the input
    "rdm": (lambda: geo.rdm(_neural(nan=True)), r"rdm: obj \(V4\): 1 of 30 stimuli"),
    "split_half_rdms": (lambda: geo.split_half_rdms(_neural(nan=True)), r"split_half_rdms: neural \(V4\): 1 of 30"),
    "crsa": (lambda: geo.crsa(_features(), _neural(nan=True)), r"crsa: neural \(V4\): 1 of 30"),
    "ersa": (lambda: geo.ersa(_features(), _neural(nan=True)), r"ersa: neural \(V4\): 1 of 30"),
    "ereg": (lambda: geo.ereg(_features(), _neural(nan=True)), r"ereg: neural \(V4\): 1 of 30"),
    "effective_dimensionality": (lambda: geo.effective_dimensionality(_neural(nan=True)), r"effective_dimensionality: obj \(V4\): 1 of 30"),
    "cka": (lambda: geo.cka(_features(), _neural(nan=True)), r"cka: b \(V4\): 1 of 30"),
    "cka averaged": (lambda: geo.cka(_features(), _neural()), r"cka: b \(V4\) is neural data"),
    "cka_bootstrap": (lambda: cka_bootstrap(_features(), _neural(nan=True), n_boot=5), r"cka_bootstrap: b \(V4\): 1 of 30"),
    "cka_bootstrap averaged": (lambda: cka_bootstrap(_features(), _neural(), n_boot=5), r"cka_bootstrap: b \(V4\) is neural data"),
    "shape_bootstrap": (lambda: shape_bootstrap(_features(), _neural(nan=True), n_boot=5), r"shape_bootstrap: Y \(V4\): 1 of 30"),
    "split_distance": (lambda: geo.split_distance(_features(), _neural(nan=True)), r"split_distance: Y \(V4\): 1 of 30"),
    "split_half_rdm_ceiling": (lambda: geo.split_half_rdm_ceiling(_neural(nan=True)), r"split_half_rdm_ceiling: neural \(V4\): 1 of 30"),
    "ersa_bootstrap": (lambda: ersa_bootstrap(_features(), _neural(nan=True), n_boot=5), r"ersa_bootstrap: neural \(V4\): 1 of 30"),
    "anchor_weights": (lambda: geo.anchor_weights(geo.relative_features(_features(), SID[:5]), _neural(nan=True)),
                       r"anchor_weights: neural \(V4\): 1 of 30"),
    "brainscore": (lambda: brainscore(_features(), _neural(nan=True), n_components=2, n_splits=2), r"brainscore: neural \(V4\): 1 of 30"),
    "brainscore_ceiling": (lambda: brainscore_ceiling(_neural(nan=True), n_splits=2), r"brainscore_ceiling: neural \(V4\): 1 of 30"),
    # the directions' ceiling hygiene (noise: split-half reliabilities below 0.1): the function called first
    "forward": (lambda: nx.forward(_features(), _neural(), reps=2), r"forward: neural \(V4\): \d+ neuroids have"),
    "reverse": (lambda: nx.reverse(_neural(), _features(), reps=2), r"reverse: features \(net/l1\): \d+ units have"),
    "inter_animal": (lambda: nx.inter_animal(_neural(name="A"), _neural(4, name="B"), reps=2),
                     r"inter_animal: neural_b \(B\): \d+ neuroids have"),
    "bootstrap": (lambda: bootstrap("forward", _features(), _neural(), n_boot=5, reps=2),
                  r"bootstrap: neural \(V4\): \d+ neuroids have"),
    "bootstrap undefined": (lambda: bootstrap("reverse", _neural(), _features(), n_boot=5, reps=2),
                            r"bootstrap: features \(net/l1\): \d+ units have resamples with an undefined"),
    # the directions' data warnings: the function called, the argument and the set's label
    "forward missing": (lambda: nx.forward(_features(), _neural(nan=True), reps=2),
                        r"forward: neural \(V4\): excluding 1 of 30 stimuli"),
    "forward partial": (lambda: nx.forward(_features(), _neural(nan=True), reps=2),
                        r"forward: neural \(V4\): 1 neuroids lack 2 valid repeat"),
    # float32 past the Gram's bound (the reverse direction's designs as given): the function called, not the kernel
    "reverse float32 unresolved": (lambda: nx.reverse(_neural().copy(data=10 * _neural().values), _features(), dtype="float32",
                                                      alpha=1e-3, reps=2), r"reverse: dtype='float32' may not resolve"),
    "forward float32": (lambda: nx.forward((_features() + 1e6).astype(np.float32), _neural(), reps=2),
                        r"forward: features \(net/l1\): 8 of 8 units have \|mean\| / std"),
    "forward constant": (lambda: nx.forward(_features(), _constant_neuroid(), reps=2),
                         r"forward: neural \(V4\): 1 neuroids are constant"),
    "forward time": (lambda: nx.forward(_features(), _time_neural(nan=True), reps=2),
                     r"forward: neural \(V4\): excluding 1 of 30 stimuli"),
    "reverse missing": (lambda: nx.reverse(_neural(nan=True), _features(), reps=2),
                        r"reverse: neural \(V4\): excluding 2 of 30 stimuli where a predictor"),
    "reverse constant": (lambda: nx.reverse(_neural(), _constant_unit(1, "l1"), reps=2),
                         r"reverse: features \(net/l1\): 1 units are constant"),
    "reverse time": (lambda: nx.reverse(_time_neural(nan=True), _features(), reps=2),
                     r"reverse: neural \(V4\): excluding 1 of 30 stimuli .*\(time bins 0, 1\)$"),
    "inter_animal missing": (lambda: nx.inter_animal(_neural(name="A", nan=True), _neural(4, name="B"), reps=2),
                             r"inter_animal: neural_a \(A\): excluding 2 of 30 stimuli"),
    "inter_animal shared": (lambda: nx.inter_animal(_neural(name="A"), _neural(name="B"), reps=2),
                            r"inter_animal: neural_b \(B\): 6 neuroids are also predictors in neural_a \(A\)"),
    "model_to_model shared": (lambda: nx.model_to_model(_features(), _features()),  # a layer from itself: EV 100 %
                              r"model_to_model: features_b \(net/l1\): \d+ units are also predictors in features_a "
                              r"\(net/l1\) with the same responses.*not a model-to-model score\. Pass two layers"),
    "model_to_model constant": (lambda: nx.model_to_model(_features(), _constant_unit()),
                                r"model_to_model: features_b \(net/l2\): 1 units are constant"),
    "bootstrap missing": (lambda: bootstrap("forward", _features(), _neural(nan=True), n_boot=5, reps=2),
                          r"bootstrap: neural \(V4\): excluding 1 of 30 stimuli"),
    "bootstrap constant": (lambda: bootstrap("forward", _features(), _constant_neuroid(), n_boot=5, reps=2),
                           r"bootstrap: neural \(V4\): 1 neuroids are constant"),
    "bootstrap time": (lambda: bootstrap("forward", _features(), _time_neural(nan=True), n_boot=5, reps=2),
                       r"bootstrap: neural \(V4\): excluding 1 of 30 stimuli"),
    "permutation_test": (lambda: permutation_test("reverse", _neural(nan=True), _features(), n_perm=5),
                         r"permutation_test: neural \(V4\): excluding 2 of 30 stimuli"),
    "split_half_reliability": (lambda: nx.split_half_reliability(_neural(nan=True)),
                               r"split_half_reliability: neural \(V4\): excluding 1 of 30 stimuli"),
}

ERRORS = {
    "rdm features": (lambda: geo.rdm(_features(nan=True)), r"rdm: obj \(net/l1\): holds 1 non-finite"),
    "rdm neural": (lambda: geo.rdm(_neural(inf=True)), r"rdm: obj \(V4\): holds \d+ infinite"),
    "gram": (lambda: geo.gram(_features(nan=True)), r"gram: features \(net/l1\): holds 1 non-finite"),
    "gram neural": (lambda: geo.gram(_neural()), r"gram: features \(V4\): dims"),
    "effective_dimensionality": (lambda: geo.effective_dimensionality(_features(nan=True)),
                                 r"effective_dimensionality: obj \(net/l1\): holds"),
    "anchor_weights relative": (lambda: geo.anchor_weights(_features().rename(unit="neuroid"), _neural()),
                                r"anchor_weights: relative \(net/l1\): dims"),
    "anchor_weights neural": (lambda: geo.anchor_weights(_features(), _features().expand_dims("repeat", axis=-1)),
                              r"anchor_weights: neural \(net/l1\): dims"),
    "split_half_rdm_ceiling ragged": (lambda: geo.split_half_rdm_ceiling(_ragged()),
                                      r"split_half_rdm_ceiling: neural \(V4\): every neuroid lacks 2 trials .*\.\)\)\.$"),
    "crsa ragged": (lambda: geo.crsa(_features(), _ragged()),
                    r"crsa: neural \(V4\): every neuroid lacks 2 trials .* or score without a ceiling \(noise_ceiling=False\)\.$"),
    "brainscore ragged": (lambda: brainscore(_features(), _ragged(), n_components=2, n_splits=2),
                          r"brainscore: neural \(V4\): every neuroid lacks 2 trials .* \(ceiling=False\)\.$"),
    "crsa features": (lambda: geo.crsa(_features(nan=True), _neural()), r"crsa: features \(net/l1\): holds 1 non-finite"),
    "crsa neural": (lambda: geo.crsa(_features(), _neural(inf=True)), r"crsa: neural \(V4\): holds \d+ infinite"),
    "crsa lazy neural": (lambda: geo.crsa(_features(), _neural(inf=True, lazy=True)), r"crsa: neural \(V4\): holds \d+ infinite"),
    "crsa averaged": (lambda: geo.crsa(_features(), _neural().mean("repeat")), r"crsa: neural \(V4\): dims \('stimulus', 'neuroid'\)"),
    "ersa neural": (lambda: geo.ersa(_features(), _neural(inf=True)), r"ersa: neural \(V4\): holds \d+ infinite"),
    "ersa averaged": (lambda: geo.ersa(_features(), _neural().mean("repeat")), r"ersa: neural \(V4\): dims"),
    "ereg": (lambda: geo.ereg(_features(nan=True), _neural()), r"ereg: features \(net/l1\): holds 1 non-finite"),
    "ereg averaged": (lambda: geo.ereg(_features(), _neural().mean("repeat")), r"ereg: neural \(V4\): dims"),
    "cka": (lambda: geo.cka(_features(nan=True), _neural()), r"cka: a \(net/l1\): holds 1 non-finite"),
    "cka neural": (lambda: geo.cka(_features(), _neural(inf=True)), r"cka: b \(V4\): holds \d+ infinite"),
    "cka_bootstrap": (lambda: cka_bootstrap(_features(nan=True), _neural(), n_boot=5), r"cka_bootstrap: a \(net/l1\): holds 1 non-finite"),
    "cka_bootstrap averaged": (lambda: cka_bootstrap(_features(), _neural().mean("repeat"), n_boot=5),
                               r"cka_bootstrap: b \(V4\): dims \('stimulus', 'neuroid'\)"),
    "crsa_bootstrap": (lambda: crsa_bootstrap(_features(nan=True), _neural(), n_boot=5), r"crsa_bootstrap: features \(net/l1\): holds"),
    "crsa_bootstrap neural": (lambda: crsa_bootstrap(_features(), _neural(inf=True), n_boot=5),
                              r"crsa_bootstrap: neural \(V4\): holds \d+ infinite"),
    "crsa_bootstrap averaged": (lambda: crsa_bootstrap(_features(), _neural().mean("repeat"), n_boot=5),
                                r"crsa_bootstrap: neural \(V4\): dims"),
    "ersa_bootstrap": (lambda: ersa_bootstrap(_features(nan=True), _neural(), n_boot=5), r"ersa_bootstrap: features \(net/l1\): holds"),
    "LinearMetric": (lambda: geo.LinearMetric().fit(_features(nan=True), _features(2, "l2")),
                     r"LinearMetric: X \(net/l1\) holds 1 NaN"),
    "pairwise_distances": (lambda: geo.pairwise_distances([_features(nan=True), _features(2, "l2")]),
                           r"pairwise_distances: train_data\[0\] \(net/l1\) holds 1 NaN.*\(e\.g\. train_data\[0\]\.dropna"),
    "from_dataframe": (lambda: nx.io.from_dataframe(_df_with_inf(), repeat=None, name="V4"), r"df: holds 1 infinite"),
    "procrustes_average": (lambda: geo.procrustes_average([_features(nan=True), _features(2, "l2")]),
                           r"procrustes_average: data\[0\] \(net/l1\) holds 1 NaN"),
    "split_distance": (lambda: geo.split_distance(_features(nan=True), _neural()), r"split_distance: X \(net/l1\) holds 1 NaN"),
    "cka_bootstrap time": (lambda: cka_bootstrap(_features(), _time_neural(), n_boot=5), r"cka_bootstrap: b \(V4\) is time-resolved"),
    # a ceiling without repeats: named by the function called, not by the ceiling it computes
    "brainscore one repeat": (lambda: brainscore(_features(), _neural().isel(repeat=[0]), n_components=2, n_splits=2),
                              r"brainscore: neural \(V4\) has 1 repeat"),
    "crsa one repeat": (lambda: geo.crsa(_features(), _neural().isel(repeat=[0]), noise_ceiling=True),
                        r"crsa: neural \(V4\) has 1 repeat .*, or noise_ceiling=False\.$"),
    "split_half_rdm_ceiling one repeat": (lambda: geo.split_half_rdm_ceiling(_neural().isel(repeat=[0])),
                                          r"split_half_rdm_ceiling: neural \(V4\) has 1 repeat .*with repeats\.$"),
    # code in the messages: the argument, never the label
    "cka ragged": (lambda: geo.cka(_features(), _ragged()),
                   r"cka: b \(V4\): every neuroid lacks .*neuroid 'n0' at stimulus 's00'.*\(b\.sel\(stimulus=\.\.\.\)\)"),
    "rdm ragged": (lambda: geo.rdm(_ragged()), r"rdm: obj \(V4\): every neuroid lacks .*\(obj\.sel\(stimulus=\.\.\.\)\)"),
    "rdm time": (lambda: geo.rdm(_time_neural()), r"rdm: obj \(V4\) is time-resolved .*obj\.isel\(time_bin=0\)"),
    # pairing by stimulus_id (neuroxr.alignment.align): the function called, then its arguments; the code
    # suggested selects the stimuli of `sel` (the side holding the extra stimuli) that `of` holds
    **{f"{name} pairing": (call, rf"{name}: Cannot pair by stimulus_id: 10 stimulus ids of {a} are missing in {b}, .*"
                                 rf"e\.g\. {sel}\.isel\(stimulus={sel}\.stimulus_id\.isin\({of}\.stimulus_id\)\)\.$")
       for name, call, a, b, sel, of in [
           ("crsa", lambda: geo.crsa(_features(), _neural(stim=SID[:20])), r"features \(net/l1\)", r"neural \(V4\)",
            "features", "neural"),
           ("ersa", lambda: geo.ersa(_features(), _neural(stim=SID[:20])), r"features \(net/l1\)", r"neural \(V4\)",
            "features", "neural"),
           ("ereg", lambda: geo.ereg(_features(), _neural(stim=SID[:20])), r"features \(net/l1\)", r"neural \(V4\)",
            "features", "neural"),
           ("cka", lambda: geo.cka(_features(), _neural(stim=SID[:20])), r"a \(net/l1\)", r"b \(V4\)", "a", "b"),
           ("cka_bootstrap", lambda: cka_bootstrap(_features(), _neural(stim=SID[:20]), n_boot=5), r"a \(net/l1\)",
            r"b \(V4\)", "a", "b"),
           ("crsa_bootstrap", lambda: crsa_bootstrap(_features(), _neural(stim=SID[:20]), n_boot=5), r"features \(net/l1\)",
            r"neural \(V4\)", "features", "neural"),
           ("ersa_bootstrap", lambda: ersa_bootstrap(_features(), _neural(stim=SID[:20]), n_boot=5), r"features \(net/l1\)",
            r"neural \(V4\)", "features", "neural"),
           ("anchor_weights", lambda: geo.anchor_weights(geo.relative_features(_features(), SID[:5]), _neural(stim=SID[:20])),
            r"relative \(net/l1_relative\)", r"neural \(V4\)", "relative", "neural"),
           ("compare_rdms", lambda: geo.compare_rdms(geo.rdm(_features()), geo.rdm(_features(2, "l2", stim=SID[:20]))),
            r"a \(net\.l1\)", r"b \(net\.l2\)", "a", "b"),  # (an RDM's label: its input's set name)
           ("rsa_bootstrap", lambda: rsa_bootstrap(geo.rdm(_features()), geo.rdm(_features(stim=SID[:20])), n_boot=5),
            "model_rdm", "data_rdms", "model_rdm", "data_rdms"),
           ("LinearMetric", lambda: geo.LinearMetric().fit(_features(), _features(2, "l2", stim=SID[:20])),
            r"X \(net/l1\)", r"Y \(net/l2\)", "X", "Y"),
           ("split_distance", lambda: geo.split_distance(_features(), _features(2, "l2", stim=SID[:20])),
            r"X \(net/l1\)", r"Y \(net/l2\)", "X", "Y"),
           # the directions and their inference: the function called, the direction's arguments
           ("forward", lambda: nx.forward(_features(), _neural(stim=SID[:20])), r"features \(net/l1\)", r"neural \(V4\)",
            "features", "neural"),
           ("reverse", lambda: nx.reverse(_neural(), _features(stim=SID[:20])), r"neural \(V4\)", r"features \(net/l1\)",
            "neural", "features"),
           ("inter_animal", lambda: nx.inter_animal(_neural(name="A"), _neural(name="B", stim=SID[:20])), r"neural_a \(A\)",
            r"neural_b \(B\)", "neural_a", "neural_b"),
           ("model_to_model", lambda: nx.model_to_model(_features(), _features(2, "l2", stim=SID[:20])),
            r"features_a \(net/l1\)", r"features_b \(net/l2\)", "features_a", "features_b"),
           ("bootstrap", lambda: bootstrap("forward", _features(), _neural(stim=SID[:20]), n_boot=5),
            r"features \(net/l1\)", r"neural \(V4\)", "features", "neural"),
           ("permutation_test", lambda: permutation_test("inter_animal", _neural(name="A"), _neural(name="B", stim=SID[:20]),
                                                         n_perm=5), r"neural_a \(A\)", r"neural_b \(B\)", "neural_a", "neural_b"),
       ]},
    # the directions' input errors: the function called, then the argument with its label
    "forward one repeat": (lambda: nx.forward(_features(), _neural().isel(repeat=[0]), noise_ceiling=True),
                           r"forward: noise_ceiling=True: neural \(V4\) has one repeat"),
    "forward constant design": (lambda: nx.forward(_features() * 0, _neural()),
                                r"forward: features \(net/l1\): every predictor column is constant"),
    "forward gram": (lambda: nx.forward(_features(), _neural(), gram=np.eye(3)), r"forward: gram: has shape \(3, 3\)"),
    "forward averaged": (lambda: nx.forward(_features(), _neural().mean("repeat")), r"forward: neural \(V4\): dims"),
    "reverse constant design": (lambda: nx.reverse(_neural() * 0, _features()),
                                r"reverse: neural \(V4\): every predictor column is constant"),
    "reverse features": (lambda: nx.reverse(_neural(), _features(nan=True)), r"reverse: features \(net/l1\): holds 1 non-finite"),
    "inter_animal bins": (lambda: nx.inter_animal(_time_neural("A"), _time_neural("B", bins=((0, 50), (60, 100)))),
                          r"inter_animal: neural_a \(A\), neural_b \(B\): their time bins differ .*neural_a\.isel\(time_bin=\[0\]\) "
                          r"and neural_b\.isel\(time_bin=\[0\]\) so both"),
    "model_to_model features": (lambda: nx.model_to_model(_features(nan=True), _features(2, "l2")),
                                r"model_to_model: features_a \(net/l1\): holds 1 non-finite"),
    "bootstrap features": (lambda: bootstrap("reverse", _neural(), _features(nan=True), n_boot=5),
                           r"bootstrap: features \(net/l1\): holds 1 non-finite"),
    "bootstrap bins": (lambda: bootstrap("inter_animal", _time_neural("A"), _time_neural("B", bins=((0, 50), (60, 100))),
                                         n_boot=5), r"bootstrap: neural_a \(A\), neural_b \(B\): their time bins differ"),
    "split_half_reliability one repeat": (lambda: nx.split_half_reliability(_neural().isel(repeat=[0])),
                                          r"split_half_reliability: neural \(V4\): has 1 repeat"),
    "temporal_generalization static": (lambda: temporal_generalization(_features(), _neural()),
                                       r"temporal_generalization: neural \(V4\): temporal generalisation needs"),
    # compare_rdms's checks of each RDM: the function called, the argument and the RDM's label (its input's
    # set name, neuroxr.sets.set_label); the code
    # suggested uses the argument
    "compare_rdms unlabeled": (lambda: geo.compare_rdms(1 - np.eye(3), geo.rdm(_features())),
                               r"compare_rdms: a: an RDM without stimulus ids has 3 stimuli but b \(net\.l1\) has 30; "
                               r".*geometry\.as_rdm\(a, stimulus_id=\.\.\.\)"),
    "compare_rdms asymmetric": (lambda: geo.compare_rdms(np.array([[0, 1, 2], [1, 0, 3], [5, 3, 0.0]]), np.ones((3, 3))),
                                r"compare_rdms: a: an RDM is symmetric"),
    "compare_rdms dims": (lambda: geo.compare_rdms(geo.rdm(_features()), geo.rdm(_features()).rename(stimulus="x")),
                          r"compare_rdms: b \(net\.l1\): an RDM needs dims"),
    "compare_rdms infinite": (lambda: geo.compare_rdms(geo.rdm(_features()).copy(data=np.full((N, N), np.inf)), np.ones((N, N))),
                              r"compare_rdms: a \(net\.l1\): the RDM holds"),
    # the RDM checks of the functions of many RDMs: the function called, the argument and the RDM's position
    "rdm_noise_ceiling asymmetric": (lambda: geo.rdm_noise_ceiling(np.stack([_rdm(), _rdm() + np.triu(np.ones((N, N)), 1)])),
                                     r"rdm_noise_ceiling: rdms\[1\]: an RDM is symmetric"),
    "rdm_noise_ceiling list": (lambda: geo.rdm_noise_ceiling([_rdm(), _rdm() + np.triu(np.ones((N, N)), 1)]),
                               r"rdm_noise_ceiling: rdms\[1\]: an RDM is symmetric"),
    "rdm_noise_ceiling infinite": (lambda: geo.rdm_noise_ceiling(np.stack([_rdm(), np.where(np.eye(N), 0, np.inf)])),
                                   r"rdm_noise_ceiling: rdms: the RDM holds"),
    "rdm_noise_ceiling empty": (lambda: geo.rdm_noise_ceiling([]), r"rdm_noise_ceiling: rdms: no RDMs given"),
    "compare_rdms_many asymmetric": (lambda: geo.compare_rdms_many([_rdm()], [_rdm(), _rdm() + np.triu(np.ones((N, N)), 1)]),
                                     r"compare_rdms_many: b\[1\]: an RDM is symmetric"),
    "compare_rdms_many infinite": (lambda: geo.compare_rdms_many(geo.rdm(_features()).copy(data=np.full((N, N), np.inf))
                                                                 .expand_dims("rdm"), [_rdm()]), r"compare_rdms_many: a: the RDM holds"),
    "rsa_bootstrap model": (lambda: rsa_bootstrap(_rdm() + np.triu(np.ones((N, N)), 1), [_rdm(), _rdm()], n_boot=5),
                            r"rsa_bootstrap: model_rdm: an RDM is symmetric"),
    "rsa_bootstrap labeled model": (lambda: rsa_bootstrap(geo.rdm(_features()).rename(stimulus="x"), [_rdm(), _rdm()], n_boot=5),
                                    r"rsa_bootstrap: model_rdm \(net\.l1\): an RDM needs dims"),
    "rsa_bootstrap data": (lambda: rsa_bootstrap(_rdm(), np.stack([_rdm(), np.where(np.eye(N), 0, np.inf)]), n_boot=5),
                           r"rsa_bootstrap: data_rdms\[1\]: the RDM holds"),
    # the ceilings' inf refusal, in memory and lazy (read where the values are computed): the function called
    **{f"{name} infinite{' lazy' if lazy else ''}": (lambda call=call, lazy=lazy: call(_neural(inf=True, lazy=lazy)),
                                                        rf"{name}: neural \(V4\): holds \d+ infinite")
       for name, call in [("brainscore_ceiling", lambda R: brainscore_ceiling(R, n_splits=2)),
                          ("split_half_rdms", geo.split_half_rdms), ("split_half_rdm_ceiling", geo.split_half_rdm_ceiling)]
       for lazy in (False, True)},
    "brainscore_ceiling averaged": (lambda: brainscore_ceiling(_neural().mean("repeat")), r"brainscore_ceiling: neural \(V4\): dims"),
    "split_half_rdms averaged": (lambda: geo.split_half_rdms(_neural().mean("repeat")), r"split_half_rdms: neural \(V4\): dims"),
    # brainscore's own input checks and pairing: the function called, then the argument with its label
    "brainscore features": (lambda: brainscore(_features().rename(unit="u"), _neural(), n_components=2, n_splits=2),
                            r"brainscore: features \(net/l1\): dims"),
    "brainscore averaged": (lambda: brainscore(_features(), _neural().mean("repeat"), n_components=2, n_splits=2),
                            r"brainscore: neural \(V4\): dims"),
    "brainscore n_components": (lambda: brainscore(_features(), _neural(), n_components=999, n_splits=2),
                                r"brainscore: n_components=999 but features \(net/l1\) has 8 units on dim 'unit'"),
    "brainscore pairing": (lambda: brainscore(_features(), _neural(stim=SID[:20]), n_components=2, n_splits=2),
                           r"brainscore: Cannot pair by stimulus_id: 10 stimulus ids of features \(net/l1\) are missing in neural \(V4\)"),
}


#: A bad parameter of a public function: ``(call, function, parameter)``; the one-line error reads
#: ``"<function>: <parameter> must ..."`` (or ``"<function>: <parameter>=... has no effect ..."``).
PARAMETERS = {
    # the directions' checks (check_params) and those of their inference
    "forward split": (lambda: nx.forward(_features(), _neural(), split="x"), "forward", "split"),
    "forward reps": (lambda: nx.forward(_features(), _neural(), reps=0), "forward", "reps"),
    "forward regressor": (lambda: nx.forward(_features(), _neural(), regressor="svm"), "forward", "regressor"),
    "forward backend": (lambda: nx.forward(_features(), _neural(), backend="x"), "forward", "backend="),
    "forward dtype": (lambda: nx.forward(_features(), _neural(), dtype="x"), "forward", "dtype="),
    "forward inert": (lambda: nx.forward(_features(), _neural(), regressor="linear", alpha=2.0), "forward", "alpha"),
    # refused in the kernels the directions run (float32 beyond its resolution, PLS beyond the predictors)
    "forward float32 unresolved": (lambda: nx.forward(_features().copy(data=1e5 * _features().values), _neural(), dtype="float32"),
                                   "forward", "dtype='float32' cannot resolve"),
    "reverse pls n_components": (lambda: nx.reverse(_neural(), _features(), reps=1, regressor="pls"), "reverse",
                                 "regressor='pls': n_components=20"),
    "reverse seed": (lambda: nx.reverse(_neural(), _features(), seed=-1), "reverse", "seed"),
    "inter_animal alpha": (lambda: nx.inter_animal(_neural(), _neural(4), alpha=-1), "inter_animal", "alpha"),
    "model_to_model n_folds": (lambda: nx.model_to_model(_features(), _features(2), n_folds=1), "model_to_model", "n_folds"),
    "split_half_reliability method": (lambda: nx.split_half_reliability(_neural(), method="x"), "split_half_reliability", "method"),
    "split_half_reliability reps": (lambda: nx.split_half_reliability(_neural(), reps=0), "split_half_reliability", "reps"),
    "temporal_generalization alpha": (lambda: temporal_generalization(_time_neural(), _time_neural("IT"), alpha=-1),
                                      "temporal_generalization", "alpha"),
    "bootstrap over": (lambda: bootstrap("forward", _features(), _neural(), over="x"), "bootstrap", "over"),
    "bootstrap level": (lambda: bootstrap("forward", _features(), _neural(), level=2), "bootstrap", "level"),
    "bootstrap min_reliability": (lambda: bootstrap("forward", _features(), _neural(), min_reliability=2), "bootstrap",
                                  "min_reliability"),
    "permutation_test n_perm": (lambda: permutation_test("forward", _features(), _neural(), n_perm=0), "permutation_test", "n_perm"),
    "permutation_test split": (lambda: permutation_test("forward", _features(), _neural(), split="x", min_reliability=0.1),
                               "permutation_test", "split"),
    "compare level": (lambda: compare({"a": _boot(1), "b": _boot(2)}, level=2), "compare", "level"),
    "best_layer level": (lambda: best_layer({"a": _boot(1), "b": _boot(2)}, level=2), "best_layer", "level"),
    # a public kernel called directly (the labeled functions check the parameter first, under their names)
    "oof_predict alpha": (lambda: oof_predict(np.ones((N, 2)), np.ones((N, 1)), kfold_indices(N, 5, 0), alpha=-1),
                          "oof_predict", "alpha"),
    # Brain-Score
    "brainscore n_splits": (lambda: brainscore(_features(), _neural(), n_splits=0), "brainscore", "n_splits"),
    "brainscore ceiling": (lambda: brainscore(_features(), _neural(), ceiling="no"), "brainscore", "ceiling"),
    "brainscore_ceiling n_splits": (lambda: brainscore_ceiling(_neural(), n_splits=0), "brainscore_ceiling", "n_splits"),
    "brainscore_ceiling seed": (lambda: brainscore_ceiling(_neural(), seed=-1), "brainscore_ceiling", "seed"),
    # the geometry
    "rdm method": (lambda: geo.rdm(_features(), method="x"), "rdm", "method"),
    "split_half_rdms seed": (lambda: geo.split_half_rdms(_neural(), seed=-1), "split_half_rdms", "seed"),
    "split_half_rdm_ceiling compare_method": (lambda: geo.split_half_rdm_ceiling(_neural(), compare_method="x"),
                                               "split_half_rdm_ceiling", "compare_method"),
    "crsa reps": (lambda: geo.crsa(_features(), _neural(), reps=0), "crsa", "reps"),
    "crsa compare_method": (lambda: geo.crsa(_features(), _neural(), compare_method="x"), "crsa", "compare_method"),
    "ersa n_folds": (lambda: geo.ersa(_features(), _neural(), n_folds=1), "ersa", "n_folds"),
    "ersa seed": (lambda: geo.ersa(_features(), _neural(), seed=-1), "ersa", "seed"),
    "ereg alpha": (lambda: geo.ereg(_features(), _neural(), alpha=-1), "ereg", "alpha"),
    "ereg seed": (lambda: geo.ereg(_features(), _neural(), seed=-1), "ereg", "seed"),
    "cka debiased": (lambda: geo.cka(_features(), _features(2), debiased="no"), "cka", "debiased"),
    "split_train_test": (lambda: geo.split_train_test(SID, test_size=2), "split_train_test", "test_size"),
    "LinearMetric alpha": (lambda: geo.LinearMetric(alpha=2).fit(_features(), _features(2)), "LinearMetric", "alpha"),
    "split_distance alpha": (lambda: geo.split_distance(_features(), _features(2), alpha=2), "split_distance", "alpha"),
    "split_distance zero_pad": (lambda: geo.split_distance(_features(), _features(2), zero_pad="no"), "split_distance", "zero_pad"),
    "pairwise_distances score_method": (lambda: geo.pairwise_distances([_features(), _features(2)], score_method="x"),
                                        "pairwise_distances", "score_method"),
    "rsa_bootstrap n_boot": (lambda: rsa_bootstrap(_rdm(), [_rdm()], n_boot=0), "rsa_bootstrap", "n_boot"),
    "rsa_bootstrap nan_policy": (lambda: rsa_bootstrap(_rdm(), [_rdm()], nan_policy="x"), "rsa_bootstrap", "nan_policy"),
    "cka_bootstrap level": (lambda: cka_bootstrap(_features(), _features(2), level=2), "cka_bootstrap", "level"),
    "cka_bootstrap n_boot": (lambda: cka_bootstrap(_features(), _features(2), n_boot=0), "cka_bootstrap", "n_boot"),
    "ersa_bootstrap split_seed": (lambda: ersa_bootstrap(_features(), _neural(), split_seed=-1), "ersa_bootstrap", "split_seed"),
    "ersa_bootstrap alpha": (lambda: ersa_bootstrap(_features(), _neural(), alpha=-1), "ersa_bootstrap", "alpha"),
    "shape_bootstrap level": (lambda: shape_bootstrap(_features(), _features(2), level=2), "shape_bootstrap", "level"),
    "shape_bootstrap alpha": (lambda: shape_bootstrap(_features(), _features(2), alpha=2), "shape_bootstrap", "alpha"),
    "shape_bootstrap n_perm": (lambda: shape_bootstrap(_features(), _features(2), n_boot=5, n_perm=-1), "shape_bootstrap", "n_perm"),
}


@pytest.mark.parametrize("name", sorted(PARAMETERS))
def test_parameter_errors_start_with_the_function_called(name):
    """One form for every parameter error: the function called, then the argument (as the messages
    about inputs start with the function called), whichever shared check refuses it."""
    from neuroxr.errors import NeuroxrError

    call, fn, param = PARAMETERS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(NeuroxrError) as e:
            call()
    assert "\n" not in str(e.value) and str(e.value).startswith(f"{fn}: {param}"), str(e.value)


@pytest.mark.parametrize("name", sorted(WARNINGS))
def test_warnings_name_the_argument(name):
    call, start = WARNINGS[name]
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        call()
    messages = [str(w.message) for w in rec if issubclass(w.category, NeuroxrWarning)]
    assert any(re.match(start, m) for m in messages), messages


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_errors_name_the_argument(name):
    call, start = ERRORS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(LayoutError, match="^" + start) as e:
            call()
    assert "\n" not in str(e.value)


def test_messages_of_shared_helpers_start_with_the_function_called():
    """Helpers that several public functions share (a ceiling, the Grams of CKA, the checks of the shape
    metric) name the function the user called, and its own argument, in every message."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        for call in (lambda: cka_bootstrap(_features(), _neural(nan=True), n_boot=5),
                     lambda: shape_bootstrap(_features(), _neural(nan=True), n_boot=5),
                     lambda: geo.split_half_rdm_ceiling(_neural(nan=True))):
            rec.clear()
            call()
            messages = [str(w.message) for w in rec if issubclass(w.category, NeuroxrWarning)]
            assert messages and all(m.startswith(messages[0].split(":")[0] + ": ") for m in messages), messages
            assert messages[0].split(":")[0] in ("cka_bootstrap", "shape_bootstrap", "split_half_rdm_ceiling")
    with pytest.raises(LayoutError, match=r"^shape_bootstrap: X \(net/l1\) holds 1 NaN"):  # as every shape function
        shape_bootstrap(_features(nan=True), _neural(), n_boot=5)
    with pytest.raises(ParameterError, match=r"^split_half_rdm_ceiling: rdm_method must be one of"):
        geo.split_half_rdm_ceiling(_neural(), rdm_method="bad")


#: Each direction's inputs as (argument, label, a maker taking the stimuli), source first.
_DIRECTION_INPUTS = {
    "forward": [("features", "net/l1", lambda stim=SID: _features(stim=stim)), ("neural", "V4", lambda stim=SID: _neural(stim=stim))],
    "reverse": [("neural", "V4", lambda stim=SID: _neural(stim=stim)), ("features", "net/l1", lambda stim=SID: _features(stim=stim))],
    "inter_animal": [("neural_a", "A", lambda stim=SID: _neural(name="A", stim=stim)),
                     ("neural_b", "B", lambda stim=SID: _neural(4, name="B", stim=stim))],
    "model_to_model": [("features_a", "net/l1", lambda stim=SID: _features(stim=stim)),
                       ("features_b", "net/l2", lambda stim=SID: _features(2, "l2", stim=stim))],
}


@pytest.mark.parametrize("via", ["direction", "bootstrap"])
@pytest.mark.parametrize("direction", sorted(_DIRECTION_INPUTS))
def test_every_direction_and_its_inference_refuse_their_inputs_alike(direction, via):
    """The directions and their inference (a bootstrap prepares its own parts) share one input preamble:
    each input validated in the order of the arguments, the ceiling its repeats allow, then the pairing,
    every refusal starting with the function called and naming the argument with its label."""
    (a, la, make_a), (b, lb, make_b) = _DIRECTION_INPUTS[direction]
    caller = direction if via == "direction" else "bootstrap"

    def call(x, y, **kw):
        if via == "direction":
            return getattr(nx, direction)(x, y, reps=1, **kw)
        return bootstrap(direction, x, y, n_boot=5, reps=1, **kw)

    def bad(da):  # a layout without its last dim (repeat or unit)
        return da.rename({da.dims[-1]: "x"})

    shown = {a: rf"{a} \({re.escape(la)}\)", b: rf"{b} \({re.escape(lb)}\)"}
    for x, y, first in ((bad(make_a()), make_b(), a), (make_a(), bad(make_b()), b), (bad(make_a()), bad(make_b()), a)):
        with pytest.raises(LayoutError, match=rf"^{caller}: {shown[first]}: dims"):
            call(x, y)
    with pytest.raises(LayoutError, match=rf"^{caller}: Cannot pair by stimulus_id: 10 stimulus ids of {shown[a]} are "
                                          rf"missing in {shown[b]}, "):
        call(make_a(), make_b(SID[:20]))
    neural = [arg for arg in (a, b) if arg.startswith("neural")]
    if neural:  # a ceiling asked of trial-averaged responses: every such input named, before the pairing
        one = {arg: (make() if arg not in neural else make().isel(repeat=[0])) for arg, _, make in _DIRECTION_INPUTS[direction]}
        with pytest.raises(LayoutError, match=rf"^{caller}: noise_ceiling=True: {', '.join(shown[n] for n in neural)} has one "
                                              rf"repeat per stimulus"):
            call(one[a], one[b].isel(stimulus=slice(0, 20)), noise_ceiling=True)


def test_stored_entries_name_the_argument_of_the_function_they_compute(tmp_path):
    """A store's sets are named by the argument of the metric an entry computes, with the set's name."""
    from neuroxr.store import StudyStore

    store = StudyStore(tmp_path / "s.zarr")
    store.write_features("net", "l1", _features())
    R = np.random.default_rng(5).standard_normal((N, K, T))
    R[0] = np.nan  # s00 without trials: dropped, with a warning
    store.write_neural("mk", nx.neural(R, SID, [f"n{j}" for j in range(K)]))
    expected = {"crsa": r"^crsa: neural \(mk\): 1 of 30", "cka": r"^cka: b \(mk\): 1 of 30",
                "crsa_permutation": r"^rsa_permutation: neural \(mk\): 1 of 30"}  # (the function computing it)
    for kind, start in expected.items():
        with pytest.warns(NeuroxrWarning, match=start):
            nx.score(store, kind, "net.l1", "mk", **({"n_perm": 5} if kind.endswith("permutation") else {}))
    with pytest.warns(NeuroxrWarning, match=r"^effective_dimensionality: obj \(mk\): 1 of 30"):
        nx.score(store, "dimensionality", "mk", None)


@pytest.mark.parametrize("fn", [crsa_bootstrap, ersa_bootstrap])
def test_rsa_bootstraps_speak_as_the_function_called(fn):
    """crsa_bootstrap / ersa_bootstrap run rsa_bootstrap (and rsa_permutation) on their RDMs: every
    message starts with the function the user called and names its compare_method (they said
    ``rsa_bootstrap: ...``, ``rsa_permutation: ...`` and ``The 'method' parameter``)."""
    one = _neural(name="V4").isel(neuroid=[0])  # one neuroid: an all-NaN correlation RDM
    extra = {"n_perm": 5} if fn is ersa_bootstrap else {}
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        fn(_features(), one, n_boot=5, **extra)
    messages = [str(w.message) for w in rec if issubclass(w.category, NeuroxrWarning)]
    assert len(messages) >= 2 and all(m.startswith(f"{fn.__name__}: ") for m in messages), messages
    with pytest.raises(ParameterError, match=rf"^{fn.__name__}: compare_method must be one of"):
        fn(_features(), _neural(), compare_method="kendall", n_boot=5)
    with pytest.raises(ParameterError, match=rf"^{fn.__name__}: indices must be"):
        fn(_features(), _neural(), indices=np.zeros((2, 3), dtype=int))


@pytest.mark.parametrize("fn, call", [("crsa", lambda F: geo.crsa(F, _neural())),
                                      ("forward", lambda F: nx.forward(F, _neural(), reps=1))])
def test_suggested_code_of_a_labelled_input_uses_its_argument(fn, call):
    """A non-numeric labelled input: the suggested conversion is code the user can run
    (``features.astype(...)``), not the message's name with its label (``features (net/l1).astype``)."""
    F = _features().astype(object)
    with pytest.raises(LayoutError, match=rf"^{fn}: features \(net/l1\): values must be numeric") as e:
        call(F)
    assert "e.g. features.astype('float64')" in str(e.value)


def test_direction_warnings_name_each_set_of_a_sweep(tmp_path):
    """A sweep over two neural sets: each direction's data warning starts with the direction and names
    the set it is about (``forward: neural (V4): ...``), so the sets' warnings are told apart."""
    from neuroxr.store import StudyStore

    store = StudyStore(tmp_path / "s.zarr")
    store.write_features("net", "l1", _features())
    for i, name in enumerate(["V4", "IT"]):
        R = np.random.default_rng(5 + i).standard_normal((N, K, T))
        R[i] = np.nan  # s00 (V4) or s01 (IT) without trials: dropped, with a warning
        store.write_neural(name, nx.neural(R, SID, [f"n{j}" for j in range(K)]))
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        nx.sweep(store, directions=("forward", "reverse"), client="serial", progress=False, reps=2)
    messages = [str(w.message) for w in rec if issubclass(w.category, NeuroxrWarning)]
    for direction in ("forward", "reverse"):
        for name, sid in (("V4", "s00"), ("IT", "s01")):
            assert any(m.startswith(f"{direction}: neural ({name}): excluding 1 of 30 stimuli") and f"['{sid}']" in m
                       for m in messages), (direction, name, messages)


def test_recording_sees_this_threads_warnings_only():
    """errors.recording(): the warnings issued in its thread within the block, which are still issued;
    another thread's at the same time are neither recorded nor lost."""
    import threading

    from neuroxr.errors import recording, warn

    inside, started = threading.Event(), threading.Event()

    def other():
        inside.wait(5)
        warn("from the other thread")
        started.set()

    t = threading.Thread(target=other)
    with warnings.catch_warnings(record=True) as shown_:
        warnings.simplefilter("always")
        t.start()
        with recording() as said:
            warn("from this thread")
            inside.set()
            started.wait(5)
        t.join()
        warn("after the block")
    assert said == [("from this thread", NeuroxrWarning)]
    assert sorted(str(w.message) for w in shown_) == ["after the block", "from the other thread", "from this thread"]
