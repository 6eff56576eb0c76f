"""Every MovieLens set by name, from a tiny zip in its official layout served on 127.0.0.1.

The MovieLens files may not be redistributed, so each zip is built here from synthetic ratings, in the
layout GroupLens publishes: the folder the zip unpacks to (`ml-10m.zip` holds `ml-10M100K/`), the
separators (tab and `|` in 100k, `::` in 1M/10M, comma in the CSV sets), header rows only where the
official files have them, and the encodings (Latin-1 titles in 100k and 1M). Each test passes the
checksum of the zip it serves; one checks that without it the official checksum refuses the zip.
"""

import csv
import dataclasses
import hashlib
import io
import sys
import warnings
import zipfile

import numpy as np
import pytest

import cfnb
from loopback import md5, serving

pytestmark = pytest.mark.backend_independent(reason="the MovieLens sets' files: no Keras")

ml = sys.modules["cfnb.data.movielens"]

MOVIES = {
    1: "Toy Story (1995)",
    2: "Misérables, Les (1995)",  # Latin-1 in 100k / 1M: é is one byte there
    3: '"Great Performances" Cats (1998)',  # a quote in a ::-separated or |-separated file is just a character
    5: "City of Lost Children, The (Cité des enfants perdus, La) (1995)",
    8: "Amélie (Fabuleux destin d'Amélie Poulain, Le) (2001)",
}
USERS = [1, 2, 3, 4, 6, 9]


def ratings(half: bool) -> list[tuple[int, int, float, int]]:
    """(user, movie, rating, timestamp): every user and movie rated, whole or half stars."""
    rng = np.random.default_rng(7)
    rows = []
    for k, (u, m) in enumerate([(u, m) for u in USERS for m in MOVIES if rng.random() < 0.5 or m == u % 5 + 1]
                               + [(9, m) for m in MOVIES]):
        if (u, m) in {(r[0], r[1]) for r in rows}:
            continue
        stars = rng.integers(1, 11) / 2 if half else float(rng.integers(1, 6))
        rows.append((u, m, stars, 874_724_710 + 86_400 * k + int(rng.integers(0, 1000))))
    return rows


def number(x: float) -> str:
    return f"{x:g}" if x != int(x) else str(int(x))


def zip_of(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for path, data in files.items():
            z.writestr(path, data)
    return buf.getvalue()


def layout_100k(rows) -> dict[str, bytes]:
    lines = ["\t".join([str(u), str(m), number(r), str(t)]) for u, m, r, t in rows]
    item = [f"{m}|{title}|01-Jan-1995||http://us.imdb.com/M/title-exact?{m}|" + "|".join("0" * 19)
            for m, title in MOVIES.items()]
    files = {"ml-100k/u.data": "\n".join(lines) + "\n", "ml-100k/u.item": "\n".join(item) + "\n",
             "ml-100k/README": "synthetic stand-in\n"}
    for k, split in enumerate(["u1", "u2", "u3", "u4", "u5", "ua", "ub"]):
        test = [line for i, line in enumerate(lines) if i % 5 == k % 5]
        base = [line for i, line in enumerate(lines) if i % 5 != k % 5]
        files[f"ml-100k/{split}.base"], files[f"ml-100k/{split}.test"] = ("\n".join(base) + "\n", "\n".join(test) + "\n")
    return {p: t.encode("latin-1") for p, t in files.items()}


def layout_dat(folder: str, rows, encoding: str) -> dict[str, bytes]:
    lines = ["::".join([str(u), str(m), number(r), str(t)]) for u, m, r, t in rows]
    items = [f"{m}::{title}::Comedy|Drama" for m, title in MOVIES.items()]
    return {f"{folder}/ratings.dat": ("\n".join(lines) + "\n").encode(encoding),
            f"{folder}/movies.dat": ("\n".join(items) + "\n").encode(encoding)}


def layout_csv(folder: str, rows) -> dict[str, bytes]:
    def table(header, body):
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(body)
        return out.getvalue().encode("utf-8")

    return {f"{folder}/ratings.csv": table(["userId", "movieId", "rating", "timestamp"],
                                           [(u, m, f"{r:.1f}", t) for u, m, r, t in rows]),
            f"{folder}/movies.csv": table(["movieId", "title", "genres"],
                                          [(m, title, "Comedy|Drama") for m, title in MOVIES.items()]),
            f"{folder}/links.csv": b"movieId,imdbId,tmdbId\n"}


# name -> (files in the zip, rating scale)
HALF, WHOLE = ratings(half=True), ratings(half=False)
LAYOUTS = {
    "ml-latest-small": (layout_csv("ml-latest-small", HALF), (0.5, 5.0)),
    "ml-latest-small-2016": (layout_csv("ml-latest-small", HALF), (0.5, 5.0)),  # the 2016 zip's folder
    "ml-100k": (layout_100k(WHOLE), (1.0, 5.0)),
    "ml-1m": (layout_dat("ml-1m", WHOLE, "latin-1"), (1.0, 5.0)),
    "ml-10m": (layout_dat("ml-10M100K", HALF, "latin-1"), (0.5, 5.0)),
    "ml-20m": (layout_csv("ml-20m", HALF), (0.5, 5.0)),
    "ml-25m": (layout_csv("ml-25m", HALF), (0.5, 5.0)),
    "ml-32m": (layout_csv("ml-32m", HALF), (0.5, 5.0)),
}
ZIPS = {name: zip_of(files) for name, (files, _) in LAYOUTS.items()}
ZIPS["ml-10m-utf8"] = zip_of(layout_dat("ml-10M100K", HALF, "utf-8"))


@pytest.fixture(scope="module")
def server():
    with serving({f"/{name}.zip": data for name, data in ZIPS.items()}) as url:
        yield url


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "data-home"
    monkeypatch.setenv("CFNB_DATA_HOME", str(home))
    monkeypatch.setattr(ml, "TIMEOUT", 10)
    return home


@pytest.fixture
def small_sets_synthetic(monkeypatch):
    """The two small sets also check ratings.csv's sha256: here, the synthetic file's (a registry override)."""
    for name in ("ml-latest-small", "ml-latest-small-2016"):
        ratings_csv = hashlib.sha256(LAYOUTS[name][0]["ml-latest-small/ratings.csv"]).hexdigest()
        monkeypatch.setitem(ml.SETS, name, dataclasses.replace(ml.SETS[name], ratings_sha256=ratings_csv))


def test_every_name_in_the_issue_is_known():
    assert set(ml.SETS) == {"ml-latest-small", "ml-latest-small-2016", "ml-100k", "ml-1m", "ml-10m", "ml-20m",
                            "ml-25m", "ml-32m"}
    for spec in ml.SETS.values():  # each downloadable set has a zip checksum, with its source noted
        assert (spec.checksum is not None) == spec.downloadable and spec.checksum_source
        assert spec.url == f"https://files.grouplens.org/datasets/movielens/{spec.name}.zip"


def expected(name):
    half = LAYOUTS[name][1] == (0.5, 5.0)
    return HALF if half else WHOLE


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_each_set_loads_from_its_official_layout(server, home, small_sets_synthetic, name):
    data = ZIPS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DataWarning: the files are read as they are meant to be
        r = cfnb.movielens(name, url=f"{server}/{name}.zip", checksum=md5(data))
    rows = expected(name)
    assert (len(r), r.n_users, r.n_items) == (len(rows), len(USERS), len(MOVIES))
    assert r.scale == LAYOUTS[name][1] and r.rating_range == LAYOUTS[name][1]
    assert r.name == name
    table = r.to_frame().sort_values(["user", "item"])
    want = sorted(rows)
    assert [tuple(x) for x in table[["user", "item"]].to_numpy()] == [(u, m) for u, m, _, _ in want]
    np.testing.assert_array_equal(table["rating"].to_numpy(), [x for _, _, x, _ in want])
    assert r.frame["timestamp"].dtype == np.int64
    np.testing.assert_array_equal(table["timestamp"].to_numpy(), [t for _, _, _, t in want])
    assert {m: r.title(m)[0] for m in MOVIES} == MOVIES  # Latin-1 and UTF-8 titles, quotes and commas intact
    spec = ml.SETS[name]
    assert sorted(p.name for p in home.iterdir()) == [name]  # unpacked under cfnb's name, nothing else left
    assert (home / name / spec.ratings).is_file() and (home / name / spec.items).is_file()
    again = cfnb.movielens(name, download=False)  # from the data home now
    assert len(again) == len(r) and again.title(2) == ["Misérables, Les (1995)"]


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_without_checksum_the_official_one_refuses_a_zip_that_is_not_grouplens(server, home, name):
    url = f"{server}/{name}.zip"
    if ml.SETS[name].downloadable:
        with pytest.raises(cfnb.DownloadError, match=f"Checksum mismatch for {name}.zip from {url}"):
            cfnb.movielens(name, url=url)
    else:  # the 2016 snapshot: not served any more; from a mirror, its official ratings.csv checksum
        with pytest.raises(cfnb.DownloadError, match="GroupLens no longer serves"):
            cfnb.movielens(name)
        with pytest.raises(cfnb.DownloadError, match=f"Checksum mismatch for {name}/ratings.csv from {url}"):
            cfnb.movielens(name, url=url)
    assert list(home.iterdir()) == []


def test_ml_10m_titles_in_utf8_read_the_same(server, home):
    """GroupLens's 10M README does not name the encoding: UTF-8 and Latin-1 titles both read right."""
    r = cfnb.movielens("ml-10m", url=f"{server}/ml-10m-utf8.zip", checksum=md5(ZIPS["ml-10m-utf8"]))
    assert {m: r.title(m)[0] for m in MOVIES} == MOVIES


def test_ml_100k_ready_made_split_codes_test_in_the_training_vocabulary(server, home):
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        train, test = cfnb.movielens("ml-100k", split="u1", url=f"{server}/ml-100k.zip", checksum=md5(ZIPS["ml-100k"]))
    lines = [line.split("\t") for line in LAYOUTS["ml-100k"][0]["ml-100k/u1.test"].decode().splitlines()]
    assert len(train) + len(test) == len(WHOLE) and len(test) == len(lines)
    raw = test.to_frame()
    assert [(int(u), int(m), float(r), int(t)) for u, m, r, t in lines] == [
        (u, m, r, t) for u, m, r, t in raw[["user", "item", "rating", "timestamp"]].itertuples(index=False)]
    # One vocabulary: the test set's codes mean what they mean in train; ids new to train come after.
    assert list(test.user_ids[:train.n_users]) == list(train.user_ids)
    assert list(test.item_ids[:train.n_items]) == list(train.item_ids)
    fingerprint = train.vocabulary.fingerprint()
    assert test.vocabulary.extends(fingerprint, train.n_users, train.n_items)
    assert train.scale == test.scale == (1.0, 5.0) and test.title(2) == ["Misérables, Les (1995)"]
    assert train.name == "ml-100k u1.base" and test.name == "ml-100k u1.test"


def test_split_is_checked(server, home):
    with pytest.raises(cfnb.CfnbError, match="split must be one of 'u1', 'u2'"):
        cfnb.movielens("ml-100k", split="u9")
    with pytest.raises(cfnb.CfnbError, match="only 'ml-100k' has"):
        cfnb.movielens("ml-1m", split="u1")


def test_a_data_home_folder_without_the_split_files_says_so(server, home):
    cfnb.movielens("ml-100k", url=f"{server}/ml-100k.zip", checksum=md5(ZIPS["ml-100k"]))
    (home / "ml-100k" / "u2.test").unlink()
    with pytest.raises(cfnb.DataError, match="has no u2.test"):
        cfnb.movielens("ml-100k", split="u2", download=False)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(cfnb.DataError, match="ml-100k.*ml-32m"):
        cfnb.movielens("ml-50m")
