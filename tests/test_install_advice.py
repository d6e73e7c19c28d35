"""A missing optional package is advised by the extra that installs it, from the repository."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from neuroxr.errors import EXTRAS, LayoutError, SweepConfigError, install_advice

ROOT = Path(__file__).resolve().parents[1]


def _extras() -> dict[str, list[str]]:
    """The optional dependencies of pyproject.toml: extra -> distribution names (normalised)."""
    tomllib = pytest.importorskip("tomllib")
    table = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    return {k: [re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower().replace("_", "-") for r in v] for k, v in table.items()}


def test_every_advised_extra_exists_and_installs_its_module():
    extras = _extras()
    for module, extra in EXTRAS.items():
        assert extra in extras, (module, extra)
        dist = install_advice.__globals__["_DISTRIBUTIONS"].get(module, module).lower().replace("_", "-")
        assert any(name.startswith(dist) for name in extras[extra]), (module, extra, extras[extra])


def test_install_advice_names_the_extra_from_the_repository_or_the_distribution():
    assert install_advice("pynwb") == "pip install '.[io]' from the neuroxr repository"
    assert install_advice("PIL.Image") == "pip install '.[images]' from the neuroxr repository"
    assert install_advice("cupy.cuda") == "pip install '.[gpu]' from the neuroxr repository"
    assert install_advice("timm") == "pip install timm"
    assert install_advice("sklearn.linear_model") == "pip install scikit-learn"


def _hide(monkeypatch, *modules):
    """Make ``import module`` fail as when the package is not installed."""
    for m in modules:
        monkeypatch.setitem(sys.modules, m, None)


def test_nwb_reader_advises_the_io_extra(monkeypatch, tmp_path):
    path = tmp_path / "x.nwb"
    path.write_bytes(b"")
    _hide(monkeypatch, "pynwb")
    from neuroxr.io import from_nwb

    with pytest.raises(LayoutError, match=re.escape("pip install '.[io]' from the neuroxr repository")):
        from_nwb(path, (0.0, 0.1))


def test_hdf5_reader_advises_the_io_extra(monkeypatch, tmp_path):
    path = tmp_path / "x.h5"
    path.write_bytes(b"")
    _hide(monkeypatch, "h5py")
    from neuroxr.io.arrays import _File

    with pytest.raises(LayoutError, match=re.escape("needs h5py; pip install '.[io]' from the neuroxr repository")):
        _File(path)


def test_rsatoolbox_converter_advises_the_io_extra(monkeypatch):
    _hide(monkeypatch, "rsatoolbox")
    from neuroxr.io.rsa import _require_rsatoolbox

    with pytest.raises(LayoutError, match=re.escape("pip install '.[io]' from the neuroxr repository")):
        _require_rsatoolbox()


def test_gpu_cluster_advises_the_gpu_extra(monkeypatch):
    _hide(monkeypatch, "dask_cuda")
    from neuroxr.sweep.cluster import embedded_cluster

    with pytest.raises(SweepConfigError, match=re.escape("pip install '.[gpu]' from the neuroxr repository")):
        embedded_cluster(1, True, None)


def test_command_line_advises_the_extra_of_a_missing_module():
    from neuroxr.cli._common import _missing_package

    msg = _missing_package(ModuleNotFoundError("No module named 'pynwb'", name="pynwb"))
    assert msg == "this needs the package 'pynwb', which is not installed: pip install '.[io]' from the neuroxr repository."
    assert _missing_package(ModuleNotFoundError("x", name="gcsfs.core")).endswith("pip install gcsfs.")


def test_example_images_advise_the_images_extra(monkeypatch, tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "images_210325.zip", "w") as z:
        z.writestr("image0001.jpg", b"")
    _hide(monkeypatch, "PIL")
    from neuroxr.datasets.cowley import load_cowley_images

    with pytest.raises(ImportError, match=re.escape("pip install '.[images]' from the neuroxr repository")):
        load_cowley_images(tmp_path, "210325")
