"""MovieLens 1M: downloaded from GroupLens on first use, checked, converted to RecBole atomic files.

The archive's published checksums: md5 ``c4d9eecfca2ab87c1945afe126590906`` (GroupLens's
ml-1m.zip.md5) and sha256 ``a6898adb...54e20`` (recorded by TensorFlow's MovieLens example and
others); we check the sha256. The conversion follows RecBole's (RecSysDatasets' ``ML1MDataset``):
``ml-1m.inter`` user_id, item_id, rating, timestamp in ratings.dat order; ``ml-1m.item`` item_id,
movie_title (token_seq), release_year, genre (token_seq); ``ml-1m.user`` user_id, age, gender,
occupation, zip_code. The .dat files are ``::``-separated Latin-1 text.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from tuner.errors import DataError, at

NAME = "ml-1m"
URL = "https://files.grouplens.org/datasets/movielens/ml-1m.zip"
SHA256 = "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20"
ZIP_NAME = "ml-1m.zip"
DOWNLOAD_TIMEOUT_S = 60

_TITLE_YEAR = re.compile(r"^(.*?)\s*\((\d{4})\)\s*$")


def ensure(root: Path) -> Path:
    """The folder of ml-1m's atomic files under ``root``, converting (and downloading) when missing."""
    folder = root / NAME
    if (folder / f"{NAME}.inter").is_file():
        return folder
    archive = next((p for p in (root / ZIP_NAME, folder / ZIP_NAME) if p.is_file()), None)
    if archive is None:
        archive = _download(root)
    _check_sha256(archive)
    convert(archive, folder)
    return folder


def _where_to_put(root: Path) -> str:
    return (
        f"put {ZIP_NAME} (from {URL}, sha256 {SHA256}) in {root}/, or RecBole's atomic files "
        f"{NAME}.inter, {NAME}.item, {NAME}.user in {root / NAME}/ (the folder is $TUNER_DATA_DIR)"
    )


def _download(root: Path) -> Path:
    target = root / ZIP_NAME
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=ZIP_NAME + ".", suffix=".part", dir=root)
    except OSError as e:
        raise DataError(f"{root}: cannot write the ml-1m download there ({e.strerror}); {_where_to_put(root)}") from None
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(URL, timeout=DOWNLOAD_TIMEOUT_S) as response:
            shutil.copyfileobj(response, out)
        os.replace(tmp, target)
    except (urllib.error.URLError, OSError) as e:
        Path(tmp).unlink(missing_ok=True)
        reason = getattr(e, "reason", None) or e
        raise DataError(f"ml-1m is not in {root} and downloading {URL} failed ({reason}); {_where_to_put(root)}") from None
    return target


def _check_sha256(archive: Path) -> None:
    h = hashlib.sha256()
    with open(archive, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    if h.hexdigest() != SHA256:
        raise DataError(
            at(archive, None, f"sha256 is {h.hexdigest()}, expected {SHA256}: not GroupLens's ml-1m.zip "
               f"(a partial download?); delete it and retry, or {_where_to_put(archive.parent)}")
        )


def convert(archive: Path, folder: Path) -> None:
    """Write ml-1m.inter/.item/.user into ``folder``.

    Each file is written under a temporary name and renamed into place, the .inter last (its presence
    means "converted"), so processes converting at once each leave complete, identical files.
    """
    members = _read_members(archive, ("ratings.dat", "movies.dat", "users.dat"))
    converted = {
        "item": _convert_movies(members["movies.dat"], f"{archive}:movies.dat"),
        "user": _convert_users(members["users.dat"], f"{archive}:users.dat"),
        "inter": _convert_ratings(members["ratings.dat"], f"{archive}:ratings.dat"),
    }
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for suffix, text in converted.items():
            target = folder / f"{NAME}.{suffix}"
            fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=folder)
            try:
                with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
                    f.write(text)
                os.replace(tmp, target)
            finally:
                Path(tmp).unlink(missing_ok=True)
    except OSError as e:
        raise DataError(f"{folder}: cannot write ml-1m's atomic files ({e.strerror})") from None


def _read_members(archive: Path, names: tuple[str, ...]) -> dict[str, str]:
    try:
        with zipfile.ZipFile(archive) as z:
            by_name = {Path(info.filename).name: info for info in z.infolist() if not info.is_dir()}
            missing = [n for n in names if n not in by_name]
            if missing:
                raise DataError(at(archive, None, f"no {missing[0]} inside; expected GroupLens's ml-1m.zip"))
            return {n: z.read(by_name[n]).decode("latin-1") for n in names}
    except zipfile.BadZipFile:
        raise DataError(at(archive, None, "not a zip file; expected GroupLens's ml-1m.zip")) from None


def _fields(text: str, where: str, count: int, what: str):
    for number, line in enumerate(text.splitlines(), start=1):
        if not line:
            continue
        parts = line.split("::")
        if len(parts) != count:
            raise DataError(at(where, number, f"expected {count} '::'-separated fields ({what}), found {len(parts)}"))
        yield number, parts


def _convert_ratings(text: str, where: str) -> str:
    """ratings.dat with "::" turned into tabs; numbers are checked, with line numbers, by the atomic reader."""
    expected = "UserID::MovieID::Rating::Timestamp"
    for number, line in enumerate(text.splitlines(), start=1):  # once per download: a plain loop is fine
        if line and (line.count("::") != 3 or "\t" in line):
            raise DataError(at(where, number, f"expected 4 '::'-separated fields ({expected}), got {line!r}"))
    return "user_id:token\titem_id:token\trating:float\ttimestamp:float\n" + text.replace("::", "\t")


def _convert_movies(text: str, where: str) -> str:
    out = ["item_id:token\tmovie_title:token_seq\trelease_year:token\tgenre:token_seq"]
    for _, (movie, title, genres) in _fields(text, where, 3, "MovieID::Title (Year)::Genres"):
        match = _TITLE_YEAR.match(title)
        name, year = (match.group(1), match.group(2)) if match else (title, "")
        out.append("\t".join((movie, _clean(name), year, genres.replace("|", " "))))
    return "\n".join(out) + "\n"


def _convert_users(text: str, where: str) -> str:
    out = ["user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token"]
    for _, (user, gender, age, occupation, zip_code) in _fields(
        text, where, 5, "UserID::Gender::Age::Occupation::Zip-code"
    ):
        out.append("\t".join((user, age, gender, occupation, zip_code)))
    return "\n".join(out) + "\n"


def _clean(text: str) -> str:
    return " ".join(text.replace("\t", " ").split())
