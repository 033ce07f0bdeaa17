"""`platbot init DIR`: a team knowledge directory to layer over the bundled one.

The files come from the bundled knowledge's `.starter/` folder (a hidden folder, so the
loader never reads it as an area): a README, one example topic in both languages, its area's
name, a vocabulary entry and an eval file. As created, the directory passes `platbot check`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from bot.errors import PlatbotError
from bot.kb.layers import bundled_root

STARTER = ".starter"


class ScaffoldError(PlatbotError):
    """The directory cannot be made into a knowledge layer."""


def starter_root() -> Path:
    return bundled_root() / STARTER


def scaffold(directory: Path) -> list[Path]:
    """Copy the starter files into `directory` (new, or empty); return the files created."""
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ScaffoldError(f"{directory} exists and is not an empty directory: give a new one")
    source = starter_root()
    if not source.is_dir():
        raise ScaffoldError(f"the starter files are missing from this install ({source})")
    try:
        shutil.copytree(source, directory, dirs_exist_ok=True)
    except OSError as exc:
        raise ScaffoldError(f"cannot create {directory}: {exc.strerror or exc}") from None
    return sorted(path for path in directory.rglob("*") if path.is_file())
