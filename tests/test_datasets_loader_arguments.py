"""The real-data loaders refuse arguments they cannot use in one line naming the argument: a data
folder that is no path (``Path()``'s bare TypeError), a session that is no id (``str(None)`` looked
for ``responses_raw_None.npy``), ``images="no"`` (read as true), and a file given as the folder."""

from __future__ import annotations

import pytest

from neuroxr.datasets import cowley_sessions, load_cowley_images, load_cowley_v4, load_kriegeskorte_92
from neuroxr.errors import DataNotFoundError, ParameterError


@pytest.mark.parametrize("root", [None, 3, ["/data"]])
@pytest.mark.parametrize("load", [load_cowley_v4, load_cowley_images, cowley_sessions, load_kriegeskorte_92])
def test_a_data_folder_that_is_no_path_is_a_one_line_error(load, root):
    with pytest.raises(ParameterError, match=rf"^{load.__name__}: root must be the data folder \(a str or path\); got "):
        load(root)


@pytest.mark.parametrize("session", [None, ["210325"], True, ""])
@pytest.mark.parametrize("load", [load_cowley_v4, load_cowley_images])
def test_a_session_that_is_no_id_is_a_one_line_error(tmp_path, load, session):
    with pytest.raises(ParameterError, match=rf"^{load.__name__}: session must be a session id such as '210325'; got "):
        load(tmp_path, session)


def test_a_session_given_as_an_int_names_the_same_files(tmp_path):
    with pytest.raises(DataNotFoundError, match="responses_raw_210325.npy not found"):
        load_cowley_v4(tmp_path, 210325)


def test_kriegeskorte_images_must_be_a_bool(tmp_path):
    with pytest.raises(ParameterError, match=r"^load_kriegeskorte_92: images must be True or False; got 'no'"):
        load_kriegeskorte_92(tmp_path, images="no")


def test_kriegeskorte_says_a_file_given_as_the_folder_is_a_file(tmp_path):
    """It listed the four .mat files as not found 'in' the file's path."""
    f = tmp_path / "92_brainRDMs.mat"
    f.write_bytes(b"")
    with pytest.raises(DataNotFoundError, match=r"^load_kriegeskorte_92: data folder .*92_brainRDMs\.mat' is a file, not a "
                                                r"folder"):
        load_kriegeskorte_92(f)
