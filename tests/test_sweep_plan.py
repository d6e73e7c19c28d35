"""Sweep planning: entry names and counts, selection errors that list what exists."""

from __future__ import annotations

import pytest

from neuroxr.store import StoreError, StudyStore
from neuroxr.sweep import SweepConfigError, plan_sweep
from neuroxr.sweep.names import ALL_REGIONS, layer_name, subset_name

ALL4 = ["forward", "reverse", "inter_animal", "model_to_model"]
LAYERS = {"netA": ["layer1", "layer3"], "netB": ["fc"]}


def test_names():
    assert layer_name("netA", "layer3") == "netA.layer3"
    assert subset_name("animalA", "IT") == "animalA.IT"
    assert subset_name("animalA", ALL_REGIONS) == "animalA"


def test_plan_names_and_counts(sweep_base_store):
    store = StudyStore(sweep_base_store, mode="r")
    entries = plan_sweep(store, layers=LAYERS, directions=ALL4, regions=["all", "IT"])
    keys = [e.key for e in entries]
    # forward + reverse x 3 layers x 2 sets x (all, IT); inter-animal 2 ordered pairs x 2 subsets;
    # model_to_model: the 2 netA layers <-> fc, both ways
    assert len(keys) == len(set(keys)) == 2 * 3 * 2 * 2 + 2 * 2 + 2 * 2
    assert "forward/netA.layer3__animalA.IT" in keys
    assert "forward/netA.layer3__animalA" in keys
    assert "reverse/animalB.IT__netB.fc" in keys
    assert "inter_animal/animalA.IT__animalB.IT" in keys
    assert "model_to_model/netA.layer1__netB.fc" in keys and "model_to_model/netB.fc__netA.layer3" in keys
    assert not any(e.key.startswith("model_to_model/netA.layer1__netA") for e in entries)
    e = next(e for e in entries if e.key == "reverse/animalB.IT__netB.fc")
    assert (e.neural, e.region, e.model, e.layer) == ("animalB", "IT", "netB", "fc")
    each = plan_sweep(store, models=["netB"], directions="forward", regions="each")
    assert sorted({e.region for e in each}) == ["IT", "V4"]


def test_plan_errors_name_what_exists(sweep_base_store):
    store = StudyStore(sweep_base_store, mode="r")
    with pytest.raises(SweepConfigError, match=r"no models \['netZ'\].*netA"):
        plan_sweep(store, models=["netZ"])
    with pytest.raises(SweepConfigError, match=r"no layers \['conv9'\].*conv1"):
        plan_sweep(store, layers={"netB": ["conv9"]})
    with pytest.raises(SweepConfigError, match=r"no selected model has layers \['nope'\]"):
        plan_sweep(store, layers=["layer1", "nope"])
    with pytest.raises(SweepConfigError, match=r"no neural sets \['animalC'\].*animalA"):
        plan_sweep(store, neural="animalC")
    with pytest.raises(SweepConfigError, match=r"regions \['PFC'\].*IT"):
        plan_sweep(store, regions=["PFC"])
    with pytest.raises(SweepConfigError, match=r"choose from their regions: animalA \['IT', 'V4'\], animalB \['IT', 'V4'\] "):
        plan_sweep(store, regions=["PFC"])  # the regions of each selected set
    with pytest.raises(SweepConfigError, match="unknown directions"):
        plan_sweep(store, directions=["sideways"])
    with pytest.raises(SweepConfigError, match="at least two neural sets"):
        plan_sweep(store, neural=["animalA"], directions=["inter_animal"])


def test_a_set_named_as_neuroxr_score_names_it_is_told_how_to_select_it(sweep_base_store):
    """``animalA.IT`` and ``netA.layer3`` (set names as ``neuroxr score`` and the tables write them) in ``neural``,
    ``models`` or ``layers`` were refused listing the store's names only; the error now says how to select them."""
    store = StudyStore(sweep_base_store, mode="r")
    with pytest.raises(SweepConfigError, match=r"\('animalA\.IT' is region 'IT' of 'animalA': select it with neural "
                                               r"\['animalA'\] and regions \['IT'\]\)\.$"):
        plan_sweep(store, neural=["animalA.IT"])
    with pytest.raises(SweepConfigError, match=r"\('netA\.layer3' is layer 'layer3' of 'netA': select it with models "
                                               r"\['netA'\] and layers \['layer3'\]\)\.$"):
        plan_sweep(store, models=["netA.layer3"])
    with pytest.raises(SweepConfigError, match=r"of 'netA': select it with models \['netA'\] and layers \['layer3'\]\)\.$"):
        plan_sweep(store, layers=["netA.layer3"])
    for kw in ({"neural": ["animalA.PFC"]}, {"models": ["netA.conv9"]}, {"layers": ["netA.conv9"]}):
        with pytest.raises(SweepConfigError) as err:  # a part the set does not have: no advice to select it
            plan_sweep(store, **kw)
        assert "select it" not in str(err.value)


def test_region_subset_name_collision(sweep_copy, monkeypatch):
    store = StudyStore(sweep_copy())
    with pytest.raises(StoreError, match="already the name of the neural set 'animalA' region 'IT'"):
        store.write_neural("animalA.IT", store.read_neural("animalB").load())
    # a store written before names were checked (0.1.0) is still refused when planned
    monkeypatch.setattr("neuroxr.sets.check_new_set", lambda *a, **k: None)
    store.write_neural("animalA.IT", store.read_neural("animalB").load())
    with pytest.raises(SweepConfigError, match="already a neural set"):
        plan_sweep(store, neural=["animalA"], regions=["IT"])


def test_plan_metrics(sweep_base_store):
    store = StudyStore(sweep_base_store, mode="r")
    layers = {"netA": ["layer3"], "netB": ["fc"]}
    entries = plan_sweep(store, layers=layers, directions=["rsa", "shape", "cka", "dimensionality", "forward"],
                         regions=["all", "IT"])
    keys = [e.key for e in entries]
    assert len(keys) == len(set(keys)) == 3 * 2 * 2 * 2 + (2 + 4) + 2 * 2 * 2
    assert {"crsa/netA.layer3__animalA.IT", "shape/netB.fc__animalB", "cka/netA.layer3__animalB.IT",
            "dimensionality/netB.fc", "dimensionality/animalA.IT", "forward/netB.fc__animalA"} <= set(keys)
    e = next(e for e in entries if e.key == "dimensionality/animalA.IT")
    assert e.is_metric and (e.neural, e.region, e.model, e.target) == ("animalA", "IT", None, "")
    assert not next(e for e in entries if e.direction == "forward").is_metric
    # rsa means the configured variant; the variants may also be named directly
    ersa = plan_sweep(store, models="netA", layers=["layer3"], neural="animalA", directions=["rsa", "ereg"],
                      metric_options={"rsa": {"variant": "ersa"}})
    assert [e.key for e in ersa] == ["ersa/netA.layer3__animalA", "ereg/netA.layer3__animalA"]


def test_cost_estimate_orders_the_longest_first(sweep_base_store):
    from neuroxr.sweep.plan import entry_cost, longest_first, set_sizes

    store = StudyStore(sweep_base_store, mode="r")
    entries = plan_sweep(store, directions=["forward", "reverse", "inter_animal", "cka"])
    sizes = set_sizes(store, entries)
    # shapes from the array metadata equal the sets' own shapes
    for path, shape in sizes.items():
        parts = path.split("/")
        da = store.read_neural(parts[1]) if parts[0] == "neural" else store.read_features(parts[1], parts[2])
        assert shape == da.shape
    assert {f"neural/{n}" for n in store.neural_sets()} <= set(sizes)
    params = {e.key: {"reps": 2} for e in entries}
    cost = {e.key: entry_cost(e, params[e.key], sizes) for e in entries}
    ordered = longest_first(entries, params, sizes)
    assert sorted(e.key for e in ordered) == sorted(e.key for e in entries)
    got = [cost[e.key] for e in ordered]
    assert got == sorted(got, reverse=True) and got[0] > got[-1] > 0
    k = sum(e.is_metric for e in entries)  # metrics are cheap: last
    assert 0 < k < len(entries) and all(e.is_metric for e in ordered[-k:])
    # cost grows with reps and with the set sizes
    fwd = [e for e in entries if e.direction == "forward" and e.neural == "animalA"]
    assert entry_cost(fwd[0], {"reps": 4}, sizes) == 2 * entry_cost(fwd[0], {"reps": 2}, sizes)
    by_units = sorted(fwd, key=lambda e: sizes[f"features/{e.model}/{e.layer}"][1])
    assert [cost[e.key] for e in by_units] == sorted(cost[e.key] for e in by_units)
    bigger = {**sizes, "neural/animalA": (sizes["neural/animalA"][0], 500, sizes["neural/animalA"][2])}
    assert entry_cost(fwd[0], {"reps": 2}, bigger) > cost[fwd[0].key]
    # ties keep the plan order; unknown sets cost 0 and go last
    assert longest_first(entries, params, {}) == list(entries)


@pytest.mark.parametrize("metric,kind", [("cka", "cka"), ("rsa", "crsa"), ("shape", "shape"), ("dimensionality", "dimensionality"),
                                         ("brainscore", "brainscore")])
def test_metrics_on_a_time_resolved_neural_set_are_refused(sweep_copy, metric, kind, monkeypatch):
    """Metrics take one time bin: with a time-resolved neural set the sweep is refused up front
    (naming the metric and the set), from the sets' array metadata (no set opened); directions
    alone still plan."""
    from conftest import time_sets

    store = StudyStore(sweep_copy(), mode="a")
    store.write_neural("timeA", time_sets()[1])  # planning reads no data: its stimuli need not match
    monkeypatch.setattr(store, "read_dataset", lambda path: pytest.fail(f"planning opened {path}"))
    with pytest.raises(SweepConfigError, match=rf"the metric {kind} takes neural responses of one time bin, and the "
                                               r"neural set 'timeA' is time-resolved .*restrict 'neural:'"):
        plan_sweep(store, models=["netA"], layers=["layer3"], neural=["animalA", "timeA"], directions=["forward", metric])
    assert plan_sweep(store, models=["netA"], layers=["layer3"], neural=["animalA"], directions=["forward", metric])
    assert len(plan_sweep(store, models=["netA"], layers=["layer3"], neural=["timeA"], directions=["forward"])) == 1


def test_repeated_names_plan_each_entry_once(sweep_base_store):
    """A name given twice (models, layers in a list or a mapping, neural sets, regions) selects it once,
    in its first place: the plan equals the plan of the names without repeats."""
    store = StudyStore(sweep_base_store, mode="r")
    ask = dict(directions=["forward", "inter_animal", "cka"])
    twice = plan_sweep(store, models=["netB", "netA", "netB"], layers={"netA": ["layer3", "layer1", "layer3"]},
                       neural=["animalB", "animalA", "animalB"], regions=["IT", "all", "IT"], **ask)
    once = plan_sweep(store, models=["netB", "netA"], layers={"netA": ["layer3", "layer1"]},
                      neural=["animalB", "animalA"], regions=["IT", "all"], **ask)
    keys = [e.key for e in twice]
    assert len(keys) == len(set(keys)) and twice == once
    listed = plan_sweep(store, models="netA", layers=["layer3", "layer3"], neural="animalA", directions="forward")
    assert [e.key for e in listed] == ["forward/netA.layer3__animalA"]


def _relabelled(store, name, source, regions):
    """Write ``source`` again as ``name`` with its region values renamed (``regions``: old -> new)."""
    da = store.read_neural(source).load()
    new = [regions.get(str(r), str(r)) for r in da.coords["region"].values]
    store.write_neural(name, da.assign_coords(region=("neuroid", new)))


@pytest.mark.parametrize("ask,said", [
    (dict(neural=["animalA"], directions=["forward", "inter_animal"]),
     r"inter_animal: needs at least two neural sets; 1 given \['animalA'\]"),
    (dict(models=["netA"], directions=["forward", "model_to_model"]),
     r"model_to_model: needs at least two models with selected layers; 1 given \['netA'\]"),
    (dict(neural=[], directions=["forward", "dimensionality"]), r"forward: no neural sets selected"),
    (dict(layers=["layer3"], directions="forward"), r"model 'netB': has none of the layers \['layer3'\]"),
    (dict(layers={"netA": [], "netB": ["fc"]}, directions="forward"), r"model 'netA': layers\['netA'\] is empty"),
    (dict(neural=["animalA", "animalC"], regions=["MT"], directions="forward"),
     r"neural set 'animalA': has no region \['MT'\] \(its regions: \['(IT|V4)', '(IT|V4)'\]\)"),
    (dict(neural=["animalA", "animalC"], regions=["MT", "IT"], directions="inter_animal"),
     r"inter_animal: region 'MT' is held by only 'animalC', no pair"),
])
def test_what_a_plan_leaves_out_is_said_once(sweep_copy, ask, said):
    """A direction, model or region the selection leaves out is named, with the reason, in one warning."""
    from neuroxr.errors import NeuroxrWarning

    store = StudyStore(sweep_copy(), mode="a")
    _relabelled(store, "animalC", "animalB", {"V4": "MT"})
    with pytest.warns(NeuroxrWarning, match=said) as record:
        entries = plan_sweep(store, **ask)
    assert entries and len([w for w in record if issubclass(w.category, NeuroxrWarning)]) == 1
    # a plan that leaves nothing out says nothing
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plan_sweep(store, neural=["animalA", "animalB"], regions=["IT"], directions=["forward", "inter_animal"])
    with pytest.raises(SweepConfigError, match="the sweep has no entries: inter_animal: needs at least two"):
        plan_sweep(store, neural=["animalA"], directions=["inter_animal"])


def test_layers_listed_per_model_are_planned_in_depth_order(sweep_copy):
    """A layers mapping kept the config's order, so the tables (and best_layers' ties, which go to the
    first row) followed it; a list already kept the store's depth order."""
    store = StudyStore(sweep_copy())
    for layers in ({"netA": ["layer3", "layer1"]}, {"netA": ["layer1", "layer3"]}, ["layer3", "layer1"]):
        entries = plan_sweep(store, models=["netA"], neural=["animalA"], layers=layers, directions="forward")
        assert [e.layer for e in entries] == ["layer1", "layer3"], layers


def _inventory_reads(monkeypatch):
    """The list that each read of a store's inventory (a listing of its shards on an object store) appends to."""
    import neuroxr.store.inventory as inventory

    reads, real = [], inventory.read

    def counted(*args, **kwargs):
        reads.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(inventory, "read", counted)
    return reads


def test_a_plan_lists_the_inventory_once(sweep_base_store, monkeypatch):
    """A plan is one call of the store (its session): the inventory is read once, whatever it selects (it was
    read at each listing of models, layers and neural sets, and per region to check the subset names)."""
    from neuroxr.sweep.config import validate_config

    store = StudyStore(sweep_base_store, mode="r")
    with store.session():  # the same plan in one call the caller opened
        expected = [e.key for e in plan_sweep(store, layers=LAYERS, directions=ALL4, regions="each")]
    reads = _inventory_reads(monkeypatch)
    assert [e.key for e in plan_sweep(store, layers=LAYERS, directions=ALL4, regions="each")] == expected
    assert len(reads) == 1, len(reads)
    # a config checked against the store plans it in one call too (and checks what the plan leaves out)
    cfg = validate_config({"layers": LAYERS, "directions": ALL4, "regions": "each", "reps": 2}, store)
    assert cfg["layers"] == LAYERS and len(reads) == 2, len(reads)


def test_a_cached_store_plans_what_the_store_holds_at_the_call(sweep_copy):
    """Each plan reads the store afresh at its start: a layer another writer added since a cached store's
    last call is planned (the cached store kept the inventory of its first plan and left the layer out)."""
    path = sweep_copy()
    store = StudyStore(path, cache=True)
    ask = {"models": ["netA"], "neural": ["animalA"], "directions": "forward"}
    assert [e.layer for e in plan_sweep(store, **ask)] == ["layer1", "layer3"]
    other = StudyStore(path)
    other.write_features("netA", "layer4", other.read_features("netA", "layer3").load())
    assert [e.layer for e in plan_sweep(store, **ask)] == [*other.layers("netA")]
    assert "layer4" in other.layers("netA")
