"""Helpers for the data tests."""

from pathlib import Path


def write_atomic(folder: Path, name: str, inter: str, item: str | None = None, user: str | None = None) -> Path:
    """Write a tiny RecBole dataset folder; texts use '|' for tabs to stay readable in tests."""
    folder.mkdir(parents=True, exist_ok=True)
    for suffix, text in (("inter", inter), ("item", item), ("user", user)):
        if text is not None:
            (folder / f"{name}.{suffix}").write_text(text.replace("|", "\t"))
    return folder
