"""The public API: every exported name exists, every error derives from NeuroxrError, import stays light."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

import neuroxr as nx
from neuroxr import errors


def test_every_exported_name_exists():
    missing = [name for name in nx.__all__ if not hasattr(nx, name)]
    assert missing == []
    assert len(nx.__all__) == len(set(nx.__all__))


def test_every_public_exception_derives_from_neuroxr_error():
    exported = [getattr(nx, n) for n in nx.__all__ if inspect.isclass(getattr(nx, n)) and issubclass(getattr(nx, n), BaseException)]
    declared = [getattr(errors, n) for n in errors.__all__]
    for cls in exported + declared:
        if issubclass(cls, Warning):
            continue
        assert issubclass(cls, nx.NeuroxrError), cls
    assert {e.__name__ for e in exported} >= {"NeuroxrError", "LayoutError", "StoreError", "SweepError"}


def test_one_verb_per_idea():
    # near-synonyms of nx.score are gone from the top level
    for old in ("store_cka", "store_dimensionality", "cached_gram", "score_cka", "score_rsa", "score_shape", "score_dimensionality"):
        assert old not in nx.__all__ and not hasattr(nx, old)
    directions = ("forward", "reverse", "inter_animal", "model_to_model")
    inference = {f"{d}_{p}" for d in directions for p in ("bootstrap", "permutation")}  # issue 16
    metrics = ("crsa", "ersa", "cka", "shape")
    inference |= {f"{m}_{p}" for m in metrics for p in ("bootstrap", "permutation")}  # issue 16
    time = {"temporal_generalization"}  # issue 20
    assert set(nx.KINDS) == {*directions, "crsa", "ersa", "ereg", "shape", "cka", "dimensionality", "brainscore", "gram"} | inference | time


@pytest.mark.slow
def test_import_is_light():
    code = ("import sys, neuroxr, neuroxr.cli, neuroxr.entries, neuroxr.sets\n"
            "heavy = [m for m in ('torch', 'cupy') if m in sys.modules]\n"
            "assert not heavy, heavy\n"
            "assert callable(neuroxr.sweep) and callable(neuroxr.score)\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_import_neuroxr_is_lazy():
    """``import neuroxr`` imports neither torch, cupy, scikit-learn nor distributed; the public
    names resolve on first use, and ``neuroxr.sweep`` stays the function once the package loads."""
    code = ("import sys, neuroxr\n"
            "heavy = [m for m in ('torch', 'cupy', 'sklearn', 'distributed') if m in sys.modules]\n"
            "assert not heavy, heavy\n"
            "import neuroxr.geometry, neuroxr.predictivity, neuroxr.kernels, neuroxr.io, neuroxr.extract\n"
            "heavy = [m for m in ('torch', 'cupy', 'sklearn', 'distributed') if m in sys.modules]\n"
            "assert not heavy, ('compute packages import', heavy)\n"
            "assert set(neuroxr.__all__) <= set(dir(neuroxr))\n"
            "import neuroxr.sweep.plan\n"
            "assert callable(neuroxr.sweep) and neuroxr.sweep.__name__ == 'sweep'\n"
            "assert neuroxr.forward.__module__ == 'neuroxr.predictivity.forward'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_module_imports_first():
    """Each module of the package imports in an interpreter that has imported nothing of it before
    (an import cycle fails only for the module imported first), as the statement ``import a.b.c as m``
    does it: it reads each name as an attribute of its parent, which a public function of that name may
    be (``m`` is then that function, as in Python), but never one that lacks the next name."""
    code = ("import importlib, pkgutil, sys, neuroxr\n"
            "names = sorted(m.name for m in pkgutil.walk_packages(neuroxr.__path__, 'neuroxr.') if not m.name.endswith('__main__'))\n"
            "bad = []\n"
            "for name in names:\n"
            "    for k in [k for k in sys.modules if k.split('.')[0] == 'neuroxr']:\n"
            "        del sys.modules[k]\n"
            "    try:\n"
            "        exec(f'import {name} as m', {})\n"
            "    except ModuleNotFoundError as exc:\n"
            "        if exc.name.split('.')[0] not in ('cupy', 'torch'):\n"  # an optional backend's module
            "            bad.append(f'{name}: {exc}')\n"
            "    except Exception as exc:\n"
            "        bad.append(f'{name}: {type(exc).__name__}: {exc}')\n"
            "assert len(names) > 100 and not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_sweep_submodules_import_as_names():
    """``import neuroxr.sweep.plan as p`` gives the module though ``neuroxr.sweep`` is the function, also
    for a module a public function shadows (``neuroxr.sweep.gather``), in either order."""
    code = ("import sys\n"
            "import neuroxr.sweep.plan as p\n"
            "import neuroxr.sweep.gather as g\n"
            "import neuroxr\n"
            "assert p is sys.modules['neuroxr.sweep.plan'] and g is sys.modules['neuroxr.sweep.gather']\n"
            "assert callable(neuroxr.sweep) and neuroxr.sweep.__name__ == 'sweep'\n"
            "from neuroxr.sweep import gather, plan_sweep\n"
            "assert gather is g.gather and plan_sweep is p.plan_sweep\n"
            "import neuroxr.sweep.select as s\n"  # loaded after the function is public
            "assert s is sys.modules['neuroxr.sweep.select']\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_no_shims_left():
    """The directions live in neuroxr.predictivity; geometry holds no store loops."""
    from pathlib import Path

    import neuroxr.geometry as geometry

    package = Path(nx.__file__).parent
    assert not (package / "directions.py").exists() and not (package / "geometry" / "_store_compat.py").exists()
    for old in ("cached_gram", "store_cka", "store_dimensionality"):
        assert not hasattr(geometry, old)
    from neuroxr.predictivity import brainscore, brainscore_ceiling, brainscore_splits

    assert callable(brainscore) and callable(brainscore_ceiling) and callable(brainscore_splits)


def test_the_library_never_imports_its_command_line():
    """No module outside ``neuroxr.cli`` imports it (``python -m neuroxr``, its entry point, aside): what both
    need lives in the library, and the command line hands the library what is its own (a worker's warning line)."""
    import ast
    from pathlib import Path

    package = Path(nx.__file__).parent
    found = []
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package.parent)
        parts = rel.with_suffix("").parts
        if parts[1] == "cli" or rel.name == "__main__.py":
            continue
        here = parts[:-1]  # the package of a relative import's first dot
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = list(here[: len(here) - node.level + 1]) if node.level else []
                names = [".".join([*base, *(node.module or "").split(".")]).strip(".")]
                names += [f"{names[0]}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            found += [f"{rel}:{node.lineno}" for n in names if n == "neuroxr.cli" or n.startswith("neuroxr.cli.")]
    assert found == []


# ---------------------------------------------------------------- warnings point at the user's line
def _warned_here(call) -> list[str]:
    """The files each NeuroxrWarning of ``call()`` is attributed to."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    files = [w.filename for w in caught if issubclass(w.category, nx.NeuroxrWarning)]
    assert files, "the call issued no NeuroxrWarning"
    return files


@pytest.mark.parametrize("case", ["cka", "store_cka", "store_dimensionality", "store_crsa", "compare_many",
                                  "forward", "store_forward"])
def test_warnings_point_at_the_callers_line(case, tmp_path):
    """Every data warning names the user's line, whichever path (a direct call or the store's entry
    engine) raises it: hand-counted stacklevels pointed inside neuroxr on the store's paths."""
    import numpy as np
    from conftest import latent_sets

    f1, _, neu = latent_sets()
    flat = nx.features(np.full((36, 4), 0.7), f1.stimulus_id.values, model="c", layer="k")  # constant units
    vals = neu.values.copy()
    vals[:, 0, :] = 1.0  # a constant neuroid
    neu_const = neu.copy(data=vals)
    rdm = nx.rdm(neu)
    holed = rdm.copy(data=np.where(np.eye(36, k=1, dtype=bool) | np.eye(36, k=-1, dtype=bool), np.nan, rdm.values))
    st = nx.open_store(tmp_path / "s.zarr")
    st.write_neural("mA", neu)
    st.write_neural("mC", neu_const)
    st.write_features("net", "l1", f1)
    st.write_features("c", "k", flat)
    calls = {
        "cka": lambda: nx.cka(flat, f1),
        "store_cka": lambda: nx.score(st, "cka", "c.k", "mA"),
        "store_dimensionality": lambda: nx.score(st, "dimensionality", "c.k"),
        "store_crsa": lambda: nx.score(st, "crsa", "c.k", "mA"),
        "compare_many": lambda: nx.compare_rdms_many([nx.rdm(f1)], [holed]),
        "forward": lambda: nx.forward(f1, neu_const, reps=2),
        "store_forward": lambda: nx.score(st, "forward", "net.l1", "mC", reps=2),
    }
    assert set(_warned_here(calls[case])) == {__file__}
