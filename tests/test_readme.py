"""The README's Python example runs as written (so it cannot rot)."""

from __future__ import annotations

import re
from pathlib import Path

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
