"""Sweep configuration: the JSON schema, validate_config, load_config, argument errors."""

from __future__ import annotations

import jsonschema
import numpy as np
import pytest

import neuroxr as nx
from neuroxr.errors import NeuroxrError, StoreError
from neuroxr.store import StudyStore
from neuroxr.sweep import SCORE_KEYS, SWEEP_KEYS, SweepConfigError, load_config, sweep, validate_config
from neuroxr.sweep.config import CONFIG_SCHEMA


def test_schema_is_valid_and_covers_every_key():
    jsonschema.Draft202012Validator.check_schema(CONFIG_SCHEMA)
    assert set(CONFIG_SCHEMA["properties"]) == set(SWEEP_KEYS) and set(SCORE_KEYS) <= set(SWEEP_KEYS)
    # a plain YAML-like document passes the schema as it is (no Python-only types)
    doc = {"models": ["netA"], "layers": {"netA": ["layer3"]}, "directions": ["forward"], "regions": "each",
           "reps": 2, "alpha": 0.5, "max_n": None, "metric_options": {"cka": {"debiased": True}}}
    jsonschema.Draft202012Validator(CONFIG_SCHEMA).validate(doc)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(CONFIG_SCHEMA).validate({"reps": 0})
    # a penalty named twice: the schema and the check refuse it alike (it was fitted and keyed once)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(CONFIG_SCHEMA).validate({"regressor": "ridgecv", "alphas": [1, 10, 1]})
    with pytest.raises(SweepConfigError, match=r"alphas must be a list of finite positive numbers, each once .*; got \[1, 10, 1\]"):
        validate_config({"regressor": "ridgecv", "alphas": [1, 10, 1]})


def test_validate_config_errors(sweep_base_store):
    store = StudyStore(sweep_base_store, mode="r")
    with pytest.raises(SweepConfigError, match=r"unknown configuration keys \['rep'\]; accepted keys: .*'reps'"):
        validate_config({"rep": 3})
    with pytest.raises(SweepConfigError, match="reps must be an integer >= 1; got 'many'"):
        validate_config({"reps": "many"})
    with pytest.raises(SweepConfigError, match="reps must be an integer >= 1; got 0"):
        validate_config({"reps": 0})
    with pytest.raises(SweepConfigError, match="reps must be an integer >= 1; got True"):
        validate_config({"reps": True})
    with pytest.raises(SweepConfigError, match="regressor must be one of"):
        validate_config({"regressor": "svm"})
    with pytest.raises(SweepConfigError, match="models must be a name or a list of names"):
        validate_config({"models": {"a": 1}})
    with pytest.raises(SweepConfigError, match="layers must be"):
        validate_config({"layers": [1, 2]})
    with pytest.raises(SweepConfigError, match="noise_ceiling must be true, false or null"):
        validate_config({"noise_ceiling": "yes"})
    with pytest.raises(SweepConfigError, match="min_reliability must be a number .* or null; got 'high'"):
        validate_config({"min_reliability": "high"})
    # null is the automatic ceiling; min_reliability is a score argument
    assert validate_config({"noise_ceiling": None, "min_reliability": 0.2}) == {"noise_ceiling": None, "min_reliability": 0.2}
    with pytest.raises(SweepConfigError, match="n_workers must be a positive integer"):
        validate_config({"n_workers": 0})
    with pytest.raises(SweepConfigError, match="max_n must be a positive integer or null"):
        validate_config({"max_n": 0})
    with pytest.raises(SweepConfigError, match=r"split must be one of \('valid', 'slots'\)"):
        validate_config({"split": "halves"})
    with pytest.raises(SweepConfigError, match="alphas must be a list of finite positive numbers"):
        validate_config({"alphas": [1, "x"]})
    with pytest.raises(SweepConfigError, match="dtype must be"):
        validate_config({"dtype": "int8"})
    with pytest.raises(SweepConfigError, match=r"no models \['netZ'\]"):
        validate_config({"models": ["netZ"]}, store)
    ok = validate_config({"directions": "inter-animal", "reps": 4, "regressor": "ridgecv", "alphas": [1, 10]}, store)
    assert ok["directions"] == ["inter_animal"] and ok["alphas"] == [1.0, 10.0]
    # an option the regressor does not read would be ignored by every entry: refused before any work
    with pytest.raises(SweepConfigError, match=r"^alphas has no effect with regressor='ridge' \(alphas is the penalty grid"):
        validate_config({"alphas": [1, 10]})
    with pytest.raises(SweepConfigError, match=r"^alpha has no effect with regressor='linear'"):
        validate_config({"regressor": "linear", "alpha": 2})
    # written at its default too: the command line refuses the flag so (the config was accepted)
    with pytest.raises(SweepConfigError, match=r"^alpha has no effect with regressor='linear' .*; drop it or set regressor "
                                               r"to ridge, lasso or elasticnet\.$"):
        validate_config({"regressor": "linear", "alpha": 0.1})
    with pytest.raises(SweepConfigError, match=r"^n_components has no effect with regressor='ridge'"):
        validate_config({"n_components": 20})
    # Python callers may pass NumPy integers and tuples
    ok = validate_config({"reps": np.int64(3), "regressor": "ridgecv", "alphas": (1, 2.5)})
    assert ok["alphas"] == [1.0, 2.5] and validate_config({"dtype": np.float32})["dtype"] == "float32"
    # the directions' checks run before any work, options that change nothing included
    with pytest.raises(SweepConfigError, match=r"^dtype='float32' has no effect with regressor='ridgecv'"):
        validate_config({"regressor": "ridgecv", "dtype": "float32"})
    with pytest.raises(SweepConfigError, match=r"^seed=5 has no effect without a noise ceiling"):
        validate_config({"noise_ceiling": False, "seed": 5})
    assert validate_config({"noise_ceiling": False, "seed": 5, "max_n": 3})["seed"] == 5  # it draws the subsets


def test_metric_config(sweep_base_store, sweep_copy):
    store = StudyStore(sweep_base_store, mode="r")
    cfg = validate_config({"directions": ["forward", "rsa", "dimensionality"],
                           "metric_options": {"rsa": {"variant": "ereg", "alpha": 1.0}}}, store)
    assert cfg["directions"] == ["forward", "rsa", "dimensionality"]
    with pytest.raises(SweepConfigError, match=r"unknown directions \['rdm'\]; choose from .* or the metrics"):
        validate_config({"directions": ["rdm"]})
    with pytest.raises(SweepConfigError, match=r"metric_options names unknown metrics \['rdm'\]"):
        validate_config({"metric_options": {"rdm": {}}})
    with pytest.raises(SweepConfigError, match="unknown RSA variant 'frsa'"):
        validate_config({"metric_options": {"rsa": {"variant": "frsa"}}})
    with pytest.raises(SweepConfigError, match=r"metric 'cka' takes no options \['alpha'\]"):
        validate_config({"metric_options": {"cka": {"alpha": 1}}})
    with pytest.raises(SweepConfigError, match="metric_options must be a mapping"):
        validate_config({"metric_options": ["cka"]})
    with pytest.raises(SweepConfigError, match=r"metric 'shape' takes no options \['debiased'\]"):
        sweep(sweep_copy(), client="serial", directions=["shape"], metric_options={"shape": {"debiased": True}})


@pytest.mark.parametrize("options, key, says", [
    ({"cka": {"debiased": "no"}}, "cka", "metric 'cka': debiased must be True or False; got 'no'"),
    ({"shape": {"center_columns": "false"}}, "shape", "metric 'shape': center_columns must be True or False; got 'false'"),
    ({"shape": {"alpha": 2}}, "shape", r"metric 'shape': alpha must be a float in \[0, 1\]"),
    ({"crsa": {"rdm_method": "bogus"}}, "crsa", "metric 'crsa': rdm_method must be one of"),
    ({"crsa": {"reps": 0}}, "crsa", "metric 'crsa': reps must be an integer >= 1; got 0"),
    ({"crsa": {"noise_ceiling": False, "seed": 4}}, "crsa", "metric 'crsa': seed=4 has no effect with noise_ceiling=False"),
    ({"ersa": {"n_folds": 1}}, "ersa", "metric 'ersa': n_folds must be an integer >= 2; got 1"),
    ({"rsa": {"variant": "ersa", "alpha": -1}}, "rsa", "metric 'ersa': alpha must be a finite non-negative number"),
    # rsa's options and the variant's: the key whose options fail alone (both: only where they fail together)
    ({"rsa": {"variant": "crsa", "rdm_method": "cosine"}, "crsa": {"reps": "3"}}, "crsa", "metric 'crsa': reps must be"),
    ({"rsa": {"variant": "crsa", "reps": "3"}, "crsa": {"rdm_method": "cosine"}}, "rsa", "metric 'crsa': reps must be"),
])
def test_metric_option_values_are_refused_before_any_work(sweep_copy, tmp_path, options, key, says):
    """A metric option's type and value are checked up front by the metric's own checks, naming the key
    (debiased: 'no' computed the debiased CKA; the others failed each entry after the directions ran)."""
    with pytest.raises(SweepConfigError, match=rf"^metric_options.{key}: {says}") as info:
        validate_config({"metric_options": options})
    assert "\n" not in str(info.value)
    path = sweep_copy()
    metrics = [k for k in options if k != "rsa"] or ["rsa"]
    with pytest.raises(SweepConfigError, match=rf"^sweep: metric_options.{key}: {says}"):  # the function called
        sweep(path, client="serial", models="netA", layers="layer3", neural="animalA", directions=["forward", *metrics],
              metric_options=options)
    assert nx.list_entries(path).empty  # the forward entry was computed before the metric entries failed
    cfg = tmp_path / "c.yaml"
    import yaml

    cfg.write_text(yaml.safe_dump({"directions": ["forward", *metrics], "metric_options": options}))
    with pytest.raises(SweepConfigError, match=rf"^{cfg}: metric_options.{key}: {says}"):
        load_config(cfg)


def test_metric_options_are_checked_as_compute_checks_them_and_spelled_once(sweep_base_store):
    """The sweep's message is compute's, prefixed with the key; accepted values are keyed in one spelling."""
    with pytest.raises(ValueError) as direct:
        nx.compute(sweep_base_store, "cka", "netA.layer3", "animalA", params={"debiased": "false"})
    with pytest.raises(SweepConfigError) as swept:
        validate_config({"metric_options": {"cka": {"debiased": "false"}}})
    assert str(swept.value) == f"metric_options.cka: {direct.value}"
    cfg = validate_config({"metric_options": {"cka": {"debiased": 1}, "rsa": {"variant": "crsa", "compare_method": "corr"},
                                              "shape": {"alpha": 1, "zero_pad": np.bool_(False)}}})
    assert cfg["metric_options"] == {"cka": {"debiased": True}, "rsa": {"variant": "crsa", "compare_method": "pearson"},
                                     "shape": {"alpha": 1.0, "zero_pad": False}}
    assert type(cfg["metric_options"]["shape"]["zero_pad"]) is bool


def test_an_option_given_to_rsa_and_to_its_variant_with_two_values_is_refused():
    """rsa: {variant: ersa, alpha: 1.0} beside ersa: {alpha: 2.0} computed alpha 2.0 without a word."""
    with pytest.raises(SweepConfigError, match=r"^metric_options.rsa.alpha \(1.0\) and metric_options.ersa.alpha \(2.0\) "
                                               r"set the same option of the ersa entries; keep one of them.$"):
        validate_config({"metric_options": {"rsa": {"variant": "ersa", "alpha": 1.0}, "ersa": {"alpha": 2.0}}})
    cfg = validate_config({"metric_options": {"rsa": {"variant": "crsa", "compare_method": "corr", "reps": 2},
                                              "crsa": {"compare_method": "pearson", "reps": 2}}})  # one value, two spellings
    assert cfg["metric_options"]["crsa"] == {"compare_method": "pearson", "reps": 2}


@pytest.mark.parametrize("selection, says", [
    ({"directions": ["inter_animal"], "models": "netA", "layers": ["layer3"]},
     r"models and layers have no effect with the sweep's directions \['inter_animal'\] \(inter_animal compares neural sets"),
    ({"directions": ["model_to_model"], "neural": "animalA", "regions": ["all"]},
     r"neural and regions have no effect with the sweep's directions \['model_to_model'\]"),
    ({"directions": ["cka"], "models": "netA", "layers": ["layer3"], "neural": "animalA", "selection_seed": 5},
     r"selection_seed has no effect with the sweep's directions \['cka'\] \(it draws the target halves"),
])
def test_selection_keys_no_planned_entry_reads_are_refused(sweep_copy, selection, says):
    """models/layers with only inter_animal, neural/regions with only model_to_model and a selection_seed
    without forward or reverse entries were accepted and did nothing."""
    path = sweep_copy()
    with pytest.raises(SweepConfigError, match=rf"^sweep: {says}.*; drop (it|them) or add") as err:
        sweep(path, client="serial", **selection)
    assert "\n" not in str(err.value)
    with pytest.raises(SweepConfigError, match=says):  # a config file checked against the store: the same line
        validate_config(selection, StudyStore(path, mode="r"))
    kept = {k: v for k, v in selection.items() if k not in ("models", "layers", "neural", "regions", "selection_seed")}
    if kept["directions"] == ["cka"]:
        kept.update(models="netA", layers=["layer3"], neural="animalA")
    assert len(sweep(path, client="serial", **kept).entries)  # without them the same sweep runs


def test_sweep_argument_errors(sweep_copy):
    path = sweep_copy()
    with pytest.raises(SweepConfigError, match=r"^sweep: unknown sweep arguments \['rep'\]"):
        sweep(path, client="serial", rep=2)
    try:
        from neuroxr.backend import resolve_backend

        resolve_backend("torch_cuda")
    except NeuroxrError:  # a backend this machine lacks: the sweep's check, its one line starting with sweep:
        with pytest.raises(SweepConfigError, match=r"^sweep: backend='torch_cuda' needs"):
            sweep(path, client="serial", backend="torch_cuda", directions="forward", models="netA", layers="layer3")
    with pytest.raises(SweepConfigError, match=r"^sweep: store 'memory://sweep-test.zarr' lives in this process's memory; "
                                               r"workers cannot open it"):
        sweep(StudyStore("memory://sweep-test.zarr"), client="tcp://127.0.0.1:1")
    with pytest.raises(SweepConfigError, match=r"^sweep: on_error must be 'raise' or 'warn'; got 'ignore'\.$"):
        sweep(path, client="serial", on_error="ignore")
    with pytest.raises(NeuroxrError, match=r"^sweep: overwrite must be True or False; got 'no'\. "):  # was read as true
        sweep(path, client="serial", overwrite="no")
    with pytest.raises(NeuroxrError, match=r"^sweep: blas_threads must be an integer >= 1; got 0\. "):
        sweep(path, client="serial", blas_threads=0)
    # the score arguments' checks, shared with a config file's keys (there named after the file): the function called
    with pytest.raises(SweepConfigError, match=r"^sweep: alpha must be a finite number >= 0; got -1\.$"):
        sweep(path, client="serial", alpha=-1)
    # refused before any entry is computed
    with pytest.raises(NeuroxrError, match=r"^sweep: selection_seed must be an integer >= 0; got -1\. "):
        sweep(path, client="serial", selection_seed=-1)
    with pytest.raises(SweepConfigError, match=r"^sweep: n_workers and gram_spread have no effect with client='serial' \(the run stays"):
        sweep(path, client="serial", n_workers=7, gram_spread=True)
    with pytest.raises(SweepConfigError, match="^sweep: inference needs max_n=None"):
        sweep(path, client="serial", max_n=3, inference={"bootstrap": 10})
    assert nx.list_entries(path).empty
    with pytest.raises(SweepConfigError, match="selection_seed must be an integer >= 0"):
        validate_config({"selection_seed": -1})


def test_run_options_are_config_keys():
    """on_error and blas_threads, sweep()'s run options, are keys of a config file (checked by its schema)."""
    cfg = validate_config({"on_error": "warn", "blas_threads": None})
    assert cfg == {"on_error": "warn", "blas_threads": None}
    assert validate_config({"blas_threads": 4})["blas_threads"] == 4
    for bad, message in (({"on_error": "ignore"}, "on_error must be 'raise'"), ({"blas_threads": 0}, "blas_threads must be"),
                         ({"blas_threads": 1.5}, "blas_threads must be"), ({"blas_threads": True}, "blas_threads must be")):
        with pytest.raises(SweepConfigError, match=message):
            validate_config(bad)


def test_load_config_yaml(tmp_path, sweep_base_store):
    store = StudyStore(sweep_base_store, mode="r")
    good = tmp_path / "good.yaml"
    good.write_text("models: [netA]\nlayers: {netA: [layer3]}\ndirections: [forward, reverse]\nregions: each\nreps: 2\nseed: 1\n")
    cfg = load_config(good, store)
    assert cfg["models"] == ["netA"] and cfg["regions"] == "each" and cfg["reps"] == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [netA]\nrepz: 2\n")
    with pytest.raises(SweepConfigError, match=r"bad.yaml: unknown configuration keys \['repz'\]"):
        load_config(bad, store)
    typed = tmp_path / "typed.yaml"
    typed.write_text("reps: two\n")
    with pytest.raises(SweepConfigError, match=r"typed.yaml: reps must be an integer >= 1; got 'two'"):
        load_config(typed)
    broken = tmp_path / "broken.yaml"
    broken.write_text("models: [netA\n")
    with pytest.raises(SweepConfigError, match="not valid YAML") as info:
        load_config(broken)
    assert "\n" not in str(info.value)


def test_gram_spread_key():
    assert "gram_spread" in SWEEP_KEYS
    for value in (True, False, None):
        assert validate_config({"gram_spread": value})["gram_spread"] is value
    with pytest.raises(SweepConfigError, match="gram_spread must be true, false or null"):
        validate_config({"gram_spread": "yes"})


@pytest.mark.parametrize("text,key", [
    ("alpha: .nan", "alpha"), ("alpha: .inf", "alpha"), ("min_reliability: 5", "min_reliability"),
    ("min_reliability: .nan", "min_reliability"), ("regressor: ridgecv\nalphas: [-1, 2]", "alphas"),
    ("alphas: [1, .inf]", "alphas"), ("alphas: [0]", "alphas"), ("fold_seed: 4294967296", "fold_seed"),
    ("inference: {bootstrap: 10, level: .nan}", "inference.level"),
])
def test_values_the_schema_cannot_refuse_are_refused_up_front(tmp_path, text, key):
    path = tmp_path / "c.yaml"
    path.write_text(text + "\n")
    with pytest.raises(SweepConfigError, match=rf"c.yaml: {key} must be"):
        load_config(path)


@pytest.mark.parametrize("text,message", [
    ("inference: {bootstrap: 10, lvl: 0.9}", "inference takes no keys ['lvl']; accepted keys: ['bootstrap', 'permutations', "
                                             "'level', 'method', 'over', 'shape_method', 'cka_method']."),
    ("inference: {bootstrap: 10, method: bcaa}", "inference.method must be one of ['percentile', 'bca']; got 'bcaa'."),
    ("inference: {bootstrap: 10, over: all}", "inference.over must be one of ['stimuli', 'targets', 'both']; got 'all'."),
    ("inference: {bootstrap: 10, level: 1.5}", "inference.level must be a number in (0, 1); got 1.5."),
    ("inference: {bootstrap: -1}", "inference.bootstrap must be an integer >= 0 (0: none); got -1."),
])
def test_inference_keys_are_refused_by_name(tmp_path, text, message):
    """An unknown or bad key of ``inference`` is named in the one-line error (not only the whole mapping)."""
    path = tmp_path / "c.yaml"
    path.write_text(text + "\n")
    with pytest.raises(SweepConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: {message}"


def test_memory_limit_key_is_the_sweeps():
    """memory_limit is a config key (the sweep's keyword): a value dask reads is kept, one it cannot
    read is refused naming it, by the config and by sweep() (one check)."""
    from neuroxr.sweep.run import check_cluster_options

    assert "memory_limit" in SWEEP_KEYS
    for value in ("2GiB", "auto", 2**31, 0.5):
        assert validate_config({"memory_limit": value})["memory_limit"] == value
    for value in ("lots", -1, [1]):
        with pytest.raises(SweepConfigError, match="memory_limit must be a memory size per worker"):
            validate_config({"memory_limit": value})
    with pytest.raises(SweepConfigError, match=r"^memory_limit must be a memory size per worker .*; got 'lots'\.$"):
        check_cluster_options(None, {"memory_limit": "lots"})


@pytest.mark.parametrize("path", [5, None, ["a.yaml"]])
def test_load_config_refuses_what_is_not_a_path(path):
    with pytest.raises(SweepConfigError, match=r"^load_config: path must be the YAML file's path .*; got "):
        load_config(path)


def test_a_config_that_is_not_utf8_names_the_file(tmp_path):
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe bad\n")
    with pytest.raises(SweepConfigError, match=r"binary.yaml' is not UTF-8 text") as info:
        load_config(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text,read", [
    ("seed: 10", {"seed": 10}), ("seed: 0x10", {"seed": 16}), ("seed: 0o10", {"seed": 8}), ("seed: 0", {"seed": 0}),
    ("alpha: 1e-1", {"alpha": 1e-1}), ("alpha: 1.0e1", {"alpha": 1.0e1}), ("alpha: .5", {"alpha": 0.5}),
    ("regressor: ridgecv\nalphas: [1e-1, 1E2, 3]", {"regressor": "ridgecv", "alphas": [1e-1, 1e2, 3.0]}),
])
def test_yaml_numbers_are_read_as_yaml_1_2(tmp_path, text, read):
    """Numbers follow YAML 1.2's core schema (decimal, 0o and 0x ints; floats with an exponent)."""
    path = tmp_path / "c.yaml"
    path.write_text(text + "\n")
    cfg = load_config(path)
    assert {k: cfg[k] for k in read} == read and all(type(cfg[k]) is type(v) for k, v in read.items())


@pytest.mark.parametrize("text,said", [
    ("reps: 2\nseed: 010", r"c.yaml: seed: '010' \(line 2\) is an integer with a leading zero"),
    ("regressor: ridgecv\nalphas: [1, 01]", r"c.yaml: alphas: '01' \(line 2\) is an integer with a leading zero"),
    ("reps: 1:30", r"c.yaml: reps must be an integer >= 1; got '1:30'"),
    ("models: netA\nreps: 2\nmodels: netB", r"c.yaml: key 'models' is given twice \(lines 1 and 3\); keep one"),
    ("metric_options:\n  cka: {debiased: true, debiased: false}", r"c.yaml: key 'metric_options.cka.debiased' is given twice \(lines 2 and 2\)"),
    # through a merge key YAML kept one value without a word (reps 5; of two merged mappings the later)
    ("<<: {reps: 3}\nreps: 5", r"c.yaml: key 'reps' is given twice \(lines 1 and 2\); keep one"),
    ("metric_options:\n  cka:\n    <<: {debiased: true}\n    debiased: false",
     r"c.yaml: key 'metric_options.cka.debiased' is given twice \(lines 3 and 4\)"),
    ("<<: [{reps: 3}, {reps: 4}]", r"c.yaml: key 'reps' is given twice \(lines 1 and 1, through a merge '<<'\)"),
])
def test_yaml_1_1_readings_are_refused(tmp_path, text, said):
    """An int with a leading zero (YAML 1.1: octal), a sexagesimal 1:30 and a repeated key are refused
    in one line naming the key, never read as another value."""
    path = tmp_path / "c.yaml"
    path.write_text(text + "\n")
    with pytest.raises(SweepConfigError, match=said) as info:
        load_config(path)
    assert "\n" not in str(info.value)


def test_a_merge_key_without_repeats_is_read(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("<<: {reps: 3}\nseed: 2\n")
    cfg = load_config(path)
    assert cfg["reps"] == 3 and cfg["seed"] == 2


@pytest.mark.parametrize("text,said", [
    ("layers: [layer1, on]", r"c.yaml: layers: on \(line 1\) reads as the boolean true in YAML, not as the name 'on'; "
                             r"quote it \('on'\) where a name is meant\.$"),
    ("layers:\n  netA: [off]", r"c.yaml: layers: off \(line 2\) reads as the boolean false in YAML"),
    ("layers:\n  no: [layer1]", r"c.yaml: layers: no \(line 2\) reads as the boolean false"),
    ("neural: [animalA, no]", r"c.yaml: neural: no \(line 1\) reads as the boolean false"),
    ("models: 1e3", r"c.yaml: models: 1e3 \(line 1\) reads as the number 1000.0 in YAML, not as the name '1e3'"),
    ("models: [1.10]", r"c.yaml: models: 1.10 \(line 1\) reads as the number 1.1 in YAML, not as the name '1.10'"),
    ("regions: [2024-01-01]", r"c.yaml: regions: 2024-01-01 \(line 1\) reads as the date 2024-01-01"),
    ("metric_options:\n  brainscore: {stratify_by: yes}", r"c.yaml: metric_options.brainscore.stratify_by: yes \(line 2\) reads as the boolean true"),
    ("reps: 2\nyes: 3", r"c.yaml: key yes \(line 2\) reads as the boolean true in YAML, not as the name 'yes'"),
])
def test_yaml_1_1_names_are_refused_with_a_hint_to_quote(tmp_path, text, said):
    """A name (or a key) that YAML reads as a boolean, a number or a date is refused in one line
    saying to quote it, never read as another value; quoted, it reads as written."""
    path = tmp_path / "c.yaml"
    path.write_text(text + "\n")
    with pytest.raises(SweepConfigError, match=said) as info:
        load_config(path)
    assert "\n" not in str(info.value)


def test_yaml_names_quoted_read_as_written(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("models: ['1e3', '1.10']\nlayers: {'no': ['on', 'off']}\nneural: 'yes'\noverwrite: yes\n")
    assert load_config(path) == {"models": ["1e3", "1.10"], "layers": {"no": ["on", "off"]}, "neural": "yes", "overwrite": True}


@pytest.mark.parametrize("config, message", [
    ({"directions": ["model_to_model"], "min_reliability": 0.5}, r"min_reliability has no effect with the sweep's directions \['model_to_model'\]"),
    ({"directions": ["cka"], "reps": 3}, r"reps has no effect when the sweep runs no direction \(only \['cka'\]\)"),
    ({"directions": ["dimensionality"], "inference": {"bootstrap": 10}}, r"inference has no effect with the sweep's directions \['dimensionality'\]"),
    ({"directions": ["forward"], "scheduler": "serial", "n_workers": 2}, r"n_workers has no effect with scheduler='serial'"),
    ({"directions": ["forward"], "max_n": 3, "inference": {"bootstrap": 10}}, r"inference needs max_n=None"),
    ({"directions": ["forward"], "temporal_generalization": True, "dtype": "float32"},
     r"temporal_generalization computes in float64 only; it needs dtype 'float64', got 'float32' \(drop temporal_generalization or the dtype\)"),
    ({"directions": ["shape"], "inference": {"bootstrap": 10, "over": "targets"}},
     r"over='targets' has no effect with the sweep's directions \['shape'\], which have no direction bootstrap entry"),
    ({"directions": ["crsa"], "inference": {"bootstrap": 10, "method": "bca", "over": "both"}},
     r"method='bca' and over='both' have no effect with the sweep's directions \['crsa'\]"),
    ({"directions": ["forward"], "inference": {"permutations": 10, "level": 0.5}},
     r"level=0.5 has no effect without inference.bootstrap \(permutation entries take none of them\)"),
    ({"directions": ["cka"], "seed": 3, "reps": 2, "inference": {"permutations": 10}},
     r"reps has no effect when the sweep runs no direction \(only \['cka'\]\)"),
])
def test_load_config_refuses_what_the_sweep_refuses(sweep_base_store, tmp_path, config, message):
    """load_config(path, store) runs the sweep's own checks (neuroxr.sweep.checks.check_plan): a config it
    accepts is one the sweep accepts; its errors start with the file's path."""
    import yaml

    store = StudyStore(sweep_base_store, mode="r")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(SweepConfigError, match=f"^{path}: {message}"):
        load_config(path, store)
    kwargs = {k: v for k, v in config.items() if k != "scheduler"}
    with pytest.raises(SweepConfigError, match="^sweep: " + message.replace("scheduler=", "client=")):  # the sweep's own refusal
        sweep(store, client=config.get("scheduler", "serial"), progress=False, **kwargs)


@pytest.mark.parametrize("config", [
    {"directions": ["cka"], "seed": 3, "inference": {"permutations": 10}},  # the metrics' inference takes the seed
    {"directions": ["shape"], "inference": {"bootstrap": 10, "method": "percentile", "over": "stimuli", "level": 0.9}},
    {"directions": ["forward", "shape"], "inference": {"bootstrap": 10, "method": "bca", "over": "targets"}},
    {"directions": ["forward"], "inference": {"permutations": 10, "level": 0.95}},  # the default, written out
])
def test_load_config_accepts_inference_keys_a_planned_entry_reads(sweep_base_store, tmp_path, config):
    """``seed`` with only metrics when their inference entries take it; ``level`` with a bootstrap;
    ``method`` / ``over`` with a direction's bootstrap (docs/inference.md: the directions'); any
    of them at its default."""
    import yaml

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    assert load_config(path, StudyStore(sweep_base_store, mode="r"))["inference"] == config["inference"]


def test_sweep_checks_direction_inference_options_before_computing(sweep_copy):
    """A direction's bootstrap option its kind refuses (bca over both) is refused before any entry
    is computed, as the metrics' inference options are."""
    from neuroxr.entries import list_entries
    from neuroxr.errors import ParameterError

    path = sweep_copy()
    with pytest.raises(ParameterError, match=r"^sweep: bootstrap: method='bca' needs one resampled axis"):
        sweep(path, models="netA", layers={"netA": ["layer3"]}, neural="animalA", directions=["forward"], reps=1,
              client="serial", progress=False, inference={"bootstrap": 5, "method": "bca", "over": "both"})
    assert list_entries(StudyStore(path, mode="r")).empty


def test_load_config_names_the_file_in_the_plans_entry_checks(tmp_path, sweep_base_store):
    """An inference entry's own check (run on the plan by load_config with a store) names the file too,
    keeping its class: neuroxr sweep STORE CONFIG names the config file in every error."""
    from neuroxr.errors import ParameterError

    store = StudyStore(sweep_base_store, mode="r")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("models: [netA]\nlayers: {netA: [layer3]}\nneural: [animalA]\ndirections: [forward]\n"
                   "inference: {bootstrap: 5, method: bca, over: both}\n")
    with pytest.raises(ParameterError, match=rf"^{cfg}: bootstrap: method='bca' needs one resampled axis"):
        load_config(cfg, store)


def test_sweeps_checks_of_where_it_runs_start_with_sweep(sweep_copy, monkeypatch):
    """Every check of sweep() itself speaks as the call (``sweep: ...``, once): a client that is none,
    a scheduler address that is not one or that nobody answers at, dask-cuda missing for a GPU
    backend on the embedded cluster (also with nothing to compute); a client that is none is refused
    before anything runs."""
    import sys

    import dask

    from neuroxr.entries import list_entries

    path = sweep_copy()
    one = dict(models="netA", layers=["layer3"], neural="animalA", directions="forward", reps=1, progress=False)
    with pytest.raises(SweepConfigError, match=r"^sweep: client must be None \(embedded LocalCluster\), 'serial', a "
                                               r"scheduler address, a distributed.Client or a cluster; got int\.$"):
        sweep(path, client=5, **one)
    with pytest.raises(SweepConfigError, match=r"^sweep: scheduler 'not a url' is not a Dask scheduler address"):
        sweep(path, client="not a url", **one)
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        with pytest.raises(SweepConfigError, match=r"^sweep: cannot connect to the Dask scheduler at 'tcp://127.0.0.1:1'"):
            sweep(path, client="tcp://127.0.0.1:1", **one)
        done = sweep_copy("done.zarr")
        sweep(done, client="serial", **one)  # every entry in the store: the address was accepted unchecked
        with pytest.raises(SweepConfigError, match=r"^sweep: cannot connect to the Dask scheduler at 'tcp://127.0.0.1:1'"):
            sweep(done, client="tcp://127.0.0.1:1", **one)
    monkeypatch.setattr("neuroxr.backend.resolve_backend", lambda backend: None)  # as on a machine with a GPU
    monkeypatch.setitem(sys.modules, "dask_cuda", None)  # ... but without dask-cuda
    with pytest.raises(SweepConfigError, match=r"^sweep: a GPU backend on the embedded cluster needs dask-cuda"):
        sweep(path, backend="torch_cuda", **one)
    with pytest.raises(SweepConfigError, match=r"^sweep: a GPU backend on the embedded cluster needs dask-cuda"):
        sweep(done, backend="torch_cuda", **one)  # nothing left to compute: still said (it was accepted unchecked)
    monkeypatch.undo()
    assert list_entries(path).empty
    sweep(path, client="serial", **one)  # every entry computed: a client that is none is still refused
    with pytest.raises(SweepConfigError, match=r"^sweep: client must be None"):
        sweep(path, client=object(), **one)
    missing = path.parent / "typo.zarr"  # a mistyped store: the call named, how to make one said
    with pytest.raises(StoreError, match=r"^sweep: no study store at .*typo\.zarr.*StudyStore\(path, create=True\)\.$"):
        sweep(missing, client="serial", **one)
    assert not missing.exists()


@pytest.mark.parametrize("inference, message", [
    ({"bootstrap": 10, "lvl": 0.9}, "inference takes no keys ['lvl']; accepted keys: ['bootstrap', 'permutations', "
                                    "'level', 'method', 'over', 'shape_method', 'cka_method']."),
    ({"bootstrap": 10, "method": "bcaa"}, "inference.method must be one of ['percentile', 'bca']; got 'bcaa'."),
    ({"bootstrap": 10, "over": "all"}, "inference.over must be one of ['stimuli', 'targets', 'both']; got 'all'."),
    ({"bootstrap": 10, "level": 1.5}, "inference.level must be a number in (0, 1); got 1.5."),
    ({"bootstrap": 10, "level": float("nan")}, "inference.level must be a number in (0, 1); got nan."),
    ({"bootstrap": True}, "inference.bootstrap must be an integer >= 0 (0: none); got True."),
    ({"permutations": -1}, "inference.permutations must be an integer >= 0 (0: none); got -1."),
    ({"bootstrap": 5, "shape_method": "bca"}, "inference.shape_method must be one of ['centred', 'percentile', 'basic'] "
                                              "(the shape metric's bootstrap interval); got 'bca'."),
    ({"bootstrap": 5, "cka_method": "bca"}, "inference.cka_method must be one of ['centred', 'percentile', 'basic'] "
                                            "(the cka metric's bootstrap interval); got 'bca'."),
    ([5], "inference must be a mapping such as {bootstrap: 1000, permutations: 1000} (also level, method: "
          "percentile|bca, over: stimuli|targets|both, shape_method, cka_method: centred|percentile|basic); got [5]."),
    (5, "inference must be a mapping such as {bootstrap: 1000, permutations: 1000} (also level, method: "
        "percentile|bca, over: stimuli|targets|both, shape_method, cka_method: centred|percentile|basic); got 5."),
])
def test_sweep_and_a_config_file_check_inference_alike(sweep_copy, tmp_path, inference, message):
    """The keys of ``inference`` have one check (config.check_inference): sweep() refuses what a config
    file refuses, in the same line naming the key (there starting with the file's path), before anything runs."""
    import yaml

    from neuroxr.entries import list_entries

    path = sweep_copy()
    with pytest.raises(SweepConfigError) as info:
        sweep(path, client="serial", progress=False, reps=1, inference=inference)
    assert str(info.value) == f"sweep: {message}"
    assert list_entries(path).empty
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"inference": inference}))
    with pytest.raises(SweepConfigError) as info:
        load_config(cfg)
    assert str(info.value) == f"{cfg}: {message}"


def test_an_entry_kinds_check_of_the_plan_starts_with_sweep_keeping_its_class(sweep_copy):
    """A check an entry kind makes of the plan (here crsa inference's, a ParameterError) speaks as the call too."""
    from neuroxr.errors import ParameterError

    with pytest.raises(ParameterError, match=r"^sweep: crsa_bootstrap: compare_method='kendall' is not offered"):
        sweep(sweep_copy(), models="netA", layers=["layer3"], neural="animalA", directions=["crsa"], client="serial",
              progress=False, metric_options={"crsa": {"compare_method": "kendall"}}, inference={"bootstrap": 5})


@pytest.mark.parametrize("value", [True, False, None, "no", "yes", "on", "bca", "1e3", "1.10", "010", "", "a b", 2.0, -1, 1e-5,
                                   ["cka", "no"], {"cka": 3, "variant": "ersa"}])
def test_yaml_text_reads_back_as_the_value(tmp_path, value):
    """A value in a message as the config file writes it (``yaml_text``) is one line that the config's reader
    reads back as that value: strings it would read as another value (``no``, ``1e3``, ``010``) quoted, the
    others not; booleans and None as true, false and null."""
    import yaml

    from neuroxr.sweep.config_yaml import _yaml_loader, yaml_text

    text = yaml_text(value)
    assert "\n" not in text and yaml.load(f"v: {text}", Loader=_yaml_loader()) == {"v": value}, text
    assert text[0] not in "'\"" or not isinstance(value, str) or value in ("no", "yes", "on", "1e3", "1.10", "010", "")
    assert "True" not in text and "False" not in text and "None" not in text


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_an_empty_config_file_is_refused_not_a_sweep_of_everything(tmp_path, text):
    """A 0-byte (truncated, unsaved) or comments-only file ran every model, layer and neural set at the
    defaults; leaving the file out is how a sweep of everything is asked for."""
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(text)
    with pytest.raises(SweepConfigError, match=r"sweep\.yaml' holds no keys; write the sweep's keys in it, or leave"):
        load_config(cfg)
    assert load_config(_write(tmp_path / "one.yaml", "reps: 2\n"))["reps"] == 2


def _write(path, text):
    path.write_text(text)
    return path


def test_a_config_is_checked_against_a_store_given_by_its_path(sweep_copy):
    """``validate_config(config, store=path)`` checks the plan as with the opened store (a path failed with
    "'str' object has no attribute ..."), refusing a layer the store lacks alike."""
    path = sweep_copy()
    config = {"directions": ["forward"], "reps": 2}
    assert validate_config(config, store=str(path)) == validate_config(config, store=StudyStore(path, mode="r"))
    with pytest.raises(SweepConfigError, match="no_such_layer"):
        validate_config({**config, "layers": ["no_such_layer"]}, store=str(path))


def test_a_mistyped_sweep_keyword_is_named_with_the_one_meant(sweep_copy):
    """``sweep(model=...)`` for ``models=`` was refused as an unknown score argument, listing only the score
    arguments, as if the sweep took no models; the message lists the sweep's own keywords too and names the
    closest one."""
    path = sweep_copy()
    for given, meant in (({"model": ["netA"]}, "models"), ({"direction": "forward"}, "directions"), ({"seeds": 1}, "seed")):
        with pytest.raises(SweepConfigError) as info:
            sweep(path, client="serial", progress=False, **given)
        (typed,) = given
        message = str(info.value)
        assert message.startswith(f"sweep: unknown sweep arguments ['{typed}']") and "\n" not in message
        assert f"did you mean '{meant}' for '{typed}'?" in message and "'models'" in message and "'client'" in message
