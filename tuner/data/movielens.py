"""MovieLens 1M: downloaded from GroupLens on first use, checked, converted to RecBole's atomic files."""

from __future__ import annotations

import csv
import hashlib
import io
import urllib.request
import zipfile
from pathlib import Path

import pandas as pd

from tuner.errors import DataError

ML1M_URL = "https://files.grouplens.org/datasets/movielens/ml-1m.zip"
ML1M_MD5 = "c4d9eecfca2ab87c1945afe126590906"  # published by GroupLens beside the zip


def ensure_ml1m(root: Path, url: str = ML1M_URL, md5: str = ML1M_MD5) -> Path:
    """The folder holding ml-1m's atomic files under ``root``, downloading and converting if needed."""
    folder = root / "ml-1m"
    if (folder / "ml-1m.inter").is_file():
        return folder
    archive = root / "ml-1m.zip"
    if archive.is_file():
        data = archive.read_bytes()
    else:
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                data = response.read()
        except OSError as e:
            raise DataError(
                f"ml-1m: could not download {url} ({getattr(e, 'reason', e)}). Offline, put GroupLens' ml-1m.zip "
                f"(md5 {md5}) at {archive}, or RecBole's atomic files ml-1m.inter/.item/.user in {folder}"
            ) from None
    digest = hashlib.md5(data).hexdigest()  # noqa: S324 - a checksum GroupLens publishes, not security
    if digest != md5:
        raise DataError(f"{archive if archive.is_file() else url}: md5 {digest} does not match GroupLens' {md5}; the file is damaged or not ml-1m.zip")
    folder.mkdir(parents=True, exist_ok=True)
    convert_ml1m_zip(data, folder)
    if not archive.is_file():
        archive.write_bytes(data)
    return folder


def convert_ml1m_zip(data: bytes, folder: Path) -> None:
    """ratings/movies/users.dat (``::``-separated, Latin-1) -> ml-1m.inter/.item/.user, as RecBole converts them."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        def read(name: str, columns: list[str]) -> pd.DataFrame:
            member = next((m for m in z.namelist() if m.endswith(name)), None)
            if member is None:
                raise DataError(f"ml-1m.zip: no {name} inside")
            text = z.read(member).decode("latin-1")
            rows = [line.split("::") for line in text.splitlines() if line]
            bad = next((i for i, r in enumerate(rows) if len(r) != len(columns)), None)
            if bad is not None:
                raise DataError(f"ml-1m.zip:{member}:{bad + 1}: expected {len(columns)} '::'-separated values")
            return pd.DataFrame(rows, columns=columns)

        ratings = read("ratings.dat", ["user_id", "item_id", "rating", "timestamp"])
        movies = read("movies.dat", ["item_id", "title", "genre"])
        users = read("users.dat", ["user_id", "gender", "age", "occupation", "zip_code"])
    title = movies["title"].str.replace(r"\s*\((\d{4})\)\s*$", "", regex=True)
    year = movies["title"].str.extract(r"\((\d{4})\)\s*$")[0].fillna("")
    _write(folder / "ml-1m.inter", ["user_id:token", "item_id:token", "rating:float", "timestamp:float"],
           [ratings.user_id, ratings.item_id, ratings.rating, ratings.timestamp])
    _write(folder / "ml-1m.item", ["item_id:token", "movie_title:token_seq", "release_year:token", "genre:token_seq"],
           [movies.item_id, title, year, movies.genre.str.replace("|", " ", regex=False)])
    _write(folder / "ml-1m.user", ["user_id:token", "age:token", "gender:token", "occupation:token", "zip_code:token"],
           [users.user_id, users.age, users.gender, users.occupation, users.zip_code])


def _write(path: Path, header: list[str], columns: list[pd.Series]) -> None:
    frame = pd.concat([c.reset_index(drop=True).astype(str).str.replace("\t", " ") for c in columns], axis=1)
    frame.columns = header
    tmp = path.with_suffix(path.suffix + ".tmp")
    frame.to_csv(tmp, sep="\t", index=False, quoting=csv.QUOTE_NONE)
    tmp.replace(path)
