"""MovieLens from the data home (CFNB_DATA_HOME) or downloaded from GroupLens, with integrity checks."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

import pandas as pd

from .data import Ratings, load_ratings
from .errors import DataError, DownloadError

BASE_URL = "https://files.grouplens.org/datasets/movielens/"
TIMEOUT = 60  # seconds without a byte before a download is given up
STALE = 6 * 3600  # temporary download folders older than this were left by a killed process
# sha256 of ratings.csv inside each official zip: checked after every download.
RATINGS_SHA256 = {
    "ml-latest-small": "aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646",
    "ml-latest-small-2016": "5b96b4414d76699535d10ea0dbea978298dd836e9025de4b209e7779f5c7eb72",
}
# Datasets GroupLens still serves as a zip (the 2016 snapshot is no longer online).
DOWNLOADABLE = {"ml-latest-small"}


def data_home() -> Path:
    """The folder holding unpacked MovieLens sets: `$CFNB_DATA_HOME`, else a per-user cache folder."""
    env = os.environ.get("CFNB_DATA_HOME")
    if env:
        return Path(env).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cfnb"


def movielens(name: str = "ml-latest-small", download: bool = True, url: str | None = None) -> Ratings:
    """MovieLens ratings with movie titles, from the data home or downloaded from GroupLens.

    Args:
        name: "ml-latest-small" (today's) or "ml-latest-small-2016" (the lesson's version).
        download: fetch the official zip when the data home lacks the set.
        url: override the download address (tests use a local server).

    Returns:
        A `Ratings` on the 0.5..5 scale, with titles.
    """
    folder = ensure_movielens(name, download=download, url=url)
    try:
        movies = pd.read_csv(folder / "movies.csv")
        titles = pd.Series(movies["title"].astype(str).str.strip().to_numpy(), index=movies["movieId"])
    except (OSError, ValueError, KeyError, pd.errors.ParserError) as e:
        raise DataError(f"{folder / 'movies.csv'} could not be read ({type(e).__name__}: {str(e)[:200]}): expected "
                        "MovieLens's movies.csv with columns movieId and title. Delete the folder to download "
                        "it again.") from None
    return load_ratings(folder / "ratings.csv", titles=titles, name=name, scale=(0.5, 5.0))


def ensure_movielens(name: str = "ml-latest-small", download: bool = True, url: str | None = None) -> Path:
    """Path of the unpacked set `<data home>/<name>/`, downloading it first if needed."""
    if name not in RATINGS_SHA256:
        raise DataError(f"Unknown MovieLens set {name!r}: expected one of {sorted(RATINGS_SHA256)}.")
    home = data_home()
    folder = home / name
    if (folder / "ratings.csv").is_file() and (folder / "movies.csv").is_file():
        return folder
    if not download or name not in DOWNLOADABLE:
        why = ("downloading is off" if not download else
               f"GroupLens no longer serves {name} as a download")
        raise DownloadError(f"MovieLens {name!r} is not in the data home {home} and {why}. "
                            f"Unpack it as {folder}/ratings.csv and movies.csv, or point the environment "
                            "variable CFNB_DATA_HOME at a folder that holds it.")
    _download(name, url or f"{BASE_URL}{name}.zip", home)
    return folder


def _download(name: str, url: str, home: Path) -> None:
    """Download and unpack `name` into `home` atomically: nothing half-written is ever left there."""
    import pooch

    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DownloadError(f"Cannot create the data home {home} ({e.strerror}). Set CFNB_DATA_HOME "
                            "to a writable folder.") from None
    _remove_stale_downloads(home, name)
    with tempfile.TemporaryDirectory(dir=home, prefix=f".{name}-download-") as tmp:
        logger, level = pooch.get_logger(), pooch.get_logger().level
        logger.setLevel("WARNING")  # not pooch's "use this value as known_hash" advice: cfnb checks ratings.csv
        try:
            downloader = pooch.HTTPDownloader(progressbar=_progressbar(), timeout=TIMEOUT)
            zip_path = pooch.retrieve(url, known_hash=None, fname=f"{name}.zip", path=tmp,
                                      downloader=downloader)
        except Exception as e:  # requests/urllib errors differ by transport; all mean "not downloaded"
            raise DownloadError(f"Could not download MovieLens {name!r} from {url} ({_reason(e)}). "
                                "Check the network connection, or unpack the zip yourself into "
                                f"{home / name} (or set CFNB_DATA_HOME to a folder that holds it).") from None
        finally:
            logger.setLevel(level)
        try:
            with zipfile.ZipFile(zip_path) as z:
                z.extractall(tmp)
        except (zipfile.BadZipFile, EOFError, zlib.error):
            raise DownloadError(f"The download from {url} is not a valid zip file (truncated or corrupted). "
                                "Try again; nothing was written to the data home.") from None
        unpacked = Path(tmp) / name
        ratings = unpacked / "ratings.csv"
        for needed in ("ratings.csv", "movies.csv"):
            if not (unpacked / needed).is_file():
                raise DownloadError(f"The zip from {url} has no {name}/{needed}: not the MovieLens {name!r} "
                                    "zip. Nothing was written to the data home.")
        digest = _sha256(ratings)
        if digest != RATINGS_SHA256[name]:
            raise DownloadError(f"Checksum mismatch for {name}/ratings.csv from {url}: expected sha256 "
                                f"{RATINGS_SHA256[name]}, got {digest}. The file is corrupted or not the "
                                "official one; nothing was written to the data home.")
        target = home / name
        if target.exists():
            shutil.rmtree(target)
        os.replace(unpacked, target)


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
        import tqdm  # noqa: F401
        return True
    except ImportError:
        return False


def _reason(e: Exception) -> str:
    text = str(e).strip() or type(e).__name__
    return text if len(text) < 200 else text[:200] + "..."


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
