"""Keep the built matcher on disk so `platbot ask` skips parsing YAML and indexing.

Parsing and indexing the knowledge base are most of the CLI's start-up (about 120 of
250 ms). The cache holds the result, keyed by a fingerprint of every knowledge file and of
platbot's own matching code (name, size, modification time), so any edit rebuilds it.

It lives in the user's own cache directory (`$PLATBOT_CACHE_DIR`, else
`$XDG_CACHE_HOME/platbot`, else `~/.cache/platbot`), written atomically with mode 0600.
Every failure (unwritable directory, corrupt or foreign file) falls back to building in
memory: the cache can make platbot faster, never wrong or broken.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from pathlib import Path

from bot import __version__
from bot.errors import KnowledgeError, Problem
from bot.kb.load import (
    DECLINED_FILE,
    MESSAGES_FILE,
    TUNING_FILE,
    VOCABULARY_FILE,
    default_root,
    load_knowledge,
    topic_files,
)
from bot.kb.model import KnowledgeBase
from bot.matcher import Matcher

_CODE = Path(__file__).resolve().parent
_CODE_FILES = (
    "matcher.py",
    "normalize.py",
    "spelling.py",
    "classifier.py",
    "calibration.py",
    "triage.py",
    "kb/model.py",
    "kb/load.py",
)


def cache_dir() -> Path | None:
    """Where the index is kept; None when there is no home to keep it in (some containers)."""
    if env := os.environ.get("PLATBOT_CACHE_DIR"):
        return Path(env)
    if xdg := os.environ.get("XDG_CACHE_HOME"):
        return Path(xdg) / "platbot"
    try:
        return Path.home() / ".cache" / "platbot"
    except (RuntimeError, KeyError):
        return None


def fingerprint(root: Path) -> str:
    digest = hashlib.sha256(__version__.encode())
    files = [root / name for name in (VOCABULARY_FILE, MESSAGES_FILE, DECLINED_FILE, TUNING_FILE)]
    files += topic_files(root)
    files += [_CODE / name for name in _CODE_FILES]
    for path in files:
        try:
            stat = path.stat()
        except OSError:
            continue
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def load_matcher(root: Path | None = None) -> tuple[KnowledgeBase, list[Problem], Matcher]:
    """The knowledge base, its load problems and a matcher: from the cache when fresh.

    Problems are left for the caller to report (the CLI prints them, the Slack app logs
    them); a knowledge base with no valid topic at all is an error.
    """
    root = (Path(root) if root is not None else default_root()).resolve()
    if not root.is_dir():
        raise KnowledgeError(f"knowledge directory not found: {root}")
    key = fingerprint(root)
    directory = cache_dir()
    # One file per knowledge directory: an edit replaces the stale index instead of adding one.
    path = directory / f"index-{hashlib.sha256(str(root).encode()).hexdigest()[:16]}.pickle" if directory else None
    cached = _read(path, key) if path else None
    if cached is not None:
        return cached
    kb, problems = load_knowledge(root)
    if not kb.topics:
        raise KnowledgeError(f"no valid topics in {kb.root}")
    built = (kb, problems, Matcher(kb))
    if path:
        _write(path, key, built)
    return built


def _read(path: Path, key: str) -> tuple[KnowledgeBase, list[Problem], Matcher] | None:
    try:
        with path.open("rb") as file:
            stored_key, value = pickle.load(file)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError):
        return None
    return value if stored_key == key else None


def _write(path: Path, key: str, value: object) -> None:
    tmp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".index-", delete=False) as tmp:
            tmp_name = tmp.name
            os.chmod(tmp_name, 0o600)
            pickle.dump((key, value), tmp, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp_name, path)
    except OSError:
        # Read-only home, full disk: build in memory next time too.
        if tmp_name is not None:
            Path(tmp_name).unlink(missing_ok=True)
