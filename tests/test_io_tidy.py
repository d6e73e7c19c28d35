"""Tidy tables <-> neuroxr (neuroxr.io.tidy)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import neuroxr
from neuroxr.errors import LayoutError, NeuroxrWarning
from neuroxr.io import from_dataframe, to_dataframe
from neuroxr.layouts import validate_neural


@pytest.fixture
def table():
    """Long table: 4 stimuli x 3 neuroids x 3 repeats, shuffled, with some rows missing."""
    rng = np.random.default_rng(0)
    rows = [
        {"stimulus_id": f"s{s}", "neuroid_id": f"n{n}", "repeat": r, "value": rng.normal(),
         "region": "IT" if n < 2 else "V4", "animal": "m1"}
        for s in range(4) for n in range(3) for r in range(3)
    ]
    df = pd.DataFrame(rows).sample(frac=1.0, random_state=1)
    return df.drop(df.index[:5]).reset_index(drop=True)


def test_from_dataframe_places_every_row(table):
    out = from_dataframe(table)
    validate_neural(out)
    assert out.sizes == {"stimulus": 4, "neuroid": 3, "repeat": 3}
    sid, nid = out.stimulus_id.values.tolist(), out.neuroid_id.values.tolist()
    for row in table.itertuples():
        assert out.values[sid.index(row.stimulus_id), nid.index(row.neuroid_id), row.repeat] == row.value
    assert int(np.isnan(out.values).sum()) == 5
    assert dict(zip(nid, out.region.values.tolist())) == {"n0": "IT", "n1": "IT", "n2": "V4"}
    assert set(out.animal.values.tolist()) == {"m1"}


def test_without_repeat_column_rows_are_numbered_in_order():
    df = pd.DataFrame({"stimulus_id": ["a", "a", "b", "a"], "neuroid_id": ["x", "x", "x", "y"], "value": [1.0, 2.0, 3.0, 4.0]})
    out = from_dataframe(df, repeat=None)
    np.testing.assert_array_equal(out.sel(stimulus=0).values, [[1.0, 2.0], [4.0, np.nan]])
    np.testing.assert_array_equal(out.sel(stimulus=1).values, [[3.0, np.nan], [np.nan, np.nan]])


def test_round_trip_through_a_table(table):
    neural = from_dataframe(table)
    back = to_dataframe(neural)
    assert len(back) == len(table)
    assert list(back.columns[:4]) == ["stimulus_id", "neuroid_id", "repeat", "value"]
    merged = table.merge(back, on=["stimulus_id", "neuroid_id", "repeat"], suffixes=("", "_back"))
    assert len(merged) == len(table)
    np.testing.assert_array_equal(merged["value"], merged["value_back"])
    xr.testing.assert_identical(from_dataframe(back), neural)


def _annotated(R):
    neural = neuroxr.neural(R, [f"s{i}" for i in range(R.shape[0])], [f"n{j}" for j in range(R.shape[1])], region="IT",
                            attrs={"units": "Hz", "session": 3})
    return neural.assign_coords(category=("stimulus", np.array(["a", "b", "a", "b", "c"])[: R.shape[0]]),
                                size=("stimulus", np.arange(R.shape[0], dtype=float)),
                                electrode=("neuroid", np.arange(R.shape[1]) + 4), repeat=np.arange(R.shape[2]))


def test_table_round_trip_keeps_stimulus_coords_attrs_and_all_nan_stimuli():
    """Stimulus coords become columns, attrs go to DataFrame.attrs (with the column lists), and a
    stimulus, neuroid or repeat label without any value keeps NaN rows: from_dataframe gives the array back."""
    R = np.random.default_rng(5).normal(size=(5, 3, 4))
    R[1] = np.nan  # an all-NaN stimulus, in the middle
    R[:, 0] = np.nan  # an all-NaN neuroid, the first
    R[:, :, 3] = np.nan  # an all-NaN repeat label
    R[0, 1, 1] = np.nan  # a missing trial: no row
    neural = _annotated(R)
    df = to_dataframe(neural)
    assert list(df.columns) == ["stimulus_id", "neuroid_id", "repeat", "value", "region", "electrode", "category", "size"]
    assert df.attrs == {"units": "Hz", "session": 3, "name": "neural", "neuroid_columns": ["region", "electrode"],
                        "stimulus_columns": ["category", "size"]}
    nan_rows = df[df.value.isna()]
    # one per (stimulus, neuroid) pair without a value (5 of neuroid n0, s1's n1 and n2), and one for repeat 3
    assert len(nan_rows) == 8 and len(df) == int(np.isfinite(R).sum()) + 8
    assert (nan_rows.repeat == 0).sum() == 7 and nan_rows[nan_rows.repeat == 3].shape[0] == 1
    assert df[df.stimulus_id == "s1"].category.tolist() == ["b"] * 3
    xr.testing.assert_identical(from_dataframe(df), neural)
    # a user's table: stimulus columns are named explicitly, and must be constant per stimulus
    plain = pd.DataFrame(df)
    plain.attrs = {}
    back = from_dataframe(plain, neuroid_columns=["region", "electrode"], stimulus_columns=["category", "size"])
    xr.testing.assert_identical(back, neural.drop_attrs())
    bad = plain.assign(category=np.where(np.arange(len(plain)) == 0, "z", plain["category"]))
    for call, match in [
        (lambda: from_dataframe(bad, stimulus_columns=["category"]), r"^df: column 'category' takes several values on one "
                                                                     r"stimulus, e.g. stimuli \['s0'\]"),
        (lambda: from_dataframe(plain, stimulus_columns=["shape"]), r"^stimulus_columns: df has no columns \['shape'\]"),
        (lambda: from_dataframe(plain, stimulus_columns=["region"]), r"^stimulus_columns: columns \['region'\] are "
                                                                     r"neuroid_columns too"),
        (lambda: from_dataframe(plain, stimulus_columns=["value"]), r"^stimulus_columns: columns \['value'\] already hold"),
        (lambda: to_dataframe(neural.assign_coords(value=("stimulus", np.zeros(5)))), r"^obj: coords \['value'\]"),
    ]:
        with pytest.raises(LayoutError, match=match) as err:
            call()
        assert "\n" not in str(err.value)


def test_to_dataframe_of_scores_and_metrics():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 4))
    R = (X @ rng.normal(size=(4, 3)))[:, :, None] + rng.normal(size=(30, 3, 3))
    ids = [f"s{i}" for i in range(30)]
    scores = neuroxr.forward(neuroxr.features(X, ids), neuroxr.neural(R, ids, region="IT"), reps=2, seed=0)
    df = to_dataframe(scores)
    assert len(df) == 3 * 2
    assert {"direction", "source", "target", "neuroid_id", "rep", "ev", "r", "region"} <= set(df.columns)
    for row in df.itertuples():
        assert row.ev == scores.ev.sel(neuroid=list(scores.neuroid_id.values).index(row.neuroid_id), rep=row.rep).item()
    metric = xr.Dataset({"score": ("split", [0.5, 0.25])}, coords={"split": ["train", "test"]},
                        attrs={"metric": "crsa", "source": "a", "target": "b"})
    m = to_dataframe(metric)
    assert m[["split", "score"]].values.tolist() == [["train", 0.5], ["test", 0.25]] and (m["metric"] == "crsa").all()
    both = to_dataframe({("forward", "a", "b"): scores, "crsa": metric})
    assert len(both) == 8 and set(both["entry"]) == {"forward/a/b", "crsa"}
    scalar = to_dataframe(xr.Dataset({"score": 3.0}, attrs={"metric": "dimensionality", "source": "a"}))
    assert scalar["score"].tolist() == [3.0]
    # every attr rides in DataFrame.attrs, also those not copied into columns
    assert df.attrs == scores.attrs and m.attrs == metric.attrs
    assert scalar.attrs == {"metric": "dimensionality", "source": "a"}


def test_bad_tables_raise_one_line_errors(table):
    dup = pd.concat([table, table.iloc[:1]])
    inconsistent = table.assign(region=np.where(np.arange(len(table)) == 0, "V1", table["region"]))
    cases = [
        (lambda: from_dataframe(table.drop(columns="value")), "missing column 'value'"),
        (lambda: from_dataframe(dup), "repeat a"),
        (lambda: from_dataframe(inconsistent), "'region' takes several values"),
        (lambda: from_dataframe(table.assign(value="x")), "non-numeric"),
        (lambda: from_dataframe(table.assign(repeat=np.where(np.arange(len(table)) == 3, np.nan, table["repeat"]))),
         "'repeat' has 1 missing"),
        (lambda: from_dataframe(table, neuroid_columns=["depth"]), "no columns"),
        (lambda: to_dataframe(xr.Dataset({"x": 1.0})), "'ev'"),
        (lambda: to_dataframe(3), "int"),
    ]
    for call, match in cases:
        with pytest.raises(LayoutError, match=match) as err:
            call()
        assert "\n" not in str(err.value)


def test_a_repeat_column_that_does_not_exist_is_an_error():
    df = pd.DataFrame({"stimulus_id": ["a", "a"], "neuroid_id": ["x", "x"], "value": [1.0, 2.0], "session": [2, 1]})
    with pytest.raises(LayoutError, match=r"repeat: df has no column 'sesion'; found .*'session'") as err:
        from_dataframe(df, repeat="sesion")
    assert "\n" not in str(err.value)
    np.testing.assert_array_equal(from_dataframe(df, repeat="session").values[0, 0], [2.0, 1.0])
    np.testing.assert_array_equal(from_dataframe(df).values[0, 0], [1.0, 2.0])  # default 'repeat' absent: table order


@pytest.mark.filterwarnings("ignore::neuroxr.errors.NeuroxrWarning")  # toy data: ceiling notes
def test_to_dataframe_of_time_resolved_scores_has_a_row_per_bin():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(24, 3))
    R = (X @ rng.normal(size=(3, 2)))[:, :, None, None] + rng.normal(size=(24, 2, 3, 2))
    ids = [f"s{i}" for i in range(24)]
    neural = neuroxr.neural(R, ids, region="IT", time_bins=[(0, 50), (50, 100)])
    scores = neuroxr.forward(neuroxr.features(X, ids), neural, reps=2, seed=0, min_reliability=0.0)
    df = to_dataframe(scores)
    assert len(df) == 2 * 2 * 2
    assert list(df.columns[3:7]) == ["neuroid_id", "rep", "time_bin_start", "time_bin_end"]
    assert {"ev", "r", "target_shc", "ceiling", "included", "region"} <= set(df.columns)
    nid = scores.neuroid_id.values.tolist()
    for row in df.itertuples():
        t = scores.time_bin_start.values.tolist().index(row.time_bin_start)
        cell = scores.isel(neuroid=nid.index(row.neuroid_id), time_bin=t).sel(rep=row.rep)
        assert row.time_bin_end == scores.time_bin_end.values[t]
        assert row.ev == cell.ev.item() or (np.isnan(row.ev) and np.isnan(cell.ev.item()))
        assert row.included == cell.included.item()
    extra = scores.assign(weights=(("neuroid", "feature"), np.zeros((2, 3))))
    with pytest.raises(LayoutError, match=r"score variables \{'weights'.* are not over dims") as err:
        to_dataframe(extra)
    assert "\n" not in str(err.value)


def test_to_dataframe_of_a_temporal_generalization_has_a_row_per_target_and_pair_of_bins():
    """A temporal-generalisation result (an entry kind) was refused: 'a Dataset must be a score dataset'."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(20, 3))
    R = (X @ rng.normal(size=(3, 2)))[:, :, None, None] + rng.normal(size=(20, 2, 2, 3))
    ids = [f"s{i}" for i in range(20)]
    edges = [(0, 50), (50, 80), (80, 200)]
    neural = neuroxr.neural(R, ids, region="IT", time_bins=edges, name="v4")
    tg = neuroxr.temporal_generalization(neuroxr.features(X, ids, model="net", layer="l1"), neural, n_folds=4)
    tg = tg.isel(time_bin_test=[2, 0, 1])  # the bins of each axis are read by their own coords
    df = to_dataframe(tg)
    assert len(df) == 2 * 3 * 3
    assert list(df.columns[:3]) == ["direction", "source", "target"] and set(df.direction) == {"forward"}
    assert list(df.columns[3:8]) == ["neuroid_id", "time_bin_train_start", "time_bin_train_end", "time_bin_test_start",
                                     "time_bin_test_end"]
    assert {"r", "region"} <= set(df.columns)
    nid = tg.neuroid_id.values.tolist()
    for row in df.itertuples():
        i = tg.time_bin_train_start.values.tolist().index(row.time_bin_train_start)
        j = tg.time_bin_test_start.values.tolist().index(row.time_bin_test_start)
        assert (row.time_bin_train_end, row.time_bin_test_end) == (tg.time_bin_train_end.values[i], tg.time_bin_test_end.values[j])
        assert row.r == tg.r.values[nid.index(row.neuroid_id), i, j]


def test_to_dataframe_of_a_time_resolved_neural_array():
    R = np.arange(2 * 2 * 1 * 3, dtype=float).reshape(2, 2, 1, 3)
    R[0, 1, 0, 2] = np.nan
    neural = neuroxr.neural(R, ["a", "b"], ["x", "y"], time_bins=[(0, 10), (10, 20), (20, 30)])
    df = to_dataframe(neural)
    assert list(df.columns) == ["stimulus_id", "neuroid_id", "repeat", "time_bin_start", "time_bin_end", "value"]
    assert len(df) == R.size - 1
    row = df[(df.stimulus_id == "b") & (df.neuroid_id == "x") & (df.time_bin_start == 10)]
    assert row[["time_bin_end", "value"]].values.tolist() == [[20.0, R[1, 0, 0, 1]]]


def test_array_attrs_become_lists_so_tables_concatenate():
    """Array attrs are held as lists in ``DataFrame.attrs`` (pandas compares attrs with ``==`` when
    concatenating, which fails on arrays): tables of arrays with array attrs concatenate."""
    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(6)]
    a = neuroxr.neural(rng.normal(size=(6, 3, 2)), ids)
    a.attrs["weights"] = np.arange(3.0)
    a.attrs["nested"] = {"w": np.ones(2)}
    t = to_dataframe(a)
    assert t.attrs["weights"] == [0.0, 1.0, 2.0] and t.attrs["nested"] == {"w": [1.0, 1.0]}
    both = to_dataframe({"x": a, "y": a.copy()})
    assert len(both) == 2 * len(t) and both.attrs["weights"] == [0.0, 1.0, 2.0]
    assert len(pd.concat([t, to_dataframe(a)])) == 2 * len(t)
    raw = t.copy()
    raw.attrs = {"weights": np.arange(3.0)}  # a table made elsewhere
    assert len(to_dataframe([raw, raw.copy()])) == 2 * len(t)
    np.testing.assert_array_equal(from_dataframe(t).attrs["weights"], a.attrs["weights"])


def test_a_time_resolved_table_is_refused_with_or_without_its_repeat_column():
    """Dropping ``repeat`` from a time-resolved table must not read its bins as repeats."""
    v = np.random.default_rng(7).normal(size=(3, 2, 2, 4))
    timed = to_dataframe(neuroxr.neural(v, ["a", "b", "c"], ["n0", "n1"], time_bins=[(0, 10), (10, 20), (20, 30), (30, 40)]))
    for df in (timed, timed.drop(columns="repeat"), timed.drop(columns=["repeat", "time_bin_end"])):
        with pytest.raises(LayoutError, match=r"df: has time-bin columns \['time_bin_start'.*static tables only") as err:
            from_dataframe(df)
        assert "\n" not in str(err.value)


def test_equal_rates_by_chance_are_no_copies_but_a_rate_table_appended_to_itself_is():
    """Rates (spike counts divided by one window, less a baseline) are discrete as counts are: a
    neuroid's equal rates across presentations happen by chance, and the warning advised dropping
    real trials (df.drop_duplicates()); a table appended to itself still warns."""
    rng = np.random.default_rng(7)
    counts = rng.poisson(2.0, size=(20, 8, 2))  # stimulus, presentation, neuroid
    for rate in (counts / 0.3, counts / 0.3 - 1.7):
        one = pd.DataFrame([(f"s{i}", "n0", rate[i, k, 0]) for k in range(8) for i in range(20)],
                           columns=["stimulus_id", "neuroid_id", "value"])
        two = pd.DataFrame([(f"s{i}", f"n{j}", rate[i, k, j]) for k in range(8) for i in range(20) for j in range(2)],
                           columns=["stimulus_id", "neuroid_id", "value"])
        assert one["value"].duplicated().any() and (rate != np.round(rate)).any()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            from_dataframe(one)
            from_dataframe(two, repeat=None)
        with pytest.warns(NeuroxrWarning, match=r"df: 160 presentations are exact copies"):
            from_dataframe(pd.concat([one, one], ignore_index=True))


def test_a_duplicate_triple_is_named_once_with_its_repeat_label():
    df = pd.DataFrame({"stimulus_id": ["a"] * 4, "neuroid_id": ["n0"] * 4, "repeat": [0, 0, 1, 1], "value": [1.0, 2, 3, 4]})
    with pytest.raises(LayoutError, match=r"2 rows repeat .* e\.g\. \[\('a', 0, 'n0'\), \('a', 1, 'n0'\)\];") as err:
        from_dataframe(df)
    assert "drop the column" not in str(err.value)


def test_copied_presentations_without_repeat_labels_warn_once_with_a_count():
    rng = np.random.default_rng(6)
    t = pd.DataFrame([(f"s{i}", f"n{j}", rng.normal()) for i in range(5) for j in range(3)],
                     columns=["stimulus_id", "neuroid_id", "value"])
    with pytest.warns(NeuroxrWarning, match=r"df: 5 presentations are exact copies .*drop_duplicates") as rec:
        out = from_dataframe(pd.concat([t, t], ignore_index=True), repeat=None)
    assert len(rec) == 1 and out.sizes["repeat"] == 2
    counts = t.assign(value=rng.integers(1, 4, size=len(t)).astype(float))
    with pytest.warns(NeuroxrWarning, match=r"df: 5 presentations are exact copies") as rec:  # a count table appended to itself
        from_dataframe(pd.concat([counts, counts], ignore_index=True), repeat=None)
    assert len(rec) == 1
    labelled = pd.concat([t.assign(repeat=0), t.assign(repeat=1)], ignore_index=True)  # labelled repeats are kept
    by_chance = pd.concat([counts, counts[counts.stimulus_id == "s0"]], ignore_index=True)  # equal counts happen by chance
    silent = counts.assign(value=0.0)
    one = pd.DataFrame([(f"s{i}", "n0", float(rng.poisson(2.0))) for _ in range(20) for i in range(30)],
                       columns=["stimulus_id", "neuroid_id", "value"])  # one neuroid: most counts repeat by chance
    with pytest.warns(NeuroxrWarning, match=r"df: 1200 presentations are exact copies"):  # appended to itself 3 times
        from_dataframe(pd.concat([one] * 3, ignore_index=True))
    low = pd.DataFrame([(f"s{i}", "n0", float(rng.poisson(0.3))) for _ in range(2) for i in range(30)],
                       columns=["stimulus_id", "neuroid_id", "value"])  # blocks of equal counts by chance: [0, 0]
    with pytest.warns(NeuroxrWarning, match=r"df: 60 presentations are exact copies"):  # as many as were appended
        from_dataframe(pd.concat([low, low], ignore_index=True))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from_dataframe(by_chance, repeat=None)
        from_dataframe(one)
        from_dataframe(pd.concat([silent, silent], ignore_index=True), repeat=None)  # all-zero presentations: nothing to tell apart
        from_dataframe(labelled)


def test_ids_and_repeat_labels_that_read_the_same_as_text_are_refused():
    base = {"stimulus_id": ["s", "s"], "neuroid_id": ["a", "b"], "value": [1.0, 2.0]}
    cases = [
        (dict(base, neuroid_id=[1, "1"]), r"column 'neuroid_id' holds values of different types .* \[1, '1'\]"),
        (dict(base, stimulus_id=[b"s0", "s0"]), r"column 'stimulus_id' holds values .* \[b's0', 's0'\]"),
        (dict(base, neuroid_id=["a", "a"], repeat=[0, "0"]), r"repeat labels 'repeat' holds values .* \[0, '0'\]"),
    ]
    for columns, match in cases:
        with pytest.raises(LayoutError, match=match) as err:
            from_dataframe(pd.DataFrame(columns))
        assert "\n" not in str(err.value)


def test_scalar_coords_become_constant_columns_and_come_back():
    """A neural array's scalar coords (a session, one bin's edges) are constant columns listed in
    ``scalar_columns``, read back as scalar coords (a one-bin table is not a time-resolved one)."""
    rng = np.random.default_rng(0)
    T = neuroxr.neural(rng.normal(size=(4, 3, 2, 2)), [f"s{i}" for i in range(4)], time_bins=[(0, 10), (10, 20)])
    da = T.isel(time_bin=1).assign_coords(session="d1", monkey=7)
    df = to_dataframe(da)
    assert df.attrs["scalar_columns"] == ["time_bin_start", "time_bin_end", "session", "monkey"]
    assert (df["session"] == "d1").all() and (df["monkey"] == 7).all() and (df["time_bin_start"] == 10.0).all()
    back = from_dataframe(df)
    for c in ("session", "monkey", "time_bin_start", "time_bin_end"):
        assert back[c].ndim == 0 and back[c].item() == da[c].item()
    xr.testing.assert_equal(back.drop_vars(["session", "monkey", "time_bin_start", "time_bin_end"]),
                            from_dataframe(df.drop(columns=df.attrs["scalar_columns"])))
    mixed = pd.concat([df, df.assign(session="d2", repeat=df["repeat"] + 2)], ignore_index=True)
    with pytest.warns(NeuroxrWarning, match=r"scalar_columns \['session'\] .* take several values"):
        assert "session" not in from_dataframe(mixed).coords


def test_complex_values_and_repeated_columns_are_refused(table):
    """Complex values lost their imaginary part (numpy's ComplexWarning only), and a column given twice
    failed with pandas' TypeError."""
    with pytest.raises(LayoutError, match=r"^df: column 'value' holds complex values; pass real numbers") as err:
        from_dataframe(table.assign(value=table["value"] + 1j))
    assert "\n" not in str(err.value)
    for col in ("value", "stimulus_id"):
        twice = pd.concat([table, table[[col]]], axis=1)
        with pytest.raises(LayoutError, match=rf"^df: columns \['{col}'\] appear more than once; keep one of each"):
            from_dataframe(twice)


def test_one_column_named_as_a_string_is_that_column(table):
    """neuroid_columns="region" was read letter by letter ("df has no columns ['r', 'e', ...]")."""
    table = table.assign(category=table["stimulus_id"].map({"s0": "a", "s1": "a", "s2": "b", "s3": "b"}))
    one = from_dataframe(table, neuroid_columns="region", stimulus_columns="category")
    listed = from_dataframe(table, neuroid_columns=["region"], stimulus_columns=["category"])
    xr.testing.assert_identical(one, listed)
    assert one["region"].dims == ("neuroid",) and one["category"].dims == ("stimulus",)


@pytest.mark.parametrize("coord", ["stimulus_id", "neuroid_id"])
def test_to_dataframe_takes_ids_that_carry_an_xarray_index(coord):
    """set_xindex (xarray's way to .sel by id) put the id in the frame's index, not its columns: a KeyError."""
    base = neuroxr.neural(np.arange(12.0).reshape(2, 3, 2), ["s0", "s1"], ["n0", "n1", "n2"])
    table = to_dataframe(base.set_xindex(coord))
    pd.testing.assert_frame_equal(table, to_dataframe(base))
    xr.testing.assert_equal(from_dataframe(table), from_dataframe(to_dataframe(base)))


def test_rows_of_several_neuroids_without_repeat_labels_are_not_paired_by_table_order():
    """Sorting a table by value put every neuroid's lowest trials in one "presentation" (the split-half
    RDM ceiling 0.46 -> 0.88), and an animal column neuroxr does not read made two animals' neuroids
    sharing an id one neuroid with their trials as repeats: both refused unless repeat=None says so."""
    rng = np.random.default_rng(0)
    rows = [(f"s{i}", f"n{j}", r, rng.normal()) for i in range(6) for r in range(4) for j in range(3)]
    df = pd.DataFrame(rows, columns=["stimulus_id", "neuroid_id", "trial", "value"])
    for table in (df.drop(columns="trial"), df.drop(columns="trial").sort_values(["neuroid_id", "value"]),
                  df.drop(columns="trial").assign(monkey="M1")):
        with pytest.raises(LayoutError, match=r"^df: has no 'repeat' column.*repeat=None") as e:
            from_dataframe(table)
        assert "\n" not in str(e.value)
    by_label = from_dataframe(df.sort_values(["neuroid_id", "value"]), repeat="trial")
    in_order = from_dataframe(df, repeat="trial")
    xr.testing.assert_identical(by_label.sortby("stimulus_id").sortby("neuroid_id"),
                                in_order.sortby("stimulus_id").sortby("neuroid_id"))
    assert from_dataframe(df.drop(columns="trial"), repeat=None).sizes["repeat"] == 4  # said: table order
    one = df[df.neuroid_id == "n0"].drop(columns="trial")  # one neuroid: nothing to pair across neuroids
    assert from_dataframe(one).sizes["repeat"] == 4
    single = df[df.trial == 0].drop(columns="trial")  # one row per pair
    assert from_dataframe(single).sizes["repeat"] == 1


def test_two_animals_sharing_neuroid_ids_are_told_a_fix_that_works():
    """The refusal told the user to pass neuroid_columns=<the animal column>, which gave the same
    error (and with repeat=None, "takes several values on one neuroid"): it now says to give the
    neuroids ids of their own, and that fix reads every animal's neuroids as their own."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame([(f"s{i}", f"n{j}", a, rng.normal()) for a in "AB" for i in range(3) for j in range(2)],
                      columns=["stimulus_id", "neuroid_id", "animal", "value"])
    fix = r"ids of their own first, e\.g\. df\['neuroid_id'\] = df\['animal'\]\.astype\(str\) \+ '/' \+ df\['neuroid_id'\]"
    for kw in ({}, {"neuroid_columns": ["animal"]}):
        with pytest.raises(LayoutError, match=r"^df: has no 'repeat' column.*" + fix):
            from_dataframe(df, **kw)
    with pytest.raises(LayoutError, match=r"^df: column 'animal' takes several values on one neuroid.*" + fix):
        from_dataframe(df, neuroid_columns=["animal"], repeat=None)
    fixed = df.assign(neuroid_id=df["animal"] + "/" + df["neuroid_id"])
    out = from_dataframe(fixed, neuroid_columns=["animal"])
    assert out.sizes == {"stimulus": 3, "neuroid": 4, "repeat": 1}
    assert list(out["animal"].sel(neuroid=out.neuroid_id == "B/n1").values) == ["B"]
    for row in fixed.itertuples():
        assert out.sel(stimulus=out.stimulus_id == row.stimulus_id, neuroid=out.neuroid_id == row.neuroid_id).item() == row.value


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(stimulus_columns=5), r"^stimulus_columns: expected a column name or a list of them; got int 5"),
    (dict(stimulus=["stimulus_id"]), r"^stimulus: expected one column name; got list"),
    (dict(repeat=["r"]), r"^repeat: expected one column name; got list"),
])
def test_column_arguments_of_the_wrong_type_are_one_line_errors(kwargs, match):
    """Python's 'int object is not iterable' / 'unhashable type' tracebacks before."""
    df = pd.DataFrame({"stimulus_id": ["a", "b"], "neuroid_id": ["n1", "n1"], "value": [1.0, 2.0]})
    with pytest.raises(LayoutError, match=match) as e:
        from_dataframe(df, **kwargs)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(("region", "match"), [
    ([1, "1"], r"^df: (neuroid coord|column) 'region' mixes number and text values"),
    ([["V1"], ["V2"]], r"^df: (neuroid coord|column) 'region' has values that are no scalars at neuroids \['n0', 'n1'\]"),
])
def test_neuroid_coords_a_store_cannot_keep_are_refused_when_read(tmp_path, region, match):
    """They passed the reader and validation, then write_neural raised xarray's / NumPy's ValueError."""
    df = pd.DataFrame({"stimulus_id": ["a", "a", "b", "b"], "neuroid_id": ["n0", "n1", "n0", "n1"],
                       "value": [1.0, 2.0, 3.0, 4.0], "region": region * 2})
    with pytest.raises(LayoutError, match=match) as e:
        from_dataframe(df)
    assert "\n" not in str(e.value)


def test_sparse_repeat_labels_warn_with_the_padding_they_cost():
    """A session-wide trial number in `repeat` gives a repeat dim of every label with most slots NaN:
    one warning counts the padding and names repeat=None; a stimulus or two lacking a repeat is quiet."""
    rng = np.random.default_rng(3)
    trials = rng.permutation(np.repeat(np.arange(6), 4))  # 6 stimuli x 4 presentations, trial number 0..23
    df = pd.DataFrame({"stimulus_id": [f"s{s}" for s in trials], "neuroid_id": "n0", "repeat": np.arange(24),
                       "value": rng.normal(size=24)})
    with pytest.warns(NeuroxrWarning, match=r"^df: 'repeat' takes 24 distinct labels but each stimulus has at most 4 "
                      r"of them, so 120 of the 144 \(stimulus, repeat\) slots \(83%\) are NaN padding\. .*repeat=None") as rec:
        out = from_dataframe(df)
    assert len(rec) == 1 and out.sizes["repeat"] == 24 and int(np.isnan(out.values).sum()) == 120
    by_order = from_dataframe(df, repeat=None)
    assert by_order.sizes["repeat"] == 4 and not np.isnan(by_order.values).any()
    uneven = df.assign(repeat=df.groupby("stimulus_id").cumcount()).sort_values(["stimulus_id", "repeat"]).iloc[:-2]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert int(np.isnan(from_dataframe(uneven).values).sum()) == 2


def _by_ids(da):
    """``da`` with its stimuli and neuroids in id order (an array read back orders them by first row)."""
    return da.isel(stimulus=np.argsort(da.stimulus_id.values), neuroid=np.argsort(da.neuroid_id.values))


@pytest.mark.parametrize("index", [True, False])
def test_coords_named_like_their_dim_come_back_from_a_table(index):
    """A stimulus coord named ``stimulus`` (the dim's index) and a neuroid coord named ``neuroid``
    are columns of the table and come back as those coords, also from shuffled rows; they were
    written, then skipped when read (and one without an index was a pandas error when written)."""
    R = np.random.default_rng(2).normal(size=(4, 3, 2))
    neural = neuroxr.neural(R, ["s0", "s1", "s2", "s3"], ["n0", "n1", "n2"]).assign_coords(
        stimulus=("stimulus", ["cat", "dog", "cat", "car"]), neuroid=("neuroid", [7, 8, 9]), repeat=[0, 1])
    if not index:
        neural = neural.drop_indexes(["stimulus", "neuroid"])
    df = to_dataframe(neural)
    assert df.attrs["stimulus_columns"] == ["stimulus"] and df.attrs["neuroid_columns"] == ["neuroid"]
    by_row = df.set_index(["stimulus_id", "neuroid_id"])
    assert by_row.loc[("s3", "n1"), "stimulus"].tolist() == ["car", "car"]
    assert by_row.loc[("s3", "n1"), "neuroid"].tolist() == [8, 8]
    back = from_dataframe(df)
    xr.testing.assert_identical(back, neural.assign_coords(stimulus=neural.stimulus.values, neuroid=neural.neuroid.values))
    shuffled = from_dataframe(df.sample(frac=1.0, random_state=3))
    xr.testing.assert_identical(_by_ids(shuffled), _by_ids(back))


def test_a_user_column_named_stimulus_is_a_stimulus_coord():
    df = pd.DataFrame({"stimulus_id": ["a", "b", "a", "b"], "neuroid_id": ["x", "x", "y", "y"], "value": [1.0, 2.0, 3.0, 4.0],
                       "stimulus": ["face", "body", "face", "body"], "neuroid": ["e1", "e1", "e2", "e2"]})
    out = from_dataframe(df, stimulus_columns="stimulus", neuroid_columns="neuroid")
    assert out.stimulus.values.tolist() == ["face", "body"] and out.neuroid.values.tolist() == ["e1", "e2"]
    np.testing.assert_array_equal(out.values[:, :, 0], [[1.0, 3.0], [2.0, 4.0]])
    bad = df.assign(stimulus=["face", "body", "body", "body"])
    with pytest.raises(LayoutError, match=r"^df: column 'stimulus' takes several values on one stimulus") as e:
        from_dataframe(bad, stimulus_columns="stimulus")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("arg, column", [("stimulus_columns", "stimulus_id"), ("stimulus_columns", "neuroid"),
                                         ("stimulus_columns", "repeat"), ("neuroid_columns", "neuroid_id"),
                                         ("neuroid_columns", "stimulus"), ("neuroid_columns", "repeat")])
def test_a_column_named_like_the_arrays_own_names_is_refused(arg, column):
    """A column named ``stimulus_id`` (the ids being another column), ``repeat`` (not the repeat
    labels) or like the other dim cannot be a coord of that name: it was silently left out."""
    df = pd.DataFrame({"stim": ["a", "b"], "unit": ["x", "x"], "rep": [0, 0], "value": [1.0, 2.0], column: ["p", "q"]})
    if arg == "neuroid_columns":
        df[column] = "p"
    with pytest.raises(LayoutError, match=rf"^{arg}: column '{column}' is named like the array's own .*"
                                          rf"df.rename\(columns=\{{'{column}': '{column}_2'\}}\)\.$"):
        from_dataframe(df, stimulus="stim", neuroid="unit", repeat="rep", **{arg: [column]})


def _scores():
    return xr.Dataset({"ev": (("neuroid", "rep"), np.arange(6.0).reshape(3, 2))},
                      coords={"neuroid_id": ("neuroid", ["a", "b", "c"]), "region": ("neuroid", ["V4", "V4", "IT"])},
                      attrs={"direction": "forward", "source": "net", "target": "IT"})


@pytest.mark.parametrize("obj", [_scores().assign_coords(target=("neuroid", ["x", "y", "z"])),
                                 _scores().assign(source=("neuroid", [0.1, 0.2, 0.3])),
                                 neuroxr.neural(np.ones((2, 2, 1)), attrs={"source": "lab"}).assign_coords(
                                     source=("stimulus", ["imagenet", "coco"]))])
def test_an_attr_copied_onto_a_column_the_table_has_is_a_one_line_error(obj):
    """attrs= copies attrs into constant columns; one named like a coord or variable was pandas'
    "cannot insert ..., already exists"."""
    name = "target" if "target" in obj.coords else "source"
    with pytest.raises(LayoutError, match=rf"^attrs: obj's attrs \['{name}'\] would be copied into columns .* pass attrs= "
                                          rf"without them, e\.g\. attrs=\(.*\), or rename the coord first\.$"):
        to_dataframe(obj)
    table = to_dataframe(obj, attrs=None)
    assert name in table.columns and table[name].nunique() > 1


def test_a_nested_mapping_of_scores_has_its_keys_joined_in_entry():
    nested = to_dataframe({"net": {"layer1": _scores(), "layer2": _scores()}, "other": _scores()})
    flat = to_dataframe({("net", "layer1"): _scores(), ("net", "layer2"): _scores(), "other": _scores()})
    pd.testing.assert_frame_equal(nested, flat)
    assert nested["entry"].unique().tolist() == ["net/layer1", "net/layer2", "other"]
    coord = neuroxr.neural(np.ones((2, 2, 1))).assign_coords(entry=("stimulus", ["x", "y"]))
    with pytest.raises(LayoutError, match=r"^obj: the table of 'k' has a column 'entry' already .* rename it first\.$"):
        to_dataframe({"k": coord})


def test_time_bin_labels_left_out_of_a_table_are_named_in_its_warning():
    """A time-resolved array's ``time_bin`` labels (an index coord) have no column, as any other
    coord on ``time_bin`` besides the edges: they were dropped without the warning those get."""
    neural = neuroxr.neural(np.ones((2, 2, 1, 2)), time_bins=[(0, 50), (50, 100)]).assign_coords(time_bin=["early", "late"])
    with pytest.warns(NeuroxrWarning, match=r"coords \{'time_bin': \('time_bin',\)\} lie on no dim") as record:
        table = to_dataframe(neural)
    assert len(record) == 1 and "time_bin" not in table.columns
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        to_dataframe(neural.drop_vars("time_bin"))


@pytest.mark.parametrize("kwargs, arg, first", [({"neuroid": "s"}, "neuroid", "stimulus"), ({"value": "s"}, "value", "stimulus"),
                                                ({"repeat": "s"}, "repeat", "stimulus"), ({"repeat": "v"}, "repeat", "value"),
                                                ({"repeat": "n"}, "repeat", "neuroid")])
def test_one_column_named_in_two_roles_is_refused(kwargs, arg, first):
    """A column named as two of stimulus / neuroid / value / repeat built an array of nonsense (the
    values as repeat labels: one repeat per distinct value) without a word."""
    df = pd.DataFrame({"s": ["a", "b", "a", "b"], "n": ["x", "x", "y", "y"], "v": [1.0, 2.0, 3.0, 4.0], "r": [0, 0, 0, 0]})
    args = {"stimulus": "s", "neuroid": "n", "value": "v", "repeat": "r", **kwargs}
    with pytest.raises(LayoutError, match=rf"^{arg}: names column '{args[arg]}', which {first}= names too; .* of their own"):
        from_dataframe(df, **args)
    assert from_dataframe(df, stimulus="s", neuroid="n", value="v", repeat="r").sizes == {"stimulus": 2, "neuroid": 2, "repeat": 1}


def test_scalar_and_rep_coords_of_scores_are_columns():
    """Score datasets tagged with a scalar coord (``layer``) or a coord on ``rep`` lost them in the
    table without a word, so rows of two layers concatenated could not be told apart."""
    tagged = [_scores().assign_coords(layer=name, fold_seed=("rep", [3, 4])) for name in ("l1", "l2")]
    table = to_dataframe(tagged)
    assert table["layer"].tolist() == ["l1"] * 6 + ["l2"] * 6
    assert table.groupby("rep")["fold_seed"].unique().map(list).to_dict() == {0: [3], 1: [4]}
    assert table.set_index(["layer", "neuroid_id", "rep"]).loc[("l2", "c", 1), "ev"] == _scores().ev.values[2, 1]
    with pytest.warns(NeuroxrWarning, match=r"^obj: coords \{'other': \('x',\)\} are not over dims \('neuroid', 'rep'\)"):
        table = to_dataframe(_scores().assign_coords(other=("x", [1, 2])))
    assert "other" not in table.columns


@pytest.mark.parametrize("split", [True, False])
def test_scalar_and_split_coords_of_a_metric_entry_are_columns(split):
    """A metric entry's scalar coords and coords on ``split`` were dropped, unlike its variables."""
    score = ("split", [0.1, 0.2]) if split else ((), 0.3)
    entry = xr.Dataset({"score": score}, coords={"layer": "l1", **({"seed": ("split", [7, 8])} if split else {})},
                       attrs={"metric": "cka"})
    table = to_dataframe(entry)
    assert table["layer"].tolist() == ["l1"] * len(table) and table["score"].tolist() == np.atleast_1d(entry.score.values).tolist()
    if split:
        assert table["seed"].tolist() == [7, 8]


def test_trial_helpers_group_by_the_ids_whatever_the_fields_are_named():
    # per_stimulus / per_neuroid grouped on a frame column "stimulus" / "neuroid", which a field of that name replaced
    from neuroxr.io._trials import per_neuroid, per_stimulus

    sid = np.array(["a", "b", "a", "b"])
    table = {"stimulus": np.array(["fa", "fb", "fa", "fb"]), "category": np.array(["car", "dog", "car", "dog"])}
    out = per_stimulus(table, sid, np.array(["b", "a"]), ["stimulus", "category"], "t", "field")
    assert out["stimulus"].tolist() == ["fb", "fa"] and out["category"].tolist() == ["dog", "car"]
    nid = np.array(["n0", "n1", "n0"])
    out = per_neuroid({"neuroid": np.array([7, 8, 7]), "region": np.array(["V1", "IT", "V1"])}, nid, ["neuroid", "region"], "t")
    assert out["neuroid"].tolist() == [7, 8] and out["region"].tolist() == ["V1", "IT"]
    with pytest.raises(LayoutError, match="column 'neuroid' takes several values on one neuroid, e.g. neuroids \\['n0'\\]"):
        per_neuroid({"neuroid": np.array([7, 8, 9])}, nid, ["neuroid"], "t")


def test_a_scalar_column_named_like_a_dim_is_a_one_line_error():
    # xarray's "dimension 'stimulus' already exists as a scalar variable", with a traceback
    df = pd.DataFrame({"stimulus_id": ["a", "b"], "neuroid_id": ["n0", "n0"], "value": [1.0, 2.0], "stimulus": ["x", "x"]})
    df.attrs["scalar_columns"] = ["stimulus"]
    with pytest.raises(LayoutError, match=r"^df: column 'stimulus', listed in df.attrs\['scalar_columns'\], is named "
                       r"like the array's own dim.*df.rename\(columns=\{'stimulus': 'stimulus_2'\}\)") as err:
        from_dataframe(df)
    assert "\n" not in str(err.value)


def test_sparse_repeat_labels_warning_names_the_argument():
    """A session-wide trial number in a repeat column of another name (``repeat="trial"``) leaves most
    (stimulus, repeat) slots empty; the warning names the argument that numbers repeats by order,
    ``repeat=None``, not ``trial=None`` (from_dataframe has no such argument)."""
    rng = np.random.default_rng(0)
    rows = [{"stimulus_id": f"s{t % 4}", "neuroid_id": f"n{n}", "trial": t, "value": rng.normal()}
            for t in range(12) for n in range(2)]
    df = pd.DataFrame(rows)
    with pytest.warns(NeuroxrWarning, match=r"pass repeat=None to number") as rec:
        from_dataframe(df, repeat="trial")
    assert "trial=None" not in str(rec[0].message)
    by_order = from_dataframe(df.drop(columns="trial"), repeat=None)  # the way out it names works
    assert by_order.sizes["repeat"] == 3 and not np.isnan(by_order.values).any()


@pytest.mark.parametrize("name", [["x"], 3, ("a", "b")])
def test_a_name_that_is_no_str_is_a_one_line_error(name):
    """``name=`` of a list, a number or a tuple was kept as the array's name; it is refused naming
    ``name`` (every trial reader builds its array the same way); None, the default, is the table's name."""
    df = pd.DataFrame({"stimulus_id": ["a", "b"], "neuroid_id": ["n", "n"], "value": [1.0, 2.0]})
    with pytest.raises(LayoutError, match=r"^name: expected a str \(the array's name\) or None; got"):
        from_dataframe(df, name=name)
    assert from_dataframe(df, name=None).name == "neural" and from_dataframe(df, name="v4").name == "v4"
    df.attrs["name"] = "v1"  # None (the default) reads the name to_dataframe writes, as from_rsatoolbox reads its descriptor
    assert from_dataframe(df, name=None).name == "v1" and from_dataframe(df.rename(columns={}), name="v4").name == "v4"


def test_a_padded_array_that_does_not_fit_in_memory_is_a_one_line_error(monkeypatch):
    """Session-wide trial numbers passed as the repeat column give (stimuli x neuroids x trials) slots;
    on a real session that array does not fit in memory, and numpy's MemoryError was a bare traceback.
    It is a one-line error naming the shape and repeat=None (the allocation is made to fail here)."""
    import neuroxr.io._trials as trials

    real = trials._nan_array

    def small_memory(shape):
        if int(np.prod(shape)) > 100:
            raise MemoryError("Unable to allocate")
        return real(shape)

    monkeypatch.setattr(trials, "_nan_array", small_memory)
    rows = [{"stimulus_id": f"s{t % 8}", "neuroid_id": f"n{n}", "trial": t, "value": float(t + n)}
            for t in range(40) for n in range(2)]
    df = pd.DataFrame(rows)
    with pytest.warns(NeuroxrWarning, match="NaN padding"):
        with pytest.raises(LayoutError, match=r"^df: the \(stimulus, neuroid, repeat\) array of shape \(8, 2, 40\) .* "
                                              r"does not fit in memory; .*'trial'.* pass repeat=None") as e:
            from_dataframe(df, repeat="trial")
    assert "\n" not in str(e.value)
    out = from_dataframe(df.drop(columns="trial"), repeat=None)  # 8 x 2 x 5: the way out it names
    assert out.sizes["repeat"] == 5 and out.sel(stimulus=1, neuroid=1).values.tolist() == [2.0, 10.0, 18.0, 26.0, 34.0]


def test_to_dataframe_attrs_of_one_name_or_of_another_type(table):
    """attrs="metric" was read letter by letter (no column copied, no word); one name is that attr. An
    int was Python's bare "not iterable" TypeError; it is refused naming attrs."""
    scores = xr.Dataset({"ev": (("neuroid", "rep"), np.ones((2, 3)))},
                        coords={"neuroid_id": ("neuroid", ["n0", "n1"])}, attrs={"metric": "ev", "source": "m.l"})
    out = to_dataframe(scores, attrs="metric")
    assert out["metric"].tolist() == ["ev"] * 6 and "source" not in out.columns
    with pytest.raises(LayoutError, match=r"^attrs: expected attr names \(a list of str\) or None; got 3"):
        to_dataframe(scores, attrs=3)


def test_a_wide_or_indexed_table_is_told_how_to_become_long():
    """A first table is often wide (one column per neuroid) or indexed (df.set_index): the missing-column
    error names df.melt / df.reset_index, and the table the hint makes is read with every value in place."""
    rng = np.random.default_rng(0)
    wide = pd.DataFrame({"stimulus_id": ["a", "b", "a", "b"], "repeat": [0, 0, 1, 1],
                         "n0": rng.poisson(3, 4).astype(float), "n1": rng.poisson(3, 4).astype(float)})
    with pytest.raises(LayoutError, match=r"^df: missing column 'neuroid_id'; .*A wide table .*df\.melt\(id_vars="
                                          r"\['stimulus_id', 'repeat'\], var_name='neuroid_id', value_name='value'\)\.$"):
        from_dataframe(wide)
    long = wide.melt(id_vars=["stimulus_id", "repeat"], var_name="neuroid_id", value_name="value")
    out = from_dataframe(long)
    for row in wide.itertuples():
        s = out.stimulus_id.values.tolist().index(row.stimulus_id)
        assert out.values[s, :, row.repeat].tolist() == [row.n0, row.n1]
    with pytest.raises(LayoutError, match=r"^df: missing column 'stimulus_id'; .* 'stimulus_id' is a level of the "
                                          r"index: df\.reset_index\(\) makes it a column\.$"):
        from_dataframe(long.set_index(["stimulus_id", "neuroid_id"]))
    xr.testing.assert_identical(from_dataframe(long.set_index(["stimulus_id", "neuroid_id"]).reset_index()), out)


def test_an_empty_id_is_named_at_its_row_of_the_table():
    """An empty id ('') was refused at its position on the stimulus dim ('positions [2]'), a place the table has not."""
    df = pd.DataFrame({"stimulus_id": ["a", "a", "b", "b", "a", "a", "b", ""], "neuroid_id": ["n0", "n1"] * 4,
                       "repeat": [0, 0, 0, 0, 1, 1, 1, 1], "value": np.arange(8.0)}, index=[10 * i for i in range(8)])
    with pytest.raises(LayoutError, match=r"^df: column 'stimulus_id' has 1 empty ids \(''\) at rows \[70\]; give each"):
        from_dataframe(df)
    with pytest.raises(LayoutError, match=r"^df: column 'neuroid_id' has 1 empty ids \(''\) at rows \[0\]"):
        from_dataframe(df.assign(stimulus_id="a", neuroid_id=[""] + ["n1"] * 7, repeat=range(8)))


def test_byte_string_ids_that_are_no_utf8_text_are_a_one_line_error():
    """Byte strings of another encoding raised numpy's bare UnicodeDecodeError, naming no column."""
    df = pd.DataFrame({"stimulus_id": [b"caf\xe9", b"b"], "neuroid_id": ["n0", "n0"], "value": [1.0, 2.0]})
    with pytest.raises(LayoutError, match=r"^df: column 'stimulus_id' holds byte strings that are not UTF-8 text, "
                                          r"e\.g\. b'caf\\xe9'; decode them") as err:
        from_dataframe(df)
    assert "\n" not in str(err.value)


def test_repeat_labels_of_text_and_numbers_are_refused_and_byte_labels_decoded(tmp_path):
    """Labels [0, 'x'] made an object repeat coord that no store can write (zarr's bare 'unable to infer
    dtype' ValueError), and byte labels (an HDF5 column) stayed bytes where ids are decoded."""
    base = {"stimulus_id": ["a", "a", "b", "b"], "neuroid_id": ["n0"] * 4, "value": [1.0, 2.0, 3.0, 4.0]}
    with pytest.raises(LayoutError, match=r"^df: repeat labels 'repeat' mix text and numbers, e\.g\. \[0, 'x'\]; give "
                                          r"them one type first .*or pass repeat=None") as err:
        from_dataframe(pd.DataFrame(dict(base, repeat=[0, "x", 0, "x"])))
    assert "\n" not in str(err.value)
    out = from_dataframe(pd.DataFrame(dict(base, repeat=[b"r0", b"r1", b"r0", b"r1"])))
    assert out.repeat.values.tolist() == ["r0", "r1"] and out.repeat.dtype.kind == "U"
    xr.testing.assert_identical(out, from_dataframe(pd.DataFrame(dict(base, repeat=["r0", "r1", "r0", "r1"]))))
    store = neuroxr.open_store(tmp_path / "s.zarr")
    store.write_neural("r", out)
    xr.testing.assert_identical(store.read_neural("r").repeat, out.repeat)


def test_columns_listed_in_the_tables_attrs_but_dropped_since_are_left_out_with_a_warning():
    """A table of to_dataframe keeps its column lists in df.attrs through df[cols] and df.drop; a listed column
    dropped since was an error naming neuroid_columns=, an argument the caller never passed."""
    rng = np.random.default_rng(0)
    da = neuroxr.neural(rng.normal(size=(3, 2, 2)), ["s0", "s1", "s2"], ["n0", "n1"])
    da = da.assign_coords(region=("neuroid", ["IT", "V4"]), category=("stimulus", ["a", "b", "a"]), repeat=[0, 1])
    df = to_dataframe(da)
    core = df[["stimulus_id", "neuroid_id", "repeat", "value"]]
    assert core.attrs["neuroid_columns"] == ["region"]  # pandas carries the attrs along
    with pytest.warns(NeuroxrWarning, match=r"^df: df\.attrs\['neuroid_columns'\] lists columns \['region'\] the table "
                                            r"does not have \(dropped since\); they are left out") as rec:
        out = from_dataframe(df.drop(columns="region"))
    assert len(rec) == 1
    xr.testing.assert_identical(out, da.drop_vars("region"))
    with pytest.warns(NeuroxrWarning, match=r"stimulus_columns'\] lists columns \['category'\]"):
        xr.testing.assert_identical(from_dataframe(core), da.drop_vars(["region", "category"]))
    with pytest.raises(LayoutError, match=r"^neuroid_columns: df has no columns \['area'\]"):  # asked for: an error
        from_dataframe(df, neuroid_columns=["area"])


def test_missing_repeat_labels_name_the_way_to_number_rows_by_order():
    """Missing values in the repeat column said only to drop those rows (their trials lost), not repeat=None."""
    df = pd.DataFrame({"stimulus_id": ["a", "a", "b", "b"], "neuroid_id": ["n0"] * 4, "value": [1.0, 2.0, 3.0, 4.0],
                       "repeat": [0, np.nan, 0, 1]})
    with pytest.raises(LayoutError, match=r"^df: column 'repeat' has 1 missing values; every row needs a repeat label: "
                                          r"drop those rows, or pass repeat=None to number each stimulus's rows in "
                                          r"table order\.$") as err:
        from_dataframe(df)
    assert "\n" not in str(err.value)
    out = from_dataframe(df.drop(columns="repeat"), repeat=None)  # the way out the message names
    np.testing.assert_array_equal(out.values[:, 0, :], [[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(LayoutError, match=r"^df: column 'stimulus_id' has 1 missing values; every row needs a "
                                          r"stimulus \(drop those rows first\)\.$"):
        from_dataframe(df.assign(stimulus_id=["a", None, "b", "b"], repeat=[0, 1, 0, 1]))


def test_the_arrays_name_survives_a_table_round_trip():
    """A table kept no trace of the array's name, so from_dataframe(to_dataframe(v4)) was named 'neural' (and a
    score of it targeted 'neural', not 'v4'). The name travels as DataFrame.attrs['name'], as rsatoolbox's descriptor."""
    rng = np.random.default_rng(0)
    neural = neuroxr.neural(rng.normal(size=(3, 2, 2)), ["s0", "s1", "s2"], ["n0", "n1"], name="v4",
                            attrs={"units": "Hz"}).assign_coords(repeat=[0, 1])
    df = to_dataframe(neural)
    assert df.attrs["name"] == "v4"
    xr.testing.assert_identical(from_dataframe(df), neural)
    assert from_dataframe(df, name="it").name == "it" and "name" not in from_dataframe(df, name="it").attrs
    plain = df.copy()
    plain.attrs = {}
    assert from_dataframe(plain).name == "neural"  # a table without one
    with pytest.raises(LayoutError, match=r"^obj: attr 'name' \('x'\) differs from the array's name \('v4'\)") as err:
        to_dataframe(neural.assign_attrs(name="x"))
    assert "\n" not in str(err.value)
    assert to_dataframe(neural.assign_attrs(name="v4")).attrs["name"] == "v4"
