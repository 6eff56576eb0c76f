"""The standard MovieLens sets by name, from the data home (CFNB_DATA_HOME) or downloaded from GroupLens.

Each set is described once, in `SETS`: where GroupLens serves its zip and the zip's published
checksum, the folder it unpacks to, its ratings and movies files and how they are written
(separator, header row, encoding), and its rating scale. A download is checked against the zip's
checksum (and, for the two small sets, the sha256 of ratings.csv) before anything is put in place.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import os
import re
import shutil
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from cfnb.data.delimited import read_delimited
from cfnb.data.loading import as_titles
from cfnb.data.ratings import load_ratings
from cfnb.errors import ArgumentError, DataError, DownloadError

BASE_URL = "https://files.grouplens.org/datasets/movielens/"
TIMEOUT = 60  # seconds without a byte before a download is given up
STALE = 6 * 3600  # temporary download folders older than this were left by a killed process
COLUMNS = ["userId", "movieId", "rating", "timestamp"]  # every set's ratings, as cfnb names them
HALF_STARS, WHOLE_STARS = (0.5, 5.0), (1.0, 5.0)


@dataclass(frozen=True)
class MovieLensSet:
    """How GroupLens publishes one MovieLens set.

    Attributes:
        name: cfnb's name for it, also its folder in the data home.
        folder: the folder its zip unpacks to (`ml-10m.zip` unpacks to `ml-10M100K/`).
        ratings, movies: the ratings file and the movies file in that folder.
        sep, movies_sep: their separators.
        header: whether the files start with a header row (the CSV sets) or not (100k, 1M, 10M).
        movies_encoding: the movies file's encoding; None tries UTF-8, then Latin-1.
        scale: the rating scale.
        checksum: `"md5:..."` or `"sha256:..."` of the zip, where one is published; `checksum_source`
            says where the value was found.
        ratings_sha256: sha256 of the ratings file, checked after unpacking (the two small sets).
        downloadable: whether GroupLens still serves the zip.
        splits: ready-made train/test pairs in the zip (`<split>.base` / `<split>.test`).
    """

    name: str
    folder: str
    ratings: str
    items: str
    sep: str
    items_sep: str
    header: bool
    items_encoding: str | None
    scale: tuple[float, float]
    checksum: str | None
    checksum_source: str
    ratings_sha256: str | None = None
    downloadable: bool = True
    splits: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        """The official zip."""
        return f"{BASE_URL}{self.name}.zip"


def _csv_set(name: str, checksum: str, source: str, **more) -> MovieLensSet:
    """A set in the CSV layout: `<name>/ratings.csv`, `movies.csv`, UTF-8, header rows, half stars."""
    return MovieLensSet(name, name, "ratings.csv", "movies.csv", ",", ",", True, "utf-8", HALF_STARS, checksum,
                        source, **more)


# Zip checksums. GroupLens publishes an .md5 beside each zip (<url>.md5); the values below were
# found in public code that records them (this project cannot reach GroupLens). Sources:
# - ml-100k, ml-1m, ml-10m, ml-20m, ml-25m (md5): eli-osherovich/papers_with_code,
#   datasets/movielens/dl_config.py; the same values appear in many other loaders (e.g. a download
#   script quoting "From: curl -O http://files.grouplens.org/datasets/movielens/ml-1m.zip.md5").
# - ml-32m (md5): several public scripts that verify ml-32m.zip against
#   https://files.grouplens.org/datasets/movielens/ml-32m.zip.md5 (e.g. a pooch loader with
#   known_hash="md5:d472be33..."); the code index did not name their repositories.
# - ml-latest-small (sha256; no published md5 found): tensorflow/datasets,
#   tensorflow_datasets/url_checksums/movielens.txt (978,202 bytes). GroupLens regenerates
#   "latest" sets now and then; on a new version the download fails with a checksum mismatch that
#   says how to pass the new published value (`checksum="md5:..."`).
SETS = {s.name: s for s in [
    _csv_set("ml-latest-small", "sha256:696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
             "tensorflow/datasets url_checksums/movielens.txt",
             ratings_sha256="aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646"),
    # The 2016 snapshot the fast.ai lesson used: no longer served; its zip unpacked to ml-latest-small/.
    MovieLensSet("ml-latest-small-2016", "ml-latest-small", "ratings.csv", "movies.csv", ",", ",", True, "utf-8",
                 HALF_STARS, None, "not served any more: ratings.csv's sha256 is checked instead",
                 ratings_sha256="5b96b4414d76699535d10ea0dbea978298dd836e9025de4b209e7779f5c7eb72", downloadable=False),
    MovieLensSet("ml-100k", "ml-100k", "u.data", "u.item", "\t", "|", False, "latin-1", WHOLE_STARS,
                 "md5:0e33842e24a9c977be4e0107933c0723", "eli-osherovich/papers_with_code",
                 splits=("u1", "u2", "u3", "u4", "u5", "ua", "ub")),
    MovieLensSet("ml-1m", "ml-1m", "ratings.dat", "movies.dat", "::", "::", False, "latin-1", WHOLE_STARS,
                 "md5:c4d9eecfca2ab87c1945afe126590906", "eli-osherovich/papers_with_code"),
    MovieLensSet("ml-10m", "ml-10M100K", "ratings.dat", "movies.dat", "::", "::", False, None, HALF_STARS,
                 "md5:ce571fd55effeba0271552578f2648bd", "eli-osherovich/papers_with_code"),
    _csv_set("ml-20m", "md5:cd245b17a1ae2cc31bb14903e1204af3", "eli-osherovich/papers_with_code"),
    _csv_set("ml-25m", "md5:6b51fb2759a8657d3bfcbfc42b592ada", "eli-osherovich/papers_with_code"),
    _csv_set("ml-32m", "md5:d472be332d4daa821edc399621853b57", "public scripts checking ml-32m.zip.md5"),
]}
_CHECKSUM = re.compile(r"(md5:[0-9a-f]{32}|sha256:[0-9a-f]{64})")


def user_cache() -> Path:
    """cfnb's per-user cache folder: `$XDG_CACHE_HOME/cfnb`, else `~/.cache/cfnb`."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cfnb"


def data_home() -> Path:
    """The folder holding unpacked MovieLens sets: `$CFNB_DATA_HOME`, else `user_cache()`."""
    env = os.environ.get("CFNB_DATA_HOME")
    if env:
        return Path(env).expanduser().resolve()
    try:
        return user_cache()
    except RuntimeError:  # no HOME and no password entry
        raise DownloadError("cfnb cannot find your home folder for its default data home (~/.cache/cfnb): set "
                            "the environment variable CFNB_DATA_HOME to a folder for the MovieLens sets.") from None


def _home_name(home: Path) -> str:
    """`<home> (CFNB_DATA_HOME)`, or `<home> (the default: CFNB_DATA_HOME is not set)`, for messages."""
    return f"{home} ({'CFNB_DATA_HOME' if os.environ.get('CFNB_DATA_HOME') else 'the default: CFNB_DATA_HOME is not set'})"


#: What a write refused by the file system says, and what to do about it.
_WRITE_ERRORS = {errno.ENOSPC: "free some space, or set CFNB_DATA_HOME to a folder on another disk",
                 errno.EDQUOT: "free some space, or set CFNB_DATA_HOME to a folder on another disk",
                 errno.EROFS: "set CFNB_DATA_HOME to a writable folder, or unpack the set there yourself",
                 errno.EACCES: "set CFNB_DATA_HOME to a writable folder, or unpack the set there yourself",
                 errno.EPERM: "set CFNB_DATA_HOME to a writable folder, or unpack the set there yourself"}


def _unwritable(home: Path, e: OSError) -> DownloadError:
    """The DownloadError for a write into the data home that the file system refused."""
    fix = _WRITE_ERRORS.get(e.errno, "set CFNB_DATA_HOME to a writable folder with room for the set")
    return DownloadError(f"The data home {_home_name(home)} cannot be written ({e.strerror or e}"
                         f"{': ' + str(e.filename) if e.filename else ''}): {fix}. Nothing was left in it.")


def movielens(name: str = "ml-latest-small", download: bool = True, url: str | None = None, *,
              split: str | None = None, checksum: str | None = None):
    """A MovieLens set with movie titles, its rating scale and timestamps, from the data home or downloaded.

    Args:
        name: one of `SETS`: "ml-latest-small" (today's), "ml-latest-small-2016" (the lesson's),
            "ml-100k", "ml-1m", "ml-10m", "ml-20m", "ml-25m", "ml-32m".
        download: fetch the official zip when the data home lacks the set.
        url: download from this address instead of GroupLens (a mirror; tests use a local server).
        split: for "ml-100k", one of its ready-made train/test pairs: "u1" ... "u5", "ua", "ub".
        checksum: the zip's expected checksum, `"md5:<hex>"` or `"sha256:<hex>"`, instead of the one
            cfnb knows (for a mirror, or a set GroupLens has regenerated). The download is always checked.

    Returns:
        A `Ratings` on the set's scale (1..5 for 100k and 1M, 0.5..5 for the others), with titles and
        a `timestamp` column. With `split`: `(train, test)`, the test set coded in the training set's
        vocabulary (`load_ratings(..., like=train)`: ids only in the test set are kept, and cold).
    """
    spec = _spec(name)
    if split is not None and split not in spec.splits:
        raise ArgumentError(f"split must be one of {', '.join(map(repr, spec.splits))} for {name!r}, got {split!r}."
                            if spec.splits else f"{name!r} has no ready-made splits (split={split!r}); only "
                            "'ml-100k' has (u1 ... u5, ua, ub). Use ratings.split(val_frac, seed) instead.")
    folder = ensure_movielens(name, download=download, url=url, checksum=checksum)
    titles = _titles(folder, spec)
    read = dict(sep=spec.sep, titles=titles, scale=spec.scale,
                **({} if spec.header else dict(header=None, names=COLUMNS)))
    if split is None:
        return load_ratings(folder / spec.ratings, name=name, **read)
    files = [folder / f"{split}.{part}" for part in ("base", "test")]
    for file in files:
        if not file.is_file():
            raise DataError(f"{folder} has no {file.name}: not a complete {name} folder. Delete the folder to "
                            "download it again.")
    train = load_ratings(files[0], name=f"{name} {split}.base", **read)
    return train, load_ratings(files[1], name=f"{name} {split}.test", like=train, **read)


def ensure_movielens(name: str = "ml-latest-small", download: bool = True, url: str | None = None,
                     checksum: str | None = None) -> Path:
    """Path of the unpacked set `<data home>/<name>/`, downloading it first if needed."""
    spec = _spec(name)
    if checksum is not None:
        if not (isinstance(checksum, str) and _CHECKSUM.fullmatch(checksum.strip().lower())):
            raise ArgumentError(f"checksum must be 'md5:<32 hex digits>' or 'sha256:<64 hex digits>', got {checksum!r}.")
        checksum = checksum.strip().lower()
    home = data_home()
    folder = home / name
    if (folder / spec.ratings).is_file() and (folder / spec.items).is_file():
        return folder
    for there in (home, folder):
        if there.exists() and not there.is_dir():
            raise DownloadError(f"{_home_name(home) if there == home else there} is a file, not a folder: the "
                                f"data home must be a folder holding the MovieLens sets (<home>/{name}/). Move the "
                                "file, or set CFNB_DATA_HOME to a folder.")
    if not download or not (spec.downloadable or url):
        why = ("downloading is off" if not download else f"GroupLens no longer serves {name} as a download")
        if not home.exists():
            raise DownloadError(f"The data home {_home_name(home)} does not exist, so MovieLens {name!r} is not "
                                f"there, and {why}. Unpack it as {folder}/{spec.ratings} and {spec.items}, or set "
                                "CFNB_DATA_HOME to a folder that holds it.")
        raise DownloadError(f"MovieLens {name!r} is not in the data home {_home_name(home)} and {why}. "
                            f"Unpack it as {folder}/{spec.ratings} and {spec.items}, or point the environment "
                            "variable CFNB_DATA_HOME at a folder that holds it.")
    try:
        _download(spec, url or spec.url, home, checksum or spec.checksum)
    except DownloadError:
        raise
    except OSError as e:  # the temporary folder, the unpacking or the move into place
        raise _unwritable(home, e) from None
    return folder


def _spec(name) -> MovieLensSet:
    if not isinstance(name, str) or name not in SETS:
        raise DataError(f"Unknown MovieLens set {name!r}: expected one of {list(SETS)}.")
    return SETS[name]


def _titles(folder: Path, spec: MovieLensSet):
    path = folder / spec.items
    columns = ["movieId", "title"]
    try:
        table = read_delimited(path, sep=spec.items_sep, header=0 if spec.header else None,
                               names=None if spec.header else columns, usecols=columns if spec.header else [0, 1],
                               encoding=spec.items_encoding, quoting=None if spec.header else csv.QUOTE_NONE)
        return as_titles(table.frame, "movieId", spec.name)
    except (DataError, KeyError, ValueError) as e:
        raise DataError(f"{path} could not be read ({type(e).__name__}: {str(e)[:200]}): expected MovieLens's "
                        f"{spec.items} with movie ids and titles. Delete the folder to download it again.") from None


def _download(spec: MovieLensSet, url: str, home: Path, checksum: str | None) -> None:
    """Download, check and unpack `spec` into `home` atomically: nothing half-written is ever left there."""
    import pooch

    name = spec.name
    home.mkdir(parents=True, exist_ok=True)
    _remove_stale_downloads(home, name)
    with tempfile.TemporaryDirectory(dir=home, prefix=f".{name}-download-") as tmp:
        logger, level = pooch.get_logger(), pooch.get_logger().level
        logger.setLevel("WARNING")  # not pooch's "use this value as known_hash" advice: cfnb checks below
        try:
            downloader = pooch.HTTPDownloader(progressbar=_progressbar(), timeout=TIMEOUT)
            zip_path = pooch.retrieve(url, known_hash=None, fname=f"{name}.zip", path=tmp,
                                      downloader=downloader)
        except Exception as e:  # requests/urllib errors differ by transport; all mean "not downloaded"
            if isinstance(e, OSError) and e.errno in _WRITE_ERRORS:  # the zip could not be written
                raise _unwritable(home, e) from None
            raise DownloadError(f"Could not download MovieLens {name!r} from {url} ({_reason(e)}). "
                                "Check the network connection, or unpack the zip yourself into "
                                f"{home / name} (or set CFNB_DATA_HOME to a folder that holds it).") from None
        finally:
            logger.setLevel(level)
        if checksum is not None:
            _check_zip(Path(zip_path), checksum, spec, url)
        try:
            with zipfile.ZipFile(zip_path) as z:
                z.extractall(tmp)
        except (zipfile.BadZipFile, EOFError, zlib.error):
            raise DownloadError(f"The download from {url} is not a valid zip file (truncated or corrupted). "
                                "Try again; nothing was written to the data home.") from None
        unpacked = Path(tmp) / spec.folder
        for needed in (spec.ratings, spec.items):
            if not (unpacked / needed).is_file():
                raise DownloadError(f"The zip from {url} has no {spec.folder}/{needed}: not the MovieLens {name!r} "
                                    "zip. Nothing was written to the data home.")
        if spec.ratings_sha256 is not None:
            digest = _digest(unpacked / spec.ratings, "sha256")
            if digest != spec.ratings_sha256:
                raise DownloadError(f"Checksum mismatch for {name}/{spec.ratings} from {url}: expected sha256 "
                                    f"{spec.ratings_sha256}, got {digest}. The file is corrupted or not the "
                                    "official one; nothing was written to the data home.")
        target = home / name
        if target.exists():
            shutil.rmtree(target)
        os.replace(unpacked, target)


def _check_zip(path: Path, checksum: str, spec: MovieLensSet, url: str) -> None:
    algorithm, expected = checksum.split(":")
    digest = _digest(path, algorithm)
    if digest != expected:
        raise DownloadError(f"Checksum mismatch for {spec.name}.zip from {url}: expected {algorithm} {expected}, got "
                            f"{digest}. The file is corrupted or not the official one; nothing was written to the "
                            f"data home. (If GroupLens has published a new version, check {spec.url}.md5 and pass "
                            f"movielens({spec.name!r}, checksum='md5:<its value>').)")


def _remove_stale_downloads(home: Path, name: str) -> None:
    """Temporary folders that a killed download left behind (a live one is younger than STALE)."""
    for leftover in home.glob(f".{name}-download-*"):
        try:
            if time.time() - leftover.stat().st_mtime > STALE:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            pass


def _progressbar() -> bool:
    try:
        return True
    except ImportError:
        return False


def _reason(e: Exception) -> str:
    text = str(e).strip() or type(e).__name__
    return text if len(text) < 200 else text[:200] + "..."


def _digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
