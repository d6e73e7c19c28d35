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
    assert set(nx.KINDS) == {"forward", "reverse", "inter_animal", "model_to_model", "crsa", "ersa", "ereg", "shape",
                             "cka", "dimensionality", "gram"}


@pytest.mark.slow
def test_import_is_light():
    code = ("import sys, neuroxr, neuroxr.cli, neuroxr.entries, neuroxr.sets\n"
            "heavy = [m for m in ('torch', 'cupy') if m in sys.modules]\n"
            "assert not heavy, heavy\n"
            "assert callable(neuroxr.sweep) and callable(neuroxr.score)\n")
    subprocess.run([sys.executable, "-c", code], check=True)
