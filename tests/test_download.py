"""The MovieLens download against a local HTTP server on 127.0.0.1 (a thread in this test): a good file,
a checksum mismatch, a connection cut half-way, a server error, not a zip. None leaves anything
half-written in the data home; each gives a clear DownloadError.

The test zips are built at test time from the shared ratings.csv / movies.csv; no data is committed.
"""

import http.server
import io
import os
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

import cfnb
ml = sys.modules["cfnb.movielens"]  # (cfnb.movielens the attribute is the function)

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
              "/no-movies.zip": make_zip(shared, drop="movies.csv"), "/html": b"<html>Not found</html>"}
    assert routes["/tampered.zip"] != good

    class Handler(http.server.BaseHTTPRequestHandler):
        timeout = 10  # a stuck client cannot hold the thread forever

        def do_GET(self):
            if self.path == "/error.zip":
                self.send_error(500, "Internal Server Error")
                return
            if self.path == "/cut.zip":  # promise the whole file, send half, hang up
                self.send_response(200)
                self.send_header("Content-Length", str(len(good)))
                self.end_headers()
                self.wfile.write(good[: len(good) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            body = routes.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "data-home"
    monkeypatch.setenv("CFNB_DATA_HOME", str(home))
    monkeypatch.setattr(ml, "TIMEOUT", 10)  # bounded even if the server misbehaves
    return home


def test_good_download_unpacks_into_the_data_home(server, home):
    start = time.perf_counter()
    r = cfnb.movielens(NAME, url=f"{server}/good.zip")
    assert (len(r), r.n_users, r.n_items) == (100_836, 610, 9_724)
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
        cfnb.movielens(NAME, url=url)
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
    cfnb.movielens(NAME, url=f"{server}/good.zip")
    assert sorted(p.name for p in home.iterdir()) == [NAME]


def test_unreadable_movies_file_is_a_data_error(tmp_path, monkeypatch):
    folder = tmp_path / NAME
    folder.mkdir()
    shared = Path(os.environ["CFNB_DATA_HOME"]) / NAME
    (folder / "ratings.csv").write_bytes((shared / "ratings.csv").read_bytes())
    (folder / "movies.csv").write_text("nothing useful\n")
    monkeypatch.setenv("CFNB_DATA_HOME", str(tmp_path))
    with pytest.raises(cfnb.DataError, match="movies.csv could not be read"):
        cfnb.movielens(NAME, download=False)
