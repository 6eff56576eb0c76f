"""The MovieLens download against a local HTTP server on 127.0.0.1 (a thread in this test): a good file,
a checksum mismatch, a connection cut half-way, a server error, not a zip. None leaves anything
half-written in the data home; each gives a clear DownloadError.

The test zips are built at test time from the shared ratings.csv / movies.csv; no data is committed. They
are not GroupLens's zips, so each test passes the checksum of the zip it serves (`checksum=`), and one
checks that without it the official checksum refuses them.
"""

import hashlib
import io
import os
import sys
import time
import zipfile
from pathlib import Path

import pytest

import cfnb
from loopback import md5, serving

pytestmark = pytest.mark.backend_independent(
    reason="the MovieLens download and its files: no Keras")

ml = sys.modules["cfnb.data.movielens"]  # (cfnb.movielens the attribute is the function)

NAME = "ml-latest-small"


def make_zip(shared: Path, tamper=False, drop=None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for file in ("ratings.csv", "movies.csv"):
            if file == drop:
                continue
            data = (shared / file).read_bytes()
            if tamper and file == "ratings.csv":
                data = data.replace(b"\n1,1,4.0,", b"\n1,1,5.0,", 1)
            z.writestr(f"{NAME}/{file}", data)
    return buf.getvalue()


@pytest.fixture(scope="module")
def server():
    shared = Path(os.environ["CFNB_DATA_HOME"]) / NAME
    if not (shared / "ratings.csv").is_file():
        pytest.skip("the shared MovieLens copy is not there to build the test zip from")
    good = make_zip(shared)
    routes = {"/good.zip": good, "/tampered.zip": make_zip(shared, tamper=True),
              "/no-movies.zip": make_zip(shared, drop="movies.csv"), "/html": b"<html>Not found</html>",
              "/error.zip": 500, "/cut.zip": ("cut", good)}
    assert routes["/tampered.zip"] != good
    with serving(routes) as url:
        yield Server(url, routes)


class Server(str):
    """The server's base URL, knowing the checksum of what each route serves."""

    def __new__(cls, url, routes):
        self = super().__new__(cls, url)
        self.routes = routes
        return self

    def checksum(self, route: str) -> str:
        body = self.routes.get(f"/{route}", b"")
        return md5(body[1] if isinstance(body, tuple) else body if isinstance(body, bytes) else b"")


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "data-home"
    monkeypatch.setenv("CFNB_DATA_HOME", str(home))
    monkeypatch.setattr(ml, "TIMEOUT", 10)  # bounded even if the server misbehaves
    return home


def test_good_download_unpacks_into_the_data_home(server, home):
    start = time.perf_counter()
    r = cfnb.movielens(NAME, url=f"{server}/good.zip", checksum=server.checksum("good.zip"))
    assert (len(r), r.n_users, r.n_items) == (100_836, 610, 9_724)
    assert r.frame["timestamp"].dtype == "int64" and r.frame["timestamp"].min() > 800_000_000
    assert sorted(p.name for p in home.iterdir()) == [NAME]  # no temporary folder or zip left
    assert sorted(p.name for p in (home / NAME).iterdir()) == ["movies.csv", "ratings.csv"]
    again = cfnb.movielens(NAME, url=f"{server}/error.zip")  # present now: no second download
    assert len(again) == len(r)
    assert time.perf_counter() - start < 60


@pytest.mark.parametrize("route, message", [
    ("tampered.zip", "Checksum mismatch for ml-latest-small/ratings.csv"),
    ("cut.zip", "Could not download MovieLens 'ml-latest-small'"),
    ("error.zip", "500"),
    ("html", "not a valid zip file"),
    ("no-movies.zip", "has no ml-latest-small/movies.csv"),
    ("missing.zip", "404"),
])
def test_bad_downloads_leave_nothing_and_say_why(server, home, route, message):
    url = f"{server}/{route}"
    with pytest.raises(cfnb.DownloadError) as info:
        cfnb.movielens(NAME, url=url, checksum=server.checksum(route))
    text = str(info.value)
    assert message in text and url in text
    error = info.value  # raised from None: no requests/zipfile traceback chained to it
    assert error.__cause__ is None and (error.__suppress_context__ or error.__context__ is None)
    assert list(home.iterdir()) == []  # nothing half-written in the data home


def test_unreachable_server_says_how_to_fix(home):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(cfnb.DownloadError, match="CFNB_DATA_HOME"):
        cfnb.movielens(NAME, url=f"http://127.0.0.1:{port}/x.zip")
    assert list(home.iterdir()) == []


def test_stale_temporary_folders_from_a_killed_download_are_cleared(server, home):
    home.mkdir()
    stale = home / f".{NAME}-download-old"
    (stale / NAME).mkdir(parents=True)
    (stale / NAME / "ratings.csv").write_text("half")
    old = time.time() - ml.STALE - 60
    os.utime(stale, (old, old))
    cfnb.movielens(NAME, url=f"{server}/good.zip", checksum=server.checksum("good.zip"))
    assert sorted(p.name for p in home.iterdir()) == [NAME]


@pytest.mark.parametrize("checksum", [None, md5(b"something else"), "sha256:" + "0" * 64])
def test_the_zip_checksum_is_checked_by_default_and_when_given(server, home, checksum):
    """Without checksum=, the official one refuses a zip that is not GroupLens's; a wrong one given refuses too."""
    url = f"{server}/good.zip"
    with pytest.raises(cfnb.DownloadError) as info:
        cfnb.movielens(NAME, url=url, checksum=checksum)
    text = str(info.value)
    assert f"Checksum mismatch for {NAME}.zip from {url}" in text
    algorithm, expected = (checksum or ml.SETS[NAME].checksum).split(":")
    got = hashlib.new(algorithm, server.routes["/good.zip"]).hexdigest()
    assert f"expected {algorithm} {expected}, got {got}" in text
    assert list(home.iterdir()) == []


@pytest.mark.parametrize("checksum", ["md5:xyz", "abc", 42, "md5:" + "0" * 31])
def test_a_malformed_checksum_is_an_argument_error(home, checksum):
    with pytest.raises(cfnb.CfnbError, match="checksum must be 'md5:<32 hex digits>'"):
        cfnb.movielens(NAME, checksum=checksum)


def test_unreadable_movies_file_is_a_data_error(tmp_path, monkeypatch):
    folder = tmp_path / NAME
    folder.mkdir()
    shared = Path(os.environ["CFNB_DATA_HOME"]) / NAME
    (folder / "ratings.csv").write_bytes((shared / "ratings.csv").read_bytes())
    (folder / "movies.csv").write_text("nothing useful\n")
    monkeypatch.setenv("CFNB_DATA_HOME", str(tmp_path))
    with pytest.raises(cfnb.DataError, match="movies.csv could not be read"):
        cfnb.movielens(NAME, download=False)
