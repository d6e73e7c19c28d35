"""One rule says whether a direction's score draws anything with its seed (``neuroxr.sweep.tasks.score_takes_seed``):
a sweep and ``neuroxr score ... --seed N --bootstrap M`` key the same score entry, with the seed or without it."""

from __future__ import annotations

import json
import warnings

import pytest
from conftest import seed_study

SEED = 5


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return seed_study(tmp_path_factory.mktemp("seed") / "s.zarr")


#: (case, the sweep's arguments, the command line's options, (source, target) -> whether the score takes the seed)
CASES = [
    ("model_to_model", dict(directions=["model_to_model"], models=["net", "net2"], layers=["l1"]), [], lambda s, t: False),
    ("no ceiling", dict(directions=["forward"], neural=["rep"], layers=["l1"], noise_ceiling=False, reps=2),
     ["--no-ceiling", "--reps", "2"], lambda s, t: False),
    ("forward, one repeat or repeats", dict(directions=["forward"], neural=["rep", "avg"], layers=["l1"], reps=2),
     ["--reps", "2"], lambda s, t: t == "rep"),
    ("reverse, one repeat", dict(directions=["reverse"], neural=["avg"], layers=["l1"], reps=2), ["--reps", "2"],
     lambda s, t: False),
    ("inter_animal, one input with one repeat", dict(directions=["inter_animal"], neural=["rep", "avg"], reps=2),
     ["--reps", "2"], lambda s, t: False),
]


@pytest.mark.parametrize("case, kwargs, flags, takes", CASES, ids=[c[0] for c in CASES])
def test_sweep_and_command_line_key_the_score_alike(store, runner, case, kwargs, flags, takes):
    """Each score entry of a sweep with ``seed=5`` and a bootstrap is the entry ``neuroxr score --seed 5 --bootstrap``
    reads back; it is keyed with seed 5 where the seed draws split halves (neural repeats, automatic ceiling), else as
    the default seed's, while its bootstrap takes 5 in every case."""
    from neuroxr.cli import main
    from neuroxr.sweep import sweep
    from neuroxr.sweep.tasks import score_takes_seed

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sweep(store, client="serial", progress=False, seed=SEED, inference={"bootstrap": 3},
                    **kwargs)
    boots = res.inference_table.set_index(["source", "target"])
    assert len(res.table) >= 1
    for row in res.table.itertuples():
        want = takes(row.source, row.target)
        assert score_takes_seed(row.direction, kwargs, store, (row.source, row.target)) is want
        assert json.loads(store.read_dataset(row.path).attrs["parameters"])["seed"] == (SEED if want else 0)
        assert boots.loc[(row.source, row.target), "bootstrap_seed"] == SEED
        out = runner.invoke(main, ["score", row.direction.replace("_", "-"), str(store.url), row.source, row.target,
                                   "--seed", str(SEED), *flags, "--bootstrap", "3", "--require-existing", "--json"])
        assert out.exit_code == 0, out.output
        got = json.loads(out.stdout)
        assert (got["path"], got["bootstrap_path"]) == (row.path, boots.loc[(row.source, row.target), "bootstrap_path"])


def test_the_rule_reads_max_n_and_the_ceiling_before_the_inputs(store):
    """With ``max_n`` the seed draws the predictor subsets, whatever the inputs; an explicit ceiling its halves; the
    inputs' repeats are read only for the automatic ceiling (``averaged``, where known, spares the read)."""
    from neuroxr.sets import resolve
    from neuroxr.sweep.tasks import score_takes_seed

    avg = ("net.l1", "avg")
    assert score_takes_seed("model-to-model", {"max_n": 3}, store, ("net.l1", "net2.l1"))
    assert score_takes_seed("forward", {"max_n": 3}, store, avg)
    assert score_takes_seed("forward", {"noise_ceiling": True}, None, ())  # no store needed
    assert not score_takes_seed("reverse", {"noise_ceiling": False}, None, ())
    assert not score_takes_seed("forward", {}, store, avg)
    refs = [resolve(store, "net.l1"), resolve(store, "avg")]
    assert not score_takes_seed("forward", {}, store, refs)
    assert score_takes_seed("forward", {}, averaged=False) and not score_takes_seed("forward", {}, averaged=True)


def test_a_name_not_in_the_store_is_the_engines_error_not_a_guess(store):
    """The rule resolves names as the engine does and lets its refusal through (it was read as 'takes the seed')."""
    from neuroxr.entries import compute
    from neuroxr.errors import LayoutError
    from neuroxr.sweep.tasks import score_takes_seed

    with pytest.raises(LayoutError) as engine:
        compute(store, "forward", "net.l1", "nosuch")
    with pytest.raises(LayoutError) as rule:
        score_takes_seed("forward", {}, store, ("net.l1", "nosuch"))
    assert str(rule.value) == str(engine.value)


@pytest.mark.parametrize("args", [["forward", "net.l1", "nosuch"], ["reverse", "nosuch", "net.l1"],
                                  ["inter-animal", "avg", "net.l1"], ["model-to-model", "net.l1", "net.l9"]])
def test_command_line_refuses_an_unknown_name_in_the_engines_one_line(store, runner, args):
    """``--seed N --bootstrap M`` asks the rule about the inputs; a name it cannot resolve is refused in the same one
    line as without them (the engine's message), exit 1, and nothing is written."""
    from neuroxr.cli import main
    from neuroxr.cli._common import one_line
    from neuroxr.entries import compute

    with pytest.raises(ValueError) as engine:
        compute(store, args[0].replace("-", "_"), *args[1:])
    before = store.entries()
    plain = runner.invoke(main, ["score", args[0], str(store.url), *args[1:]])
    seeded = runner.invoke(main, ["score", args[0], str(store.url), *args[1:], "--seed", "5", "--bootstrap", "3",
                                  "--permutations", "3"])
    assert seeded.exit_code == plain.exit_code == 1
    assert seeded.output == plain.output == f"Error: {one_line(str(engine.value))}\n"
    assert store.entries() == before


@pytest.mark.parametrize("args", [["forward", "net.l1", "avg"], ["forward", "net.l1", "rep"],
                                  ["model-to-model", "net.l1", "net2.l1"]])
def test_command_line_opens_the_store_once(tmp_path, runner, monkeypatch, args):
    """The seed's rule, the score and its bootstrap and permutation entries read one open store: the rule opened it
    a second time (and each inference entry once more)."""
    import neuroxr.cli.score as cli_score
    from neuroxr.cli import main

    st = seed_study(tmp_path / "s.zarr")
    opened = []
    real = cli_score.open_store_or_fail
    monkeypatch.setattr(cli_score, "open_store_or_fail", lambda url, mode="r": opened.append(mode) or real(url, mode))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = runner.invoke(main, ["score", args[0], str(st.url), *args[1:], "--seed", "5", "--bootstrap", "3",
                                   "--permutations", "3", "--json"])
    assert out.exit_code == 0, out.output
    assert opened == ["a"]
