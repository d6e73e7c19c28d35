"""Writing a user's file whole or not at all (neuroxr._files)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from neuroxr._files import write_whole


def _interrupted(f):
    f.write("a,b\n1,")
    raise KeyboardInterrupt


def test_an_interrupted_write_leaves_the_earlier_file_and_no_other(tmp_path):
    path = tmp_path / "t.csv"
    write_whole(path, lambda f: f.write("a,b\n1,2\n3,4\n"))
    with pytest.raises(KeyboardInterrupt):
        write_whole(path, _interrupted)
    assert path.read_text() == "a,b\n1,2\n3,4\n"
    assert os.listdir(tmp_path) == ["t.csv"]


def test_a_link_is_kept_and_its_target_replaced(tmp_path):
    (tmp_path / "real.csv").write_text("old")
    os.symlink(tmp_path / "real.csv", tmp_path / "link.csv")
    write_whole(tmp_path / "link.csv", lambda f: f.write(b"new"), binary=True)
    assert os.path.islink(tmp_path / "link.csv") and (tmp_path / "real.csv").read_text() == "new"


def test_files_left_by_killed_writers_are_removed_those_of_running_ones_kept(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(gone.stdout)
    left = [tmp_path / f".t.csv.{dead}.tmp", tmp_path / f".t.csv.{dead}.0a1b2c3d.tmp"]
    running = tmp_path / f".t.csv.{os.getppid()}.tmp"
    other = tmp_path / f".u.csv.{dead}.tmp"
    for p in (*left, running, other):
        p.write_text("x")
    write_whole(tmp_path / "t.csv", lambda f: f.write("a\n"))
    assert sorted(os.listdir(tmp_path)) == sorted([running.name, other.name, "t.csv"])


_TO_STDOUT = ("import sys; from neuroxr._files import write_whole; print('before'); "
              "write_whole(sys.argv[1], lambda f: f.write('a,b\\n1,2\\n')); print('after')")


@pytest.mark.parametrize("name", ["/dev/stdout", "/dev/fd/1"])
@pytest.mark.skipif(os.name != "posix" or not os.path.exists("/dev/fd/1"), reason="POSIX descriptors")
def test_a_descriptor_is_written_through_a_pipe_and_appended_to_a_redirected_file(tmp_path, name):
    piped = subprocess.run([sys.executable, "-c", _TO_STDOUT, name], capture_output=True, text=True)
    assert piped.returncode == 0, piped.stderr  # was: FileNotFoundError on /proc/<pid>/fd/.pipe:[...].tmp
    assert piped.stdout == "before\na,b\n1,2\nafter\n"
    log = tmp_path / "log.txt"
    log.write_text("earlier\n")
    with open(log, "a") as out:  # `>> log.txt`: the earlier lines and the later prints stay
        done = subprocess.run([sys.executable, "-c", _TO_STDOUT, name], stdout=out, stderr=subprocess.PIPE, text=True)
    assert done.returncode == 0, done.stderr
    assert log.read_text() == "earlier\nbefore\na,b\n1,2\nafter\n"
    assert os.listdir(tmp_path) == ["log.txt"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("bits", [0o640, 0o664, 0o444])
def test_a_replaced_file_keeps_its_permission_bits(tmp_path, bits):
    path = tmp_path / "scores.csv"
    path.write_text("old\n")
    os.chmod(path, bits)  # e.g. a report shared with a group, or made read-only
    write_whole(path, lambda f: f.write("new\n"))
    assert path.read_text() == "new\n"
    assert oct(os.stat(path).st_mode & 0o777) == oct(bits)  # was: the new file's umask bits (0o644)
