"""Docstrings of the public API agree with the signatures: names, stated defaults, type hints."""

from __future__ import annotations

import ast
import importlib
import inspect
import re

import pytest

import neuroxr

SUBMODULES = ("geometry", "kernels", "io", "attrs", "store", "sweep", "extract", "plot", "report", "datasets")
EMPTY = inspect.Parameter.empty
SECTION = re.compile(r"^(\w[\w ]*)\n-{3,}$", re.M)
ENTRY = re.compile(r"^(\*{0,2}\w+(?:, \*{0,2}\w+)*)(?: : (.*))?$")


def _public() -> dict[str, object]:
    """Every public function, class and class method (``neuroxr.__all__`` and the submodules')."""
    found: dict[str, object] = {}

    def add(obj: object) -> None:
        is_error = isinstance(obj, type) and issubclass(obj, BaseException)  # signature of Exception
        if (inspect.isfunction(obj) or isinstance(obj, type)) and obj.__module__.startswith("neuroxr") and not is_error:
            found.setdefault(f"{obj.__module__}.{obj.__qualname__}", obj)

    for name in neuroxr.__all__:
        add(getattr(neuroxr, name))
    for sub in SUBMODULES:
        mod = importlib.import_module(f"neuroxr.{sub}")
        names = getattr(mod, "__all__", None) or [
            n for n in dir(mod) if getattr(getattr(mod, n), "__module__", "").startswith(mod.__name__)]
        for name in names:
            if not name.startswith("_"):
                add(getattr(mod, name))
    for obj in list(found.values()):  # and neuroxr's mixins a class is built of (StudyStore's readers, writers)
        if isinstance(obj, type):
            for cls in inspect.getmro(obj)[1:]:
                add(cls)
    for qual, obj in list(found.items()):
        if isinstance(obj, type):
            for name, attr in vars(obj).items():
                func = getattr(attr, "__func__", attr)
                if not name.startswith("_") and inspect.isfunction(func):
                    found.setdefault(f"{qual}.{name}", func)
    return found


PUBLIC = _public()


def _parameters(doc: str) -> dict[str, tuple[int, int, str, str]]:
    """``name -> (position in its entry, names in its entry, type, whole entry)`` of the Parameters section."""
    heads = list(SECTION.finditer(doc))
    out: dict[str, tuple[int, int, list[str]]] = {}
    for k, head in enumerate(heads):
        if head.group(1) not in ("Parameters", "Other Parameters"):
            continue
        body = doc[head.end(): heads[k + 1].start() if k + 1 < len(heads) else len(doc)]
        entry: list[str] | None = None
        for line in body.splitlines():
            m = ENTRY.match(line)
            if m:
                names = [n.strip().lstrip("*") for n in m.group(1).split(",")]
                entry = [m.group(2) or ""]
                for i, n in enumerate(names):
                    out[n] = (i, len(names), entry)  # the entry's text list grows with its description
            elif entry is not None and line.startswith(" "):
                entry.append(line.strip())
    return {n: (i, k, text[0], " ".join(text)) for n, (i, k, text) in out.items()}


def _stated_default(type_line: str, i: int, k: int) -> object:
    """The literal after ``default`` on an entry's type line for its ``i``-th of ``k`` names, else ``EMPTY``."""
    m = re.search(r"\bdefault (.+)$", type_line)
    if not m:
        return EMPTY
    parts = re.split(r",\s*(?![^(]*\))|\s+and\s+", m.group(1)) if k > 1 else [m.group(1)]
    try:
        return ast.literal_eval(parts[i].strip().strip("`"))
    except (ValueError, SyntaxError, IndexError):  # a named constant or a phrase: not compared
        return EMPTY


def _checked(obj: object) -> list[tuple[str, inspect.Parameter, tuple[int, int, str, str] | None]]:
    doc = inspect.getdoc(obj) or ""
    params = _parameters(doc)
    sig = inspect.signature(obj)
    return [(p.name, p, params.get(p.name)) for p in sig.parameters.values()
            if p.name not in ("self", "cls") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def test_public_api_is_found():
    assert len(PUBLIC) > 150 and "neuroxr.predictivity.forward.forward" in PUBLIC


@pytest.mark.parametrize("qual", sorted(PUBLIC))
def test_documented_parameters_match_the_signature(qual):
    obj = PUBLIC[qual]
    documented = _parameters(inspect.getdoc(obj) or "")
    sig = inspect.signature(obj)
    assert set(documented) <= set(sig.parameters), f"{qual} documents parameters it does not have"
    for name, p, entry in _checked(obj):
        if entry is None:
            continue  # documented in prose or by reference ("parameters as in forward")
        stated = _stated_default(entry[2], entry[0], entry[1])
        if stated is not EMPTY:
            assert p.default is not EMPTY and stated == p.default, f"{qual}: {name} states default {stated!r}"
        if p.default is not EMPTY and "<factory>" not in repr(p.default):
            text = entry[3].lower()
            assert "default" in text or (p.default is None and "optional" in text), (
                f"{qual}: {name}={p.default!r} does not state its default")


@pytest.mark.parametrize("qual", sorted(q for q, o in PUBLIC.items() if inspect.isfunction(o)))
def test_public_functions_have_type_hints(qual):
    sig = inspect.signature(PUBLIC[qual])
    missing = [p.name for p in sig.parameters.values() if p.name not in ("self", "cls") and p.annotation is EMPTY]
    assert not missing and sig.return_annotation is not EMPTY, f"{qual}: no type hint for {missing or 'return'}"
