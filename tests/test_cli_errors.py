"""The command line's error path (issue 19, classes 12 and 15): every user error of every subcommand
prints one line saying what is wrong and exits with status 2, as argparse does; never a traceback.
Each case fails before anything is trained or timed."""

import errno
import os
import subprocess
import sys

import pytest

import cfnb.cli

pytestmark = pytest.mark.backend_independent(reason="the command line's argument errors, before any model is built")

CASES = [  # (arguments, what the line must name); {file} is an existing file, {dir} a folder, {tmp} a new path
    ([], "the following arguments are required"),
    (["nope"], "invalid choice: 'nope'"),
    (["demo", "--seed", "abc"], "--seed"),
    (["demo", "--seed", "-1"], "--seed"),
    (["demo", "--data", "ml-nope"], "ml-nope"),
    (["demo", "--bogus"], "--bogus"),
    (["bench", "--kinds", "dot,gmf2"], "gmf2"),
    (["bench", "--kinds", ","], "--kinds"),
    (["bench", "--repeat", "0"], "--repeat"),
    (["bench", "--repeat", "-2"], "--repeat"),
    (["bench", "--repeat", "x"], "--repeat"),
    (["bench", "--spread", "-1"], "--spread"),
    (["bench", "--seed", "-5"], "--seed"),
    (["bench", "--data", "nope"], "nope"),
    (["bench", "--scale", "--scale-sizes", "abc"], "--scale-sizes"),
    (["bench", "--scale", "--scale-sizes", "0"], "--scale-sizes"),
    (["bench", "--scale", "--scale-sizes", "1e6,-5"], "--scale-sizes"),
    (["bench", "--scale", "--svd-sample", "-1"], "--svd-sample"),
    (["bench", "--scale", "--svd-sample", "lots"], "--svd-sample"),
    (["bench", "--json", "{file}/rows.json"], "{file}"),
    (["bench", "--json", "{tmp}/missing/rows.json"], "{tmp}/missing"),
    (["bench", "--json", "{dir}"], "{dir}"),
    (["bench", "--scale", "--plot", "{file}/plot.png"], "{file}"),
    (["bench", "--data", "ml-1m"], "ml-1m"),  # not in the (empty) data home
    (["lessons", "{file}"], "{file}"),
    (["lessons", "{file}/sub"], "{file}"),
    (["lessons", "--bogus"], "--bogus"),
]


def fill(values, tmp_path):
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "a-dir").mkdir(exist_ok=True)
    names = {"file": tmp_path / "a-file", "dir": tmp_path / "a-dir", "tmp": tmp_path}
    return [v.format(**names) for v in values]


def status(argv):
    """`cfnb.cli.main(argv)`'s exit status: returned, or argparse's SystemExit."""
    try:
        return cfnb.cli.main(argv)
    except SystemExit as e:
        return e.code


@pytest.mark.parametrize("argv, names", CASES, ids=[" ".join(a) or "(none)" for a, _ in CASES])
def test_each_bad_argument_is_one_line_and_status_2(argv, names, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CFNB_DATA_HOME", str(tmp_path / "empty-home"))
    argv, (names,) = fill(argv, tmp_path), fill([names], tmp_path)
    assert status(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("cfnb") and "error:" in lines[0] and names in lines[0], err
    assert "Traceback" not in err


def test_a_lessons_folder_that_cannot_be_written(tmp_path, monkeypatch, capsys):
    """Simulated (the tests run as root, whom file modes do not stop): making the folder is refused."""
    target = tmp_path / "read-only" / "lessons"
    real = os.mkdir

    def mkdir(path, *args, **kwargs):
        if os.fspath(path).startswith(str(tmp_path / "read-only")):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))
        return real(path, *args, **kwargs)
    monkeypatch.setattr(os, "mkdir", mkdir)
    assert status(["lessons", str(target)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "Read-only file system" in line and str(tmp_path / "read-only") in line


@pytest.mark.parametrize("argv", [["demo", "--data", "ml-nope"], ["bench", "--repeat", "0"],
                                  ["lessons", "{file}"]])
def test_the_real_command_prints_no_traceback(argv, tmp_path):
    done = subprocess.run([sys.executable, "-m", "cfnb", *fill(argv, tmp_path)], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr, done.stderr
