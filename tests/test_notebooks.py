"""Every notebook in ``notebooks/`` runs top to bottom without error.

The notebooks are executed with nbclient in a kernel that runs *this* interpreter
(``sys.executable``): a kernelspec is written to a temporary folder with ipykernel's
``write_kernel_spec`` and found through a ``KernelSpecManager`` that looks only there, so the
notebooks import the neuroxr under test whatever other ``python3`` kernels are installed. Each
notebook runs in its own folder (``notebooks/``) as the working directory; the notebooks write
only to temporary folders. The repository keeps the notebooks without outputs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import K92, needs_k92

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
KERNEL_NAME = "neuroxr-tests"
#: seconds per cell (the notebooks are written to run in well under a minute on 2 cores)
CELL_TIMEOUT = 300


@pytest.fixture(scope="session")
def kernel_dirs(tmp_path_factory) -> list[str]:
    """A folder holding one kernelspec that starts this interpreter."""
    from ipykernel.kernelspec import write_kernel_spec

    root = tmp_path_factory.mktemp("kernels")
    write_kernel_spec(path=root / KERNEL_NAME, overrides={"display_name": f"neuroxr tests ({sys.executable})"})
    return [str(root)]


def test_kernelspec_runs_this_interpreter(kernel_dirs):
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager(kernel_dirs=kernel_dirs, ensure_native_kernel=False).get_kernel_spec(KERNEL_NAME)
    assert spec.argv[0] == sys.executable


def _outputs(nb) -> list:
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    assert not _outputs(nb), f"{path.name}: strip the outputs before committing (e.g. jupyter nbconvert --clear-output)."
    assert all(cell.get("execution_count") is None for cell in nb.cells if cell.cell_type == "code")


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, kernel_dirs):
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    nb = nbformat.read(path, as_version=4)
    km = KernelManager(
        kernel_name=KERNEL_NAME,
        kernel_spec_manager=KernelSpecManager(kernel_dirs=kernel_dirs, ensure_native_kernel=False),
    )
    client = nbclient.NotebookClient(
        nb, km=km, timeout=CELL_TIMEOUT, kernel_name=KERNEL_NAME, resources={"metadata": {"path": str(NOTEBOOK_DIR)}}
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as exc:  # show which cell failed and why
        pytest.fail(f"{path.name} failed:\n{exc}", pytrace=False)
    errors = [o for o in _outputs(nb) if o.get("output_type") == "error"]
    assert not errors
    assert any(o.get("output_type") in ("stream", "display_data", "execute_result") for o in _outputs(nb)), (
        f"{path.name} produced no output at all"
    )


def _markdown(name: str) -> str:
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    return "\n".join(cell.source for cell in nb.cells if cell.cell_type == "markdown")


def test_notebook_01_says_an_entry_is_reused_only_with_the_same_parameters(tmp_path):
    """01's prose: a later call with the same names *and parameters* reads the entry back; other
    parameters compute a new entry beside it (names alone do not decide)."""
    import numpy as np

    import neuroxr as nx

    rng = np.random.default_rng(0)
    ids = [f"s{i:02d}" for i in range(40)]
    store = nx.open_store(tmp_path / "study.zarr")
    store.write_features("net", "l1", nx.features(rng.normal(size=(40, 6)), ids))
    store.write_neural("monkey", nx.neural(rng.normal(size=(40, 3, 4)), ids))
    first = nx.compute(store, "forward", "net.l1", "monkey", params={"reps": 2})
    again = nx.compute(store, "forward", "net.l1", "monkey", params={"reps": 2})
    other = nx.compute(store, "forward", "net.l1", "monkey", params={"reps": 3})
    assert first.computed and not again.computed and again.path == first.path
    assert other.computed and other.path != first.path
    text = " ".join(_markdown("01_quickstart.ipynb").split())
    assert "a later call with the same names and parameters" in text


def test_notebook_06_describes_the_passes_its_plan_makes(tmp_path):
    """06's prose on the 1 MiB plan: both conv layers share the small-batch pass, the rest the full-batch one."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("PIL")
    import numpy as np
    from PIL import Image

    from neuroxr.extract import plan_extraction
    from neuroxr.store import StudyStore

    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(40):
        Image.fromarray(rng.integers(0, 255, size=(32, 32, 3), dtype=np.uint8)).save(images / f"g{i:02d}.png")
    nn = torch.nn
    torch.manual_seed(0)
    net = nn.Sequential(  # the notebook's network
        nn.Conv2d(3, 8, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 8 * 8, 32), nn.ReLU(),
    )
    with pytest.warns(Warning):
        plan = plan_extraction(net, images, StudyStore(tmp_path / "s.zarr"), model_name="tinycnn", image_size=32,
                               memory_limit="1MiB", batch_size=16)
    assert sorted(plan.groups, key=len) == [["0", "3"], ["2", "5", "6", "7", "8"]]
    batch = {layer.name: layer.batch_size for layer in plan.layers}
    assert batch["0"] == batch["3"] == 7 and {batch[k] for k in ("2", "5", "6", "7", "8")} == {16}
    text = " ".join(_markdown("06_extract_features.ipynb").split())
    assert "the two conv layers" in text and "a pass of its own" not in text


def _run_cells(monkeypatch, notebook: Path, data: Path, scope: dict | None = None) -> list[str]:
    """Each code cell's printed text, run in this process with ``$NEUROXR_SHARED_DATA`` at ``data``
    (``scope``: the namespace the cells run in, holding their variables afterwards)."""
    import contextlib
    import io

    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.setenv("NEUROXR_SHARED_DATA", str(data))
    monkeypatch.chdir(notebook.parent)
    nb = nbformat.read(notebook, as_version=4)
    scope = {} if scope is None else scope
    scope["__name__"] = "__notebook__"
    printed = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(cell.source, str(notebook), "exec"), scope)
        printed.append(out.getvalue())
    return printed


def test_notebook_05_each_section_says_it_skips_and_where_its_data_are_expected(tmp_path, monkeypatch):
    """05 without its real data: every section says in one line that it skips, and where the data are
    expected (a skipped section printed nothing, so a reader could not tell a skip from a section
    with no output)."""
    pytest.importorskip("matplotlib")
    datasets = {"cowley2023_v4": "V4", "kriegeskorte2008_92images": "92-image"}
    printed = _run_cells(monkeypatch, NOTEBOOK_DIR / "05_real_data.ipynb", tmp_path)  # a folder without the datasets
    assert "V4 data: None" in printed[0] and "92-image data: None" in printed[0]
    sections = printed[1:]
    assert len(sections) == 4
    for text, folder in zip(sections, ["cowley2023_v4"] * 3 + ["kriegeskorte2008_92images"]):
        lines = text.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("skipped"), f"a section printed {text!r}; a skip says so in one line"
        assert f"{datasets[folder]} data" in lines[0] and str(tmp_path / folder) in lines[0], lines[0]


@pytest.mark.slow
@needs_k92
def test_notebook_05_error_bars_are_the_standard_errors_over_subjects(tmp_path, monkeypatch):
    """05's bars over the subjects' Kendall tau-a are standard errors: the sample standard deviation
    (ddof=1) over sqrt(n), as scipy.stats.sem; xarray's std (ddof=0) made each bar sqrt(3/4) of it
    with the 4 subjects."""
    from scipy import stats

    data = tmp_path / "data"
    data.mkdir()
    (data / "kriegeskorte2008_92images").symlink_to(K92)  # the V4 sections skip
    scope: dict = {}
    _run_cells(monkeypatch, NOTEBOOK_DIR / "05_real_data.ipynb", data, scope)
    sim, sem = scope["sim"], scope["sem"]
    assert sim.sizes["rdm_b"] == 4
    np.testing.assert_allclose(sem.transpose("rdm_a").values, stats.sem(sim.transpose("rdm_a", "rdm_b").values, axis=1))


def test_notebook_07_summarises_each_neuroid_by_its_mean_over_reps(tmp_path, monkeypatch):
    """07's median EV per region from the tidy table is neuroxr's: the median over neuroids of each
    neuroid's mean over reps, never the median of its (neuroid, rep) rows."""
    pytest.importorskip("matplotlib")
    scope: dict = {}
    shown = _last_value_of(monkeypatch, NOTEBOOK_DIR / "07_bring_your_own_data.ipynb", "tidy_scores", scope)
    scores = scope["scores"]
    expected = scores["ev"].mean("rep").where(scores["included"]).groupby("region").median().to_series()
    pd.testing.assert_series_equal(shown.sort_index(), expected.sort_index(), check_names=False)


def _last_value_of(monkeypatch, notebook: Path, name: str, scope: dict):
    """The value of the last expression of the first code cell of ``notebook`` that uses ``name`` and ends
    with one, its cells run in this process up to it in ``scope``."""
    import ast

    monkeypatch.chdir(notebook.parent)
    nb = nbformat.read(notebook, as_version=4)
    scope["__name__"] = "__notebook__"
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tree = ast.parse(cell.source)
        last = tree.body.pop() if name in cell.source and tree.body and isinstance(tree.body[-1], ast.Expr) else None
        exec(compile(tree, str(notebook), "exec"), scope)
        if last is not None:
            return eval(compile(ast.Expression(last.value), str(notebook), "eval"), scope)
    raise AssertionError(f"{notebook.name}: no code cell ends with an expression of {name!r}")
