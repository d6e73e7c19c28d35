"""Storage options on the command line: ``--storage-option KEY=VALUE`` and ``--storage-profile NAME``."""

from __future__ import annotations

import json
import uuid

import click
import numpy as np
import pytest

from neuroxr.cli import main
from neuroxr.cli._common import load_storage_profile, parse_storage_option
from neuroxr.layouts import features, neural
from neuroxr.store import StudyStore

#: every command that opens a store, as its argv prefix (demo writes a local folder only)
STORE_COMMANDS = [["info"], ["validate"], ["report"], ["relative"], ["sweep"], ["extract"],
                  ["score", "forward"], ["score", "reverse"], ["score", "inter-animal"], ["score", "model-to-model"],
                  ["score", "rsa"], ["score", "shape"], ["score", "cka"], ["score", "dimensionality"],
                  ["score", "brainscore"], ["score", "temporal-generalization"]]


def _write_study(store: StudyStore) -> StudyStore:
    rng = np.random.default_rng(0)
    stim = [f"s{i}" for i in range(8)]
    store.write_neural("monkeyA", neural(rng.normal(size=(8, 5, 2)), stim, animal="A", region="IT"))
    store.write_features("net", "conv1", features(rng.normal(size=(8, 12)), stim), unit_chunk=5)
    return store


@pytest.mark.parametrize("text", ["anon=true", "max_concurrency=4", "endpoint_url=http://127.0.0.1:9000",
                                  'client_kwargs={"region_name": "eu-west-1"}', "token=null", "name=a=b", "flag="])
def test_parse_storage_option(text):
    key, _, raw = text.partition("=")
    try:
        want = json.loads(raw)
    except ValueError:
        want = raw
    assert parse_storage_option(text) == (key, want)


@pytest.mark.parametrize("text, want", [("version_id=1.10", "1.10"), ("profile=1e3", "1e3"), ("token=007", "007"),
                                        ("token=123456", 123456), ('token="123456"', "123456"), ("x=-0.5", -0.5)])
def test_parse_storage_option_keeps_a_numbers_spelling(text, want):
    """A value is a number only as JSON writes that number: another spelling stays the text given."""
    got = parse_storage_option(text)[1]
    assert got == want and type(got) is type(want)


@pytest.mark.parametrize("text", ["novalue", "=x", " =1"])
def test_parse_storage_option_refuses(text):
    with pytest.raises(click.BadParameter, match="KEY=VALUE"):
        parse_storage_option(text)


@pytest.mark.parametrize("argv", STORE_COMMANDS, ids=lambda a: "-".join(a))
def test_every_store_command_takes_the_options(runner, argv):
    res = runner.invoke(main, [*argv, "--help"])
    assert res.exit_code == 0, res.output
    assert "--storage-option" in res.output and "--storage-profile" in res.output


def test_info_on_s3_with_options(runner, s3_server, s3_study):
    options, _ = s3_server
    url = s3_study().url
    args = [f"--storage-option={k}={v}" for k, v in options.items()]
    res = runner.invoke(main, ["info", "--json", url, *args])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert [s["name"] for s in summary["neural"]] == ["mA"]
    # without the endpoint the store is looked up elsewhere: one error line, no traceback
    res = runner.invoke(main, ["info", url, "-S", "endpoint_url=http://127.0.0.1:9", "-S", "key=x", "-S", "secret=x",
                               "-S", 'config_kwargs={"retries": {"max_attempts": 1}}', "-S", "retries=1"])
    assert res.exit_code == 1 and "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:  # a port nothing listens on once the socket is closed
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("argv", [["info"], ["validate"], ["score", "cka", "STORE", "net.conv1", "monkeyA"]])
def test_an_unreachable_object_store_is_a_user_error(runner, argv):
    """No connection to the endpoint: one line naming the store and the endpoint and what to check,
    exit status 1, no "internal error"; the store layer raises StoreError at open."""
    from neuroxr.errors import StoreError

    endpoint = f"http://127.0.0.1:{_closed_port()}"
    url = "s3://nobucket/study.zarr"
    options = {"endpoint_url": endpoint, "anon": True, "retries": 1, "config_kwargs": {"retries": {"max_attempts": 1}}}
    with pytest.raises(StoreError, match="cannot reach the object store"):
        StudyStore(url, mode="r", storage_options=options)
    args = [url if a == "STORE" else a for a in argv] + ([] if "STORE" in argv else [url])
    args += [f"--storage-option={k}={json.dumps(v)}" for k, v in options.items()]
    res = runner.invoke(main, args)
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert res.stderr.count("\n") == 1 and "internal error" not in res.stderr, res.stderr
    assert url in res.stderr and endpoint in res.stderr and "check the endpoint URL" in res.stderr


def test_profile_then_options_override(runner, s3_server, s3_study, tmp_path, monkeypatch):
    options, _ = s3_server
    url = s3_study().url
    conf = tmp_path / "storage.toml"
    conf.write_text('[moto]\nendpoint_url = "http://127.0.0.1:9"\nkey = "testing"\nsecret = "testing"\n')
    monkeypatch.setenv("NEUROXR_STORAGE_CONFIG", str(conf))
    assert load_storage_profile("moto") == {"endpoint_url": "http://127.0.0.1:9", "key": "testing", "secret": "testing"}
    res = runner.invoke(main, ["validate", url, "--storage-profile", "moto", "-S", f"endpoint_url={options['endpoint_url']}"])
    assert res.exit_code == 0, res.output
    assert "valid study store" in res.output


def test_profile_errors_name_the_fix(runner, tmp_path, monkeypatch):
    conf = tmp_path / "storage.toml"
    conf.write_text('[other]\nanon = true\n')
    monkeypatch.setenv("NEUROXR_STORAGE_CONFIG", str(conf))
    res = runner.invoke(main, ["info", str(tmp_path / "x.zarr"), "--storage-profile", "missing"])
    assert res.exit_code != 0 and "no profile 'missing'" in res.output and "['other']" in res.output
    monkeypatch.setenv("NEUROXR_STORAGE_CONFIG", str(tmp_path / "none.toml"))
    res = runner.invoke(main, ["info", str(tmp_path / "x.zarr"), "--storage-profile", "missing"])
    assert res.exit_code != 0 and "no storage profile file" in res.output
    monkeypatch.setenv("NEUROXR_STORAGE_CONFIG", str(tmp_path))  # a folder: named, with the fix, at the option
    res = runner.invoke(main, ["info", "memory://x.zarr", "--storage-profile", "lab"])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1, res.output
    assert (f"Invalid value for '--storage-profile': cannot read the storage profile file {str(tmp_path)!r} (Is a directory); "
            "point NEUROXR_STORAGE_CONFIG at a TOML file with a [lab] table.") in res.stderr


def test_json_profile_file(tmp_path, monkeypatch):
    conf = tmp_path / "storage.json"
    conf.write_text(json.dumps({"lab": {"anon": True, "client_kwargs": {"region_name": "x"}}}))
    monkeypatch.setenv("NEUROXR_STORAGE_CONFIG", str(conf))
    assert load_storage_profile("lab") == {"anon": True, "client_kwargs": {"region_name": "x"}}


def test_validate_rebuilds_the_inventory(runner, tmp_path):
    import shutil

    st = _write_study(StudyStore(tmp_path / "study.zarr"))
    shutil.rmtree(tmp_path / "study.zarr" / ".neuroxr" / "inventory")  # as a store written by an older version
    res = runner.invoke(main, ["validate", "--json", st.url])
    assert res.exit_code == 0 and json.loads(res.stdout)["inventory"]  # a note, not a schema problem
    res = runner.invoke(main, ["validate", "--rebuild-inventory", st.url])
    assert res.exit_code == 0 and "inventory rebuilt (2 groups of data)" in res.output
    assert StudyStore(st.url, mode="r").inventory_problems() == []
    assert StudyStore(st.url, mode="r").inventory() == {"neural": ["monkeyA"], "features": {"net": ["conv1"]}}


@pytest.mark.parametrize("argv", [["info", "STORE", "-S", "bogus=5"], ["score", "cka", "STORE", "net.conv1", "monkeyA", "-S", "anon=true"],
                                  ["info", "STORE", "--storage-profile", "lab"], ["sweep", "STORE", "-S", "bogus=5"]])
def test_options_for_a_local_store_are_refused(runner, tmp_path, monkeypatch, argv):
    conf = tmp_path / "storage.toml"
    conf.write_text("[lab]\nfoo = 1\n")
    monkeypatch.setenv("NEUROXR_STORAGE_CONFIG", str(conf))
    path = tmp_path / "s.zarr"
    _write_study(StudyStore(path))
    res = runner.invoke(main, [str(path) if a == "STORE" else a for a in argv])
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    assert res.stderr.count("\n") == 1 and "local store" in res.stderr
    assert ("--storage-profile" if "--storage-profile" in argv else "--storage-option") in res.stderr
    assert not (path / "metrics").exists()  # nothing computed


def test_extract_dry_run_with_storage_options_creates_no_remote_store(runner, s3_server, tmp_path):
    """``neuroxr extract s3://... -S ... --dry-run`` plans and writes nothing (the remote store is not
    created, as a local one is not); a run that writes creates it, with the options."""
    pytest.importorskip("torch")
    from PIL import Image

    from neuroxr.errors import StoreError

    options, log = s3_server
    url = f"s3://bucket/{uuid.uuid4().hex[:8]}/new.zarr"
    (tmp_path / "m.py").write_text("from torch import nn\n\ndef build():\n    return nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten())\n")
    (tmp_path / "imgs").mkdir()
    for i in range(3):
        Image.new("RGB", (8, 8)).save(tmp_path / "imgs" / f"im{i}.png")
    args = ["extract", url, "--model", f"{tmp_path / 'm.py'}:build", "--images", str(tmp_path / "imgs"), "--model-name", "m",
            "--no-progress", "--image-size", "8", *[f"--storage-option={k}={v}" for k, v in options.items()]]
    with log.counting() as got:
        res = runner.invoke(main, [*args, "--dry-run"])
    assert res.exit_code == 0, res.output
    assert not [r for r in got if r[0] in ("PUT", "POST", "DELETE")]  # nothing written
    with pytest.raises(StoreError, match="no study store"):
        StudyStore(url, mode="r", storage_options=options)
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    assert StudyStore(url, mode="r", storage_options=options).models() == ["m"]


#: the arguments after the store of each command in :data:`STORE_COMMANDS` (any valid ones: the store fails first)
_AFTER = {"relative": ["net.conv1", "--anchors", "ANCHORS"], "extract": ["--model", "m.py:f", "--images", "IMAGES",
                                                                         "--model-name", "m", "--image-size", "8"],
          "dimensionality": ["net.conv1"], "score": ["net.conv1", "monkeyA"]}


@pytest.fixture
def missing_package_protocol():
    """An fsspec protocol ``nxmissing://`` whose file system needs a package that is not installed."""
    fsspec = pytest.importorskip("fsspec")
    fsspec.register_implementation("nxmissing", "neuroxr_no_such_package.fs.FileSystem", clobber=True,
                                   errtxt="Install neuroxr_no_such_package to access nxmissing")
    yield "nxmissing://bucket/study.zarr"
    from fsspec.registry import known_implementations

    known_implementations.pop("nxmissing", None)


@pytest.mark.parametrize("argv", STORE_COMMANDS, ids=lambda a: "-".join(a))
@pytest.mark.parametrize("url, want", [
    ("nxunknown://bucket/study.zarr", "fsspec knows no protocol 'nxunknown'; give a path or a URL such as s3://bucket/study.zarr."),
    ("MISSING", "this needs a package that is not installed (Install neuroxr_no_such_package to access nxmissing)."),
], ids=["unknown-protocol", "missing-package"])
def test_a_store_url_fsspec_cannot_open_is_one_line(runner, tmp_path, missing_package_protocol, argv, url, want):
    """A store URL of a protocol fsspec does not know, or whose file system needs a package that is
    not installed (gcsfs for gs://, adlfs for az://, ...): one line naming what to do, never an
    'internal error' to report."""
    (tmp_path / "anchors.txt").write_text("s0\n")
    if argv == ["extract"]:  # a model that builds and an image: the store is opened after them
        pytest.importorskip("torch")
        image = pytest.importorskip("PIL.Image")
        (tmp_path / "images").mkdir()
        image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "images" / "a.png")
        (tmp_path / "m.py").write_text("from torch import nn\n\ndef f():\n    return nn.Sequential(nn.Flatten(), "
                                       "nn.Linear(3 * 8 * 8, 2))\n")
    url = missing_package_protocol if url == "MISSING" else url
    after = _AFTER.get(argv[-1], _AFTER["score"] if argv[0] == "score" else [])
    if argv[-1] == "inter-animal":
        after = ["monkeyA", "monkeyA"]
    subs = {"ANCHORS": str(tmp_path / "anchors.txt"), "IMAGES": str(tmp_path / "images"), "m.py:f": f"{tmp_path / 'm.py'}:f"}
    res = runner.invoke(main, [*argv, url, *[subs.get(a, a) for a in after]])
    assert res.exit_code == 1 and res.stderr.count("\n") == 1, res.output
    assert res.stderr.strip().endswith(want) and "internal error" not in res.stderr, res.stderr
    assert res.stderr.startswith(f"Error: cannot open the store {url!r}: ") or argv == ["extract"], res.stderr


def test_demo_refuses_a_url(runner, tmp_path, monkeypatch):
    """``neuroxr demo`` writes a local folder: a URL as PATH is refused (it was written as a local
    folder ``gs:/...`` and then read as the URL)."""
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(main, ["demo", "gs://bucket/demo.zarr", "--scheduler", "serial"])
    assert res.exit_code == 2 and "'gs://bucket/demo.zarr' is a URL; the demo writes its example study to a local " \
                                  "folder" in res.stderr, res.output
    assert list(tmp_path.iterdir()) == []


def test_score_require_existing_only_reads_so_it_opens_a_newer_store(runner, tmp_path):
    """``score --require-existing`` only reads an entry, yet opened the store for writing: a store of a
    newer layout version (or one this user may only read) was refused, though reading it works."""
    from conftest import two_animal_store

    from neuroxr.store._zarr import STORE_VERSION, STORE_VERSION_ATTR

    st = two_animal_store(tmp_path / "s.zarr")
    argv = ["score", "forward", st.url, "net.l1", "mA", "--reps", "2"]
    assert runner.invoke(main, argv).exit_code == 0
    doc = json.loads((tmp_path / "s.zarr" / "zarr.json").read_text())
    doc["attributes"][STORE_VERSION_ATTR] = STORE_VERSION + 1
    (tmp_path / "s.zarr" / "zarr.json").write_text(json.dumps(doc))
    res = runner.invoke(main, [*argv, "--require-existing"])
    assert res.exit_code == 0 and "already in the store" in res.output
    res = runner.invoke(main, argv)  # a write: refused in one line
    assert res.exit_code == 1 and "upgrade neuroxr to write to it" in res.output and "Traceback" not in res.output
