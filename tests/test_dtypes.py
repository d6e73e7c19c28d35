"""The dtypes of the inputs: every public entry point gives, for the same values in another dtype
(integer spike counts, unsigned counts whose differences would wrap, int32 counts whose squares
leave int32, float16 / float32, bool, big-endian, mixed dtypes of its two inputs), the numbers of
float64, or a one-line error naming the array, its dtype and what to do (complex numbers, dates,
text, numeric text in an object array)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

import neuroxr as nx
from neuroxr.errors import LayoutError, NeuroxrError

pytestmark = pytest.mark.filterwarnings("ignore::neuroxr.NeuroxrWarning")

S, N, R, U = 16, 4, 4, 5
STIM = [f"s{i:02d}" for i in range(S)]


def _values(offset: float, scale: float, grid: float = 1.0, top: float = np.inf, seed: int = 0):
    """Integer-valued features (S, U), a second feature set and responses (S, N, R) on multiples of
    ``grid`` in [0, top], around ``offset``, sharing a latent (every value exact in the dtypes used)."""
    rng = np.random.default_rng(seed)
    lat = rng.normal(size=(S, 3))

    def draw(shape, noise):
        v = offset + scale * (lat @ rng.normal(size=(3, shape[1])))
        v = v.reshape(v.shape + (1,) * (len(shape) - 2)) + noise * scale * rng.normal(size=shape)
        return np.clip(np.round(v / grid) * grid, 0, top)

    return draw((S, U), 0.2), draw((S, U), 0.4), draw((S, N, R), 0.3)


#: (name, values) each exact in the dtypes tried with it: small counts (uint8: centring wraps),
#: counts of ~50000 (int32 squares overflow, uint16 wraps), float16-exact values near its top
CASES = {
    "counts": (_values(120, 40, top=255), ("uint8", "uint16", "int32", "int64", ">i4", "float16", "float32", ">f8")),
    "big_counts": (_values(50000, 8000, top=65535), ("uint16", "int32", "uint32", ">i4", ">f8")),
    "float16_top": (_values(30000, 10000, grid=32, top=60000), ("float16", "float32", "int32")),
}


def _feats(v, model="net", layer="l1"):
    return nx.features(np.zeros(np.shape(v)), STIM, model=model, layer=layer).copy(data=v)


def _neural(v, prefix="n", **coords):
    return nx.neural(np.zeros(np.shape(v)), STIM, [f"{prefix}{j}" for j in range(N)], **coords).copy(data=v)


ANALYSES = {
    "forward": lambda f, g, n: nx.forward(_feats(f), _neural(n), reps=2),
    "forward_linear": lambda f, g, n: nx.forward(_feats(f), _neural(n), reps=1, regressor="linear"),
    "reverse": lambda f, g, n: nx.reverse(_neural(n), _feats(f), reps=2),
    "inter_animal": lambda f, g, n: nx.inter_animal(_neural(n), _neural(n[:, ::-1, ::-1], "m", animal="b"), reps=2),
    "model_to_model": lambda f, g, n: nx.model_to_model(_feats(f), _feats(g, "net2", "l2")),
    "reliability": lambda f, g, n: nx.split_half_reliability(_neural(n), reps=2),
    "rdm_correlation": lambda f, g, n: nx.rdm(_feats(f)),
    "rdm_sqeuclidean": lambda f, g, n: nx.rdm(_feats(f), method="sqeuclidean"),
    "rdm_neural_cosine": lambda f, g, n: nx.rdm(_neural(n), method="cosine"),
    "crsa": lambda f, g, n: nx.crsa(_feats(f), _neural(n), reps=2),
    "ersa": lambda f, g, n: nx.ersa(_feats(f), _neural(n), n_folds=3),
    "ereg": lambda f, g, n: nx.ereg(_feats(f), _neural(n), n_components=2, n_folds=3),
    "cka": lambda f, g, n: nx.cka(_feats(f), _feats(g, "net2", "l2")),
    "cka_debiased": lambda f, g, n: nx.cka(_feats(f), _feats(g, "net2", "l2"), debiased=True),
    "dimensionality": lambda f, g, n: nx.effective_dimensionality(_feats(f)),
    "shape": lambda f, g, n: nx.LinearMetric().fit(_feats(f), _feats(g, "n2", "l2")).score(_feats(f), _feats(g, "n2", "l2")),
    "relative": lambda f, g, n: nx.geometry.relative_features(_feats(f), f[:4]),
}


def _numbers(out) -> dict[str, np.ndarray]:
    if isinstance(out, xr.Dataset):
        return {k: np.asarray(out[k].values, dtype=float) for k in out.data_vars if out[k].dtype.kind in "fiub"}
    return {"value": np.asarray(getattr(out, "values", out), dtype=float)}


def _assert_same(got, want, what) -> None:
    g, w = _numbers(got), _numbers(want)
    assert g.keys() == w.keys(), what
    for k in w:
        np.testing.assert_allclose(g[k], w[k], rtol=1e-7, atol=1e-9, equal_nan=True, err_msg=f"{what}: {k}")


def _run(fn, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow / invalid-value warning from inside
        return fn(*args)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("analysis", sorted(ANALYSES))
def test_the_same_values_in_another_dtype_give_the_float64_numbers(analysis, case):
    (F, G, Rr), dtypes = CASES[case]
    fn = ANALYSES[analysis]
    want = fn(F, G, Rr)
    for dt in dtypes:
        cast = [v.astype(dt) for v in (F, G, Rr)]
        assert all(np.array_equal(c.astype(float), v) for c, v in zip(cast, (F, G, Rr))), dt  # exact in dt
        _assert_same(_run(fn, *cast), want, f"{analysis} {case} as {dt}")


TWO_INPUTS = ["forward", "reverse", "inter_animal", "model_to_model", "crsa", "ersa", "cka", "shape", "relative"]


@pytest.mark.parametrize("analysis", TWO_INPUTS)
def test_mixed_dtypes_of_the_inputs_give_the_float64_numbers(analysis):
    """float32 features with float64 responses, and the like: each input keeps its own dtype."""
    (F, G, Rr), _ = CASES["counts"]
    fn = ANALYSES[analysis]
    want = fn(F, G, Rr)
    for a, b in [("float32", "float64"), ("float64", "float32"), ("uint8", "float16"), (">f8", "int32"),
                 ("float16", "uint16")]:
        _assert_same(_run(fn, F.astype(a), G.astype(b), Rr.astype(b)), want, f"{analysis} {a}/{b}")


@pytest.mark.parametrize("analysis", ["forward", "crsa", "cka", "shape", "rdm_correlation", "model_to_model"])
def test_bool_features_give_the_numbers_of_their_0_1_values(analysis):
    F, G, Rr = CASES["counts"][0]
    Fb, Gb = F > np.median(F), G > np.median(G)
    fn = ANALYSES[analysis]
    _assert_same(_run(fn, Fb, Gb, Rr), fn(Fb.astype(float), Gb.astype(float), Rr), analysis)


def test_float32_features_with_float64_responses_are_within_float32_rounding_in_float32():
    F, _, Rr = CASES["counts"][0]
    want = nx.forward(_feats(F), _neural(Rr), reps=2)
    got = nx.forward(_feats(F.astype(np.float32)), _neural(Rr.astype(np.float16)), reps=2, dtype="float32")
    np.testing.assert_allclose(got["r"].values, want["r"].values, atol=1e-3)


BAD = {
    "complex": lambda v: v + 1j,
    "datetime": lambda v: v.astype("datetime64[s]"),
    "text": lambda v: v.astype(str),
    "object_text": lambda v: v.astype(str).astype(object),
}


@pytest.mark.parametrize("bad", sorted(BAD))
@pytest.mark.parametrize("analysis", ["forward", "reverse", "reliability", "rdm_correlation", "crsa", "cka", "shape",
                                      "dimensionality", "relative"])
def test_values_that_are_no_real_numbers_are_a_one_line_error_naming_the_dtype(analysis, bad):
    F, G, Rr = CASES["counts"][0]
    which = 2 if analysis in ("reverse", "reliability") else 0
    args = [F, G, Rr]
    with pytest.raises(NeuroxrError) as err:
        ANALYSES[analysis](*[BAD[bad](v) if i == which else v for i, v in enumerate(args)])
    msg = str(err.value)
    assert "\n" not in msg and ("object" in msg or str(BAD[bad](F).dtype) in msg), msg


@pytest.mark.parametrize("call", [
    lambda x: nx.LinearMetric().fit(_feats(x), _feats(x)),
    lambda x: nx.compare_rdms(x, x),
    lambda x: nx.rdm_noise_ceiling([x, x, x]),
    lambda x: nx.geometry.relative_features(_feats(np.eye(S)[:, :U] + 1), x[:2, :U]),
], ids=["shape", "compare_rdms", "rdm_noise_ceiling", "relative_anchors"])
def test_numeric_text_in_an_object_array_is_refused_not_parsed(call):
    """An object array of text (a column read as text) was cast to float64 by NumPy, "1.5" -> 1.5:
    the numbers of text, silently; now a one-line error naming the dtype."""
    A = np.arange(S * S, dtype=float).reshape(S, S) % 7
    D = A + A.T
    np.fill_diagonal(D, 0)
    x = D.astype(str).astype(object)
    with pytest.raises(LayoutError, match=r"of real numbers; got ndarray of dtype object\.$") as err:
        call(x)
    assert "\n" not in str(err.value)


def test_object_arrays_of_numbers_are_still_read_as_their_float64_values():
    A = np.arange(S * S, dtype=float).reshape(S, S) % 7
    D = A + A.T
    np.fill_diagonal(D, 0)
    B = np.roll(D, 1, axis=0)
    B = B + B.T
    np.fill_diagonal(B, 0)
    assert nx.compare_rdms(D.astype(object), B).item() == nx.compare_rdms(D, B).item()


# ---------------------------------------------------------------- io: spike_counts
SPIKES = [np.array([0.1, 0.2, 1.05, 1.3]), np.array([0.45, 1.2])]
ONSETS = np.array([0.0, 1.0, np.nan])


@pytest.mark.parametrize("times, onsets", [
    ([s.astype(np.float32) for s in SPIKES], ONSETS),
    (SPIKES, np.array([0, 1])),
    (SPIKES, ONSETS.astype(">f8")),
    (SPIKES, np.array([0.0, 1.0, None], dtype=object)),  # a pandas column with a missing onset
], ids=["float32_times", "int_onsets", "big_endian_onsets", "object_onsets_with_None"])
def test_spike_counts_of_other_dtypes_are_the_float64_counts(times, onsets):
    want = nx.io.spike_counts(SPIKES, ONSETS[: len(onsets)], (0, 0.5))
    np.testing.assert_array_equal(nx.io.spike_counts(times, onsets, (0, 0.5)), want)


@pytest.mark.parametrize("arg, kwargs, dtype", [
    ("spike_times[0]", {"spike_times": [SPIKES[0] + 0.5j, SPIKES[1]]}, "complex128"),
    ("starts", {"starts": ONSETS + 1j}, "complex128"),
    ("starts", {"starts": ONSETS.astype(str).astype(object)}, "object"),
    ("observed[0]", {"observed": [np.array([[0.0, 5 + 1j]]), None]}, "complex128"),
    ("invalid", {"invalid": np.array([[2, 3]], dtype="timedelta64[s]")}, "timedelta64[s]"),
    ("invalid", {"invalid": np.array([["2", "3"]])}, "<U1"),
], ids=["complex_times", "complex_onsets", "object_text_onsets", "complex_observed", "duration_invalid", "text_invalid"])
def test_spike_counts_refuse_complex_text_and_durations_in_one_line(arg, kwargs, dtype):
    """Complex times lost their imaginary part (NumPy's ComplexWarning, counts of the real part),
    text was parsed, and intervals given as durations were read as counts of their unit; now each
    is a one-line error naming the argument and its dtype."""
    call = {"spike_times": SPIKES, "starts": ONSETS, "window": (0, 0.5), **kwargs}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(LayoutError) as err:
            nx.io.spike_counts(call.pop("spike_times"), call.pop("starts"), call.pop("window"), **call)
    msg = str(err.value)
    assert msg.startswith(f"{arg}: expected ") and f"got {dtype} values" in msg and "\n" not in msg, msg


# ---------------------------------------------------------------- io: rsatoolbox RDMs
@pytest.mark.parametrize("dtype", ["uint8", "float16", ">f8", "int32"])
def test_rsatoolbox_rdms_of_other_dtypes_read_as_their_float64_values(dtype):
    rt = pytest.importorskip("rsatoolbox")
    v = np.array([[1, 2, 3, 4, 5, 6]])
    got = nx.io.from_rsatoolbox_rdms(rt.rdm.RDMs(v.astype(dtype), pattern_descriptors={"stimulus_id": list("abcd")}))
    want = nx.io.from_rsatoolbox_rdms(rt.rdm.RDMs(v.astype(float), pattern_descriptors={"stimulus_id": list("abcd")}))
    assert got.dtype == np.float64 and np.array_equal(got.values, want.values)


@pytest.mark.parametrize("values", [np.array([[1, 2, 3 + 1j, 4, 5, 6]]), np.array([["1", "2", "3", "4", "5", "6"]], dtype=object)],
                         ids=["complex", "object_text"])
def test_rsatoolbox_rdms_of_complex_or_text_dissimilarities_are_a_one_line_error(values):
    """rsatoolbox's get_matrices cast complex dissimilarities to float, dropping their imaginary part
    with NumPy's ComplexWarning, and parsed text: from_rsatoolbox_rdms returned those numbers."""
    rt = pytest.importorskip("rsatoolbox")
    rdms = rt.rdm.RDMs(values, pattern_descriptors={"stimulus_id": list("abcd")})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(LayoutError, match=rf"^rdms: expected dissimilarities of real numbers; got ndarray of dtype {values.dtype}\.$"):
            nx.io.from_rsatoolbox_rdms(rdms)


# ---------------------------------------------------------------- torch tensors given to the builders
@pytest.mark.parametrize("kind", ["bfloat16", "requires_grad", "float16", "int64"])
@pytest.mark.parametrize("builder", ["features", "neural"])
def test_torch_tensors_build_arrays_of_their_exact_values(builder, kind):
    """A bfloat16 tensor was a TypeError traceback (NumPy has no bfloat16) and one that requires
    grad a RuntimeError; now bfloat16 reads as float32 (exact), the others in their own dtype."""
    torch = pytest.importorskip("torch")
    base = torch.arange(12, dtype=torch.float32).reshape(4, 3) / 4
    t = {"bfloat16": base.to(torch.bfloat16), "requires_grad": base.clone().requires_grad_(True),
         "float16": base.half(), "int64": torch.arange(12).reshape(4, 3)}[kind]
    got = getattr(nx, builder)(t, [f"s{i}" for i in range(4)])
    assert got.dtype == {"bfloat16": np.float32, "requires_grad": np.float32, "float16": np.float16, "int64": np.float64}[kind]
    np.testing.assert_array_equal(np.asarray(got.values, dtype=float).reshape(4, 3), t.detach().double().numpy())


# ---------------------------------------------------------------- identity of array parameters
class _Weighted:
    """A regressor-like object holding an array: its identity is its class and its state."""

    def __init__(self, w):
        self.w = w


@pytest.mark.parametrize("size", [6, 600], ids=["inline", "hashed"])
def test_array_identity_keeps_the_dtype_and_drops_the_byte_order(size):
    """An entry is never handed back for an array whose numbers could differ (int64 and float64
    values are two keys: integer arithmetic differs), while the same float64 values in big-endian
    order, the same numbers always, are one key (they were two: a needless recompute)."""
    from neuroxr.entries import provenance
    from neuroxr.identity import identity

    v = np.arange(size, dtype=float).reshape(-1, 3)

    def key(a):
        return provenance.key(provenance.make("forward", "net.l1", "monkey", {"regressor": _Weighted(a)}, {}))

    assert identity(v.astype(">f8")) == identity(v) == identity(np.asfortranarray(v))
    assert identity(v.astype(">i4")) == identity(v.astype("int32"))
    assert key(v.astype(">f8")) == key(v)
    assert identity(v.astype(int)) != identity(v) and key(v.astype(int)) != key(v)
    assert identity(v.astype(np.float32)) != identity(v) and key(v.astype(np.float32)) != key(v)
    masked = np.ma.masked_array(v, mask=v > 3)
    assert identity(masked.astype(">f8")) == identity(masked) != identity(v)


@pytest.mark.parametrize("dtype", ["Int64", "Float64", "UInt8"])
def test_neural_reads_a_table_of_pandas_nullable_numbers_with_na_as_a_missing_trial(dtype):
    """features() read nullable columns (pd.NA as NaN); neural() refused the same table ('values
    must be numeric; found dtype object'), whose NA is a missing trial, NaN."""
    pd = pytest.importorskip("pandas")
    values = np.arange(12.0).reshape(4, 3)
    df = pd.DataFrame(values).astype(dtype)
    df.iloc[1, 1] = pd.NA
    got = nx.neural(df)
    want = values.copy()
    want[1, 1] = np.nan
    assert got.dtype == np.float64 and got.sizes["repeat"] == 1
    np.testing.assert_array_equal(got.values[..., 0], want)


# ---------------------------------------------------------------- shape metrics on torch networks of mixed dtypes
def _torch_pair():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    F = np.round(rng.normal(size=(12, 4)) * 8)  # exact in bfloat16, float16 and float32
    G = np.round(F @ rng.normal(size=(4, 3)) + rng.normal(size=(12, 3)) * 4)
    return torch, F, G


@pytest.mark.parametrize("dx, dy", [("float32", "float64"), ("float64", "float32"), ("bfloat16", "float64"),
                                    ("float16", "float32")])
def test_shape_metrics_of_torch_networks_of_two_dtypes_give_the_float64_numbers(dx, dy):
    """torch's matmul does not promote: a float32 network with a float64 one was a RuntimeError
    ('expected m1 and m2 to have the same dtype'), a bfloat16 one a TypeError; now the networks are
    read in their promoted dtype (bfloat16 and float16 as float64, as half was)."""
    torch, F, G = _torch_pair()
    X, Y = torch.tensor(F).to(getattr(torch, dx)), torch.tensor(G).to(getattr(torch, dy))
    tol = 1e-5 if "float32" in (dx, dy) and "float64" not in (dx, dy) else 1e-9
    want = nx.LinearMetric().fit(F, G).distance(F, G)
    assert abs(float(nx.LinearMetric().fit(X, Y).distance(X, Y)) - want) < tol
    got = nx.pairwise_distances([X, Y]).values
    assert abs(float(got[0, 1]) - nx.pairwise_distances([F, G]).values[0, 1]) < tol


def test_a_torch_linear_metric_scores_networks_of_another_dtype_in_its_fit_dtype():
    """Fitted on float32 networks and scored on float64 ones: the float64 rows met the float32 maps in
    a matmul, a RuntimeError; now they are scored in the fit's dtype."""
    torch, F, G = _torch_pair()
    metric = nx.LinearMetric().fit(torch.tensor(F).float(), torch.tensor(G).float())
    want = metric.distance(torch.tensor(F).float(), torch.tensor(G).float())
    assert abs(float(metric.distance(torch.tensor(F), torch.tensor(G))) - float(want)) < 1e-12


@pytest.mark.parametrize("kind", ["bfloat16", "requires_grad"])
def test_relative_features_take_torch_anchors_of_any_kind(kind):
    """Anchors as a bfloat16 tensor were a TypeError traceback, as a tensor requiring grad a
    RuntimeError; now their values (bfloat16 as float32, exact) give the float64 anchors' numbers."""
    torch, F, _ = _torch_pair()
    feats = nx.features(F, [f"s{i}" for i in range(F.shape[0])])
    t = torch.tensor(F[:3])
    anchors = t.to(torch.bfloat16) if kind == "bfloat16" else t.requires_grad_(True)
    want = nx.geometry.relative_features(feats, F[:3])
    np.testing.assert_allclose(nx.geometry.relative_features(feats, anchors).values, want.values, rtol=1e-12)


def test_a_numpy_linear_metric_still_scores_torch_networks():
    """The fit's dtype casts only networks of the fit's library: a NumPy fit scores torch float64 and
    float32 networks as before (torch's subtraction of the NumPy means promotes them)."""
    torch, F, G = _torch_pair()
    metric = nx.LinearMetric().fit(F, G)
    want = metric.distance(F, G)
    assert abs(float(metric.distance(torch.tensor(F), torch.tensor(G))) - want) < 1e-12
    assert abs(float(metric.distance(torch.tensor(F).float(), torch.tensor(G))) - want) < 1e-9


def test_a_torch_linear_metric_scores_numpy_networks():
    """A metric fitted on torch networks scoring NumPy ones was a TypeError traceback (NumPy's subtraction of
    the torch means); NumPy networks are read onto the fit's device, as a NumPy fit scores torch networks."""
    torch, F, G = _torch_pair()
    metric = nx.LinearMetric().fit(torch.tensor(F), torch.tensor(G))
    want = float(nx.LinearMetric().fit(F, G).distance(F, G))
    assert abs(float(metric.distance(F, G)) - want) < 1e-12
    assert abs(float(metric.transform(F, G)[0][0, 0]) - float(nx.LinearMetric().fit(F, G).transform(F, G)[0][0, 0])) < 1e-12
