"""The one opener of a study store given as an object or by its path/URL (``neuroxr.store.study.as_store``):
every public entry point opens a path as its mode says (a reader writes nothing), refuses a missing store,
local or remote, in the same line naming the path and how to make one, and makes none; only the example
generator makes a store."""

from __future__ import annotations

import os
import re
import uuid
import warnings

import pytest
from conftest import latent_study

import neuroxr as nx
from neuroxr.entries import compute, list_entries, lookup
from neuroxr.errors import ParameterError, StoreError
from neuroxr.plot.time import temporal_generalization_figures
from neuroxr.report.table import metric_table, score_table
from neuroxr.report.write import write_report
from neuroxr.schemas import describe_store, validate_store
from neuroxr.store import StudyStore
from neuroxr.sweep import sweep
from neuroxr.sweep.config import validate_config

ARGS = ("cka", "net.l1", "mA")
PARAMS = {"debiased": True}


def _missing(url: str, prefix: str = "") -> str:
    """The one refusal of a missing store (a local folder, or an URL with no Zarr group)."""
    why = "no Zarr group there" if "://" in url else "the folder does not exist"
    return (f"^{re.escape(prefix)}no study store at {re.escape(repr(url))} \\({why}\\); check the path; "
            r"make a new store there with StudyStore\(path, create=True\)\.$")


def _tree(root) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``root``: its size and modification time."""
    out = {}
    for d, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(d, name)
            st = os.stat(p)
            out[os.path.relpath(p, root)] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture
def store(tmp_path):
    st = latent_study(tmp_path / "s.zarr", 0, 24, 6)[0]
    compute(st, *ARGS, params=PARAMS)
    return st


#: the public functions that read a store given by its path (each its own call)
READERS = {
    "list_entries": lambda p, out: list_entries(p),
    "score_table": lambda p, out: score_table(p),
    "metric_table": lambda p, out: metric_table(p),
    "write_report": lambda p, out: write_report(p, out, reliability=False, n_boot=10),
    "describe_store": lambda p, out: describe_store(p),
    "validate_store": lambda p, out: validate_store(p),
    "temporal_generalization_figures": lambda p, out: temporal_generalization_figures(p),
    "validate_config": lambda p, out: validate_config({"directions": ["forward"]}, p),
}
#: the functions that write entries to a store given by its path
WRITERS = {
    "compute": lambda p: compute(p, *ARGS, params=PARAMS),
    "lookup": lambda p: lookup(p, *ARGS, params=PARAMS),
    "lookup then_read": lambda p: lookup(p, *ARGS, params=PARAMS, then_read=True),
    "score": lambda p: nx.score(p, *ARGS, debiased=True),
    "sweep": lambda p: sweep(p, directions=["forward"], client="serial", reps=2, progress=False),
}


@pytest.mark.parametrize("name", sorted(READERS))
def test_a_reader_given_a_path_opens_it_read_only(store, tmp_path, name):
    before = _tree(store.url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nx.NeuroxrWarning)
        READERS[name](store.url, tmp_path / "report")
    assert _tree(store.url) == before  # no lock, no inventory, no recovery: nothing written


@pytest.mark.parametrize("name", sorted(READERS))
def test_a_reader_refuses_a_missing_path_and_makes_nothing(tmp_path, name):
    path = str(tmp_path / "typo.zarr")
    with pytest.raises(StoreError, match=_missing(path)):
        READERS[name](path, tmp_path / "report")
    assert not os.path.exists(path) and not os.path.exists(tmp_path / "report")


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_a_writer_refuses_a_missing_path_and_makes_nothing(tmp_path, name):
    path = str(tmp_path / "typo.zarr")
    with pytest.raises(StoreError, match=_missing(path, "sweep: " if name == "sweep" else "")):
        WRITERS[name](path)
    assert not os.path.exists(path)


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_a_writer_refuses_an_url_of_no_store_and_makes_nothing(name):
    """``compute`` on a mistyped URL made an empty store there; every writer refuses it now."""
    import fsspec

    url = f"memory://{uuid.uuid4().hex[:8]}/study.zarr"
    with pytest.raises(StoreError, match=_missing(url, "sweep: " if name == "sweep" else "")):
        WRITERS[name](url)
    fs = fsspec.filesystem("memory")
    assert not fs.exists(url) and not fs.find(url.split("/")[2])


def test_a_writer_given_a_path_writes_to_it(store):
    assert lookup(store.url, *ARGS, params=PARAMS) == lookup(store.url, *ARGS, params=PARAMS, then_read=True)
    made = compute(store.url, "cka", "net.l1", "mA", params={"debiased": False})
    assert made.computed and made.path in set(list_entries(store)["path"])


def test_an_url_store_is_opened_as_a_path_is():
    url = f"memory://{uuid.uuid4().hex[:8]}/study.zarr"
    latent_study(url, 0, 24, 6)
    made = compute(url, *ARGS, params=PARAMS)
    assert made.computed and lookup(url, *ARGS, params=PARAMS, then_read=True) == made.path
    assert made.path in set(list_entries(url)["path"])


def test_the_generator_makes_its_store(tmp_path):
    from neuroxr.datasets.synthetic import write_example_study

    path = tmp_path / "new.zarr"
    st = write_example_study(path, n_stimuli=48, animals={"a": 8}, n_repeats=4, n_latent=6,
                             models={"m": (("l", 12, 1.0, 0),)}, true_model="m", true_layer="l")
    assert st.url == str(path) and st.mode == "a" and (path / "zarr.json").is_file()
    assert StudyStore(path, mode="r").layers("m") == ["l"] and StudyStore(path, mode="r").read_neural("a").sizes["stimulus"] == 48


def test_as_store(store):
    from neuroxr.store.study import as_store

    assert as_store(store) is store and as_store(store, "a") is store
    twin = as_store(store, cache=True)
    assert twin is not store and twin._cache and twin.url == store.url
    with pytest.raises(ParameterError, match=r"^storage_options opens a store given by its path or URL; .* drop storage_options\.$"):
        as_store(store, storage_options={"anon": True})
    opened = as_store(store.url)
    assert opened.mode == "r" and not opened._cache and as_store(store.url, "a", cache=True)._cache


def test_lookup_then_read_is_true_or_false(store):
    with pytest.raises(ParameterError, match=r"^lookup: then_read must be True or False; got 1\.$"):
        lookup(store, *ARGS, params=PARAMS, then_read=1)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A home folder for ``~`` and a working folder apart from it (the current one)."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir(), work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    return home


def test_a_path_under_the_home_folder_is_the_home_folders(home):
    """``open_store("~/s.zarr")`` made a folder named ``~`` in the current folder (and readers, a sweep's tasks
    and ``validate`` looked there): ``~`` is the home folder, as in a shell and in fsspec."""
    latent_study("~/s.zarr", 0, 24, 6)
    assert (home / "s.zarr" / "zarr.json").is_file() and os.listdir(".") == []
    assert StudyStore("~/s.zarr", mode="r").url == str(home / "s.zarr")
    made = compute("~/s.zarr", *ARGS, params=PARAMS)
    assert lookup(str(home / "s.zarr"), *ARGS, params=PARAMS) == made.path and validate_store("~/s.zarr") == []
    res = sweep("~/s.zarr", directions=["forward"], client="serial", reps=2, progress=False)
    assert len(res.computed) == 1 and os.listdir(".") == []
    assert set(res.table["path"]) <= set(list_entries(str(home / "s.zarr"))["path"])


# ---------------------------------------------------------------------------- what a new store is made in
def _foreign_places(root, url: bool):
    """A folder holding other files (images, a README) and a Zarr group neuroxr never wrote, under ``root``
    (a local folder, or a ``memory://`` URL when ``url``): ``{name: (location, the refusal's words)}``."""
    import fsspec
    import zarr

    from neuroxr.store._zarr import zarr_store

    fs = fsspec.filesystem("file" if not url else "memory")
    where = {"images": f"{root}/images", "readme": f"{root}/readme", "other.zarr": f"{root}/other.zarr"}
    fs.makedirs(where["images"] + "/sub", exist_ok=True), fs.makedirs(where["readme"], exist_ok=True)
    fs.pipe(f"{where['images']}/a0.png", b"png"), fs.pipe(f"{where['readme']}/README", b"notes")
    zarr.open_group(zarr_store(where["other.zarr"], False, None), mode="w").attrs["by"] = "another program"
    says = {"images": r"\(no Zarr group there\) but a folder holding other files: 'a0\.png', 'sub'",
            "readme": r"\(no Zarr group there\) but a folder holding other files: 'README'",
            "other.zarr": "is a Zarr group but no neuroxr study store"}
    return {name: (where[name], says[name]) for name in where}


def _listing(url: str) -> dict[str, bytes]:
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    return {p: fs.cat_file(p) for p in fs.find(path)}


@pytest.mark.parametrize("kind", ["local", "file://", "memory://"])
def test_a_new_store_is_never_made_in_a_folder_of_other_files(tmp_path, kind):
    """``open_store(path)`` (and every writer that makes a store: the example generator, ``extract_features``)
    made a folder of images, a folder with a README or another program's Zarr group a study store, writing beside
    the files there: refused in one line naming the path and what to do, nothing written. A new path, an empty
    folder (hidden files aside) and an existing study store are opened."""
    import torch

    from neuroxr.datasets.synthetic import write_example_study
    from neuroxr.extract import extract_features

    root = {"local": str(tmp_path), "file://": f"file://{tmp_path}", "memory://": f"memory://{uuid.uuid4().hex[:8]}"}[kind]
    makers = {
        "open_store": lambda u: nx.open_store(u),
        "StudyStore": lambda u: StudyStore(u, mode="a", create=True),
        "write_example_study": lambda u: write_example_study(u, n_stimuli=12, animals={"a": 4}, n_repeats=4, n_latent=3,
                                                             models={"m": (("l", 4, 1.0, 0),)}, true_model="m", true_layer="l"),
        "extract_features": lambda u: extract_features(torch.nn.Sequential(torch.nn.Linear(3, 2)), torch.zeros(4, 3), u,
                                                       model_name="m", progress=False),
        "extract_features dry_run": lambda u: extract_features(torch.nn.Sequential(torch.nn.Linear(3, 2)), torch.zeros(4, 3), u,
                                                               model_name="m", progress=False, dry_run=True),
    }
    for name, (url, says) in _foreign_places(root, kind == "memory://").items():
        before = _listing(url)
        for maker, make in makers.items():
            with pytest.raises(StoreError, match=rf"^[^\n]*{re.escape(repr(url))}[^\n]*{says}[^\n]*; (check the path, or )?"
                                                 r"make a new study store at a new path or in an empty folder[^\n]*\.$"):
                make(url)
            assert _listing(url) == before, (name, maker)  # nothing written beside the files
    hidden = f"{root}/hidden"
    import fsspec

    fs, _ = fsspec.core.url_to_fs(hidden)
    fs.makedirs(hidden, exist_ok=True)
    fs.pipe(f"{hidden}/.DS_Store", b"x")
    for url in (f"{root}/new.zarr", hidden):
        nx.open_store(url).write_neural("a", latent_study_neural())
        assert nx.open_store(url).neural_sets() == ["a"]  # an existing study store is opened again
        assert nx.open_store(url, mode="r").neural_sets() == ["a"]


def latent_study_neural():
    from conftest import latent_sets

    return latent_sets(0, 12, 3)[2]


def test_a_dangling_symbolic_link_is_named_as_one(tmp_path):
    """A store path that is a symbolic link to a folder that does not exist (a moved or unmounted store) said
    "cannot open the study store ... for writing: file exists (FileExistsError)": named as a link, in every mode;
    a link to a store opens it."""
    latent_study(tmp_path / "real.zarr", 0, 24, 6)
    (tmp_path / "link.zarr").symlink_to(tmp_path / "real.zarr")
    assert nx.open_store(tmp_path / "link.zarr", mode="r").neural_sets() == ["mA"]
    (tmp_path / "dangling.zarr").symlink_to(tmp_path / "moved.zarr")
    for kw in ({}, {"mode": "r"}, {"create": False}):
        with pytest.raises(StoreError, match=rf"^no study store at {re.escape(repr(str(tmp_path / 'dangling.zarr')))}: it is a "
                                             rf"symbolic link to {re.escape(repr(str(tmp_path / 'moved.zarr')))}, which does "
                                             r"not exist; check the link, or give the path of the store's folder\.$"):
            nx.open_store(tmp_path / "dangling.zarr", **kw)
    assert not (tmp_path / "moved.zarr").exists()


@pytest.mark.parametrize("url", ["", "  "])
def test_an_empty_path_is_no_store(tmp_path, monkeypatch, url):
    """``open_store("")`` (an unset variable, an empty line of a config) made the current folder a study store;
    refused in one line, nothing written."""
    monkeypatch.chdir(tmp_path)
    for kw in ({}, {"mode": "r"}):
        with pytest.raises(ParameterError, match=r"^StudyStore: url must be the path or URL of a study store; got "
                                                 rf"{re.escape(repr(url))}, an empty path\.$"):
            nx.open_store(url, **kw)
    assert os.listdir(tmp_path) == []


def test_a_reader_of_a_folder_of_other_files_is_not_told_to_make_a_store_there(tmp_path):
    """A reader (``mode="r"``, ``create=False``) of a folder holding other files advised "make a new store there with
    StudyStore(path, create=True)", which refuses that folder: the line names the files, and says to check the path."""
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a0.png").write_bytes(b"png")
    url = str(tmp_path / "images")
    for kw, end in (({"mode": "r"}, "check the path."),
                    ({"create": False}, "check the path, or make a new study store at a new path or in an empty folder.")):
        with pytest.raises(StoreError, match=rf"^no study store at {re.escape(repr(url))} \(no Zarr group there\) but a folder "
                                             rf"holding other files: 'a0\.png'; {re.escape(end)}$"):
            nx.open_store(url, **kw)
    assert os.listdir(url) == ["a0.png"]


def test_a_store_whose_root_document_is_gone_is_no_folder_of_other_files(tmp_path):
    """A study store whose root zarr.json was deleted holds only its top-level groups (and hidden files): a writer
    opens it and writes the root document back, its sets kept; one more file beside them is refused."""
    st = latent_study(tmp_path / "s.zarr", 0, 24, 6)[0]
    (tmp_path / "s.zarr" / "zarr.json").unlink()
    with pytest.raises(StoreError, match="no Zarr group there"):
        nx.open_store(st.url, mode="r")
    assert nx.open_store(st.url).neural_sets() == ["mA"] and (tmp_path / "s.zarr" / "zarr.json").is_file()
    (tmp_path / "s.zarr" / "zarr.json").unlink()
    (tmp_path / "s.zarr" / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match=r"a folder holding other files: 'notes\.txt'; "):
        nx.open_store(st.url)
    assert not (tmp_path / "s.zarr" / "zarr.json").exists()
