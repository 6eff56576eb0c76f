"""The data home (issue 19, class 4): `CFNB_DATA_HOME`, or the default `~/.cache/cfnb`, that is
missing, a file, read-only or full gives a DownloadError naming the path and the variable; a
read-only home that already holds the set is read without a single write.

Read-only and full are simulated: the tests run as root, whom file modes do not stop, and a
read-only mount or a full disk needs privileges CI does not have. `forbid_writes` makes every call
that would write under a folder (mkdir, open for writing, rename, remove, utime) raise the OSError
the kernel would (EROFS, ENOSPC), and records each attempt.
"""

import builtins
import errno
import hashlib
import io
import os
import sys
import zipfile
from pathlib import Path

import pytest

import cfnb

pytestmark = pytest.mark.backend_independent(reason="the data home and the download: no Keras")

ml = sys.modules["cfnb.data.movielens"]
NAME = "ml-latest-small"
SHARED = Path(os.environ["CFNB_DATA_HOME"])
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


@pytest.fixture
def forbid_writes(monkeypatch):
    """`forbid_writes(root, code)`: writes under `root` raise OSError(code); returns the list of attempts."""

    def forbid(root, code=errno.EROFS):
        root, attempts = os.path.realpath(root), []

        def check(what, path):
            if isinstance(path, int):
                return
            if os.path.realpath(os.fspath(path)).startswith(root):
                attempts.append((what, os.fspath(path)))
                raise OSError(code, os.strerror(code), os.fspath(path))

        def wrap(module, name, is_write=lambda *a, **k: True):
            real = getattr(module, name)

            def guarded(path, *args, **kwargs):
                if is_write(path, *args, **kwargs):
                    check(name, path)
                return real(path, *args, **kwargs)
            monkeypatch.setattr(module, name, guarded)

        for name in ("mkdir", "rmdir", "unlink", "remove", "rename", "replace", "utime"):
            wrap(os, name)
        wrap(os, "open", lambda path, flags, *a, **k: bool(flags & WRITE_FLAGS))
        writes = lambda path, mode="r", *a, **k: any(c in mode for c in "wax+")
        wrap(builtins, "open", writes)
        wrap(io, "open", writes)
        return attempts
    return forbid


def test_a_read_only_home_that_holds_the_set_is_read_without_writing(forbid_writes, monkeypatch):
    monkeypatch.setenv("CFNB_DATA_HOME", str(SHARED))
    attempts = forbid_writes(SHARED)
    ratings = cfnb.movielens(NAME)  # download=True: present, so nothing to fetch, and nothing written
    assert len(ratings) == 100_836 and attempts == []


@pytest.mark.parametrize("download", [True, False])
def test_a_home_that_is_a_file_says_so(tmp_path, monkeypatch, download):
    home = tmp_path / "home"
    home.write_text("not a folder")
    monkeypatch.setenv("CFNB_DATA_HOME", str(home))
    with pytest.raises(cfnb.DownloadError) as info:
        cfnb.movielens(NAME, download=download, url="http://127.0.0.1:9/never.zip")
    assert f"{home} (CFNB_DATA_HOME) is a file, not a folder" in str(info.value)
    assert home.read_text() == "not a folder"


def test_a_missing_home_without_download_says_it_is_missing(tmp_path, monkeypatch):
    home = tmp_path / "nowhere"
    monkeypatch.setenv("CFNB_DATA_HOME", str(home))
    with pytest.raises(cfnb.DownloadError, match=f"{home} \\(CFNB_DATA_HOME\\) does not exist"):
        cfnb.movielens(NAME, download=False)


@pytest.mark.parametrize("variable", [True, False])
def test_a_read_only_home_without_the_set_names_the_path_and_the_variable(tmp_path, monkeypatch, forbid_writes,
                                                                         variable):
    """With CFNB_DATA_HOME, or the default (`$XDG_CACHE_HOME/cfnb`): the message says which."""
    if variable:
        home = tmp_path / "home"
        monkeypatch.setenv("CFNB_DATA_HOME", str(home))
    else:
        monkeypatch.delenv("CFNB_DATA_HOME")
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        home = tmp_path / "cache" / "cfnb"
    home.mkdir(parents=True)
    forbid_writes(tmp_path)
    with pytest.raises(cfnb.DownloadError) as info:
        cfnb.movielens(NAME, url="http://127.0.0.1:9/never.zip")
    text = str(info.value)
    assert f"data home {home}" in text and "cannot be written" in text and "Read-only file system" in text
    assert ("(CFNB_DATA_HOME)" if variable else "(the default: CFNB_DATA_HOME is not set)") in text
    assert "set CFNB_DATA_HOME to" in text


def small_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(f"{NAME}/ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n")
        z.writestr(f"{NAME}/movies.csv", "movieId,title,genres\n1,Toy Story (1995),Animation\n")
    return buf.getvalue()


@pytest.mark.parametrize("where", ["download", "unpack"])
def test_a_full_disk_names_the_path_and_the_variable_and_leaves_nothing(tmp_path, monkeypatch, where):
    """The zip's download (pooch writing it) or its unpacking runs out of space."""
    import pooch

    home = tmp_path / "home"
    monkeypatch.setenv("CFNB_DATA_HOME", str(home))
    data = small_zip()

    def retrieve(url, known_hash, fname, path, downloader):
        if where == "download":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(Path(path) / fname))
        (Path(path) / fname).write_bytes(data)
        return str(Path(path) / fname)

    def extractall(self, path=None, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(Path(path) / NAME / "ratings.csv"))

    monkeypatch.setattr(pooch, "retrieve", retrieve)
    monkeypatch.setattr(zipfile.ZipFile, "extractall", extractall)
    with pytest.raises(cfnb.DownloadError) as info:
        cfnb.movielens(NAME, url="http://mirror/x.zip", checksum="md5:" + hashlib.md5(data).hexdigest())
    text = str(info.value)
    assert f"data home {home} (CFNB_DATA_HOME) cannot be written" in text and "No space left on device" in text
    assert "free some space" in text
    assert list(home.iterdir()) == []
