"""The README's Python example runs as written (so it cannot rot)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(tmp_path, monkeypatch):
    text = README.read_text()
    match = re.search(r"## Python API in one screen\n\n```python\n(.*?)```", text, re.S)
    assert match, "README lost its 'Python API in one screen' example"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(match.group(1), str(README), "exec"), namespace)
    fwd, rev = namespace["fwd"], namespace["rev"]
    assert fwd.ev.dims == ("neuroid", "rep") and rev.ev.dims == ("unit", "rep")
    assert (tmp_path / "study.zarr").is_dir()
    assert len(namespace["result"].table) > 0


def test_readme_keeps_the_two_setup_commands():
    text = README.read_text()
    assert "pip install . && neuroxr demo" in text
    test_command = 'pip install -e ".[test]" && ruff check . && pytest -q'
    assert test_command in text
    ci = (README.parent / ".ci" / "run").read_text()
    assert test_command in ci


def test_readme_public_api_list_matches_all():
    """Every name the README's 'Public API' paragraph lists is in ``neuroxr.__all__``, and vice versa."""
    import neuroxr

    text = README.read_text()
    start, end = text.index("**Public API**"), text.index("`import neuroxr` is light")
    listed = set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)(\*?)`", text[start:end]))
    names = {name for name, star in listed if not star} - {"neuroxr"}
    prefixes = [name for name, star in listed if star]
    exported = set(neuroxr.__all__) - {"__version__"}
    assert names - exported == set(), "README lists names that neuroxr does not export"
    unlisted = {n for n in exported - names if not any(n.startswith(p) for p in prefixes)}
    assert unlisted == set(), "neuroxr exports names the README's Public API paragraph leaves out"


def test_readme_names_what_the_demo_scores():
    """The set-up paragraph and the command list name the demo's metrics, not 'every metric'."""
    from neuroxr.cli.demo import DEMO_METRICS

    text = README.read_text()
    setup = text[text.index("## Set up") : text.index("pip install . && neuroxr demo")]
    command = next(line for line in text.splitlines() if line.lstrip().startswith("neuroxr demo"))
    command += next(line for line in text.splitlines()[text.splitlines().index(command) + 1 :] if line.strip())
    shown = {"rsa": "cRSA", "shape": "shape", "cka": "CKA", "dimensionality": "dimensionality"}
    assert set(DEMO_METRICS) == set(shown), "the demo's metrics changed: update the README and this test"
    for place in (setup, command):
        assert "every direction and metric" not in place
        assert all(shown[m] in place for m in DEMO_METRICS), place


def test_readme_extraction_example_runs(tmp_path, monkeypatch):
    """The 'Extracting features from a torch model' example, given a small network with a
    ``features`` block, a folder of images and a store (the names it leaves to the reader)."""
    torch = pytest.importorskip("torch")
    image = pytest.importorskip("PIL.Image")
    import numpy as np

    import neuroxr as nx

    text = README.read_text()
    match = re.search(r"## Extracting features from a torch model\n\n```python\n(.*?)```", text, re.S)
    assert match, "README lost its extraction example"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "images").mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        image.fromarray((rng.random((16, 16, 3)) * 255).astype("uint8")).save(tmp_path / "images" / f"im{i}.png")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.features = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3, stride=4), torch.nn.ReLU(),
                                                torch.nn.Conv2d(2, 2, 3, stride=4), torch.nn.ReLU())
            self.fc = torch.nn.Linear(2 * 14 * 14, 3)

        def forward(self, x):
            return self.fc(self.features(x).flatten(1))

    torch.manual_seed(0)
    namespace = {"net": Net(), "store": nx.open_store(tmp_path / "study.zarr")}
    exec(compile(match.group(1), str(README), "exec"), namespace)
    layer = namespace["store"].read_features("mynet", "features.3")
    assert dict(layer.sizes) == {"stimulus": 3, "unit": 2 * 14 * 14}
    assert sorted(layer.stimulus_id.values) == ["im0", "im1", "im2"]
