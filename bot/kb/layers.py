"""Where the knowledge comes from: the bundled base first, then a team's directories on top.

    resolve_layers()                          # the bundled knowledge alone
    resolve_layers([Path("team-kb")])         # bundled, then team-kb
    resolve_layers([Path("kb")], bundled=False)
    layers_from_env(os.environ)               # $PLATBOT_KNOWLEDGE, $PLATBOT_NO_BUNDLED

A later layer wins: a topic with the same id replaces the one below it, a new id adds a topic,
and the vocabulary and messages merge (bot/kb/load.py). The bundled base travels with the
package (`bot/knowledge` in an installed wheel, `knowledge/` beside `bot/` in a checkout), so
platbot finds it from any directory in any install.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.errors import KnowledgeError

BUNDLED = "bundled"
ENV_KNOWLEDGE = "PLATBOT_KNOWLEDGE"  # directories, separated as PATH is (':' here)
ENV_NO_BUNDLED = "PLATBOT_NO_BUNDLED"  # 1/true/yes: the given directories alone


def bundled_root() -> Path:
    """The knowledge base that ships with platbot."""
    package = Path(__file__).resolve().parents[1]
    installed = package / "knowledge"  # the wheel puts knowledge/ inside the package
    return installed if installed.is_dir() else package.parent / "knowledge"  # a source checkout


@dataclass(frozen=True)
class Layer:
    root: Path  # the real path, symlinks resolved
    name: str  # how people know it: "bundled", or the directory as they gave it


@dataclass(frozen=True)
class Layers:
    """Knowledge directories, lowest first: each may replace or add to those below it."""

    layers: tuple[Layer, ...]

    @property
    def roots(self) -> tuple[Path, ...]:
        return tuple(layer.root for layer in self.layers)

    @property
    def top(self) -> Layer:
        """The layer a change is written to (`platbot tune`): the team's own, if there is one."""
        return self.layers[-1]

    def describe(self) -> str:
        """`bundled + team-kb`, for one-line summaries."""
        return " + ".join(layer.name for layer in self.layers)

    @classmethod
    def single(cls, root: Path) -> Layers:
        """Exactly `root`, nothing under it: what a function given one directory means."""
        return resolve_layers([root], bundled=False)


def resolve_layers(dirs: Sequence[Path | str] = (), *, bundled: bool = True) -> Layers:
    """The layers for `dirs`, the bundled base first unless `bundled` is False. Each directory
    must exist and be readable (a one-line KnowledgeError says which does not); a directory
    given twice, or the bundled one given again, counts once, at its first place."""
    wanted = [(bundled_root(), BUNDLED)] if bundled else []
    wanted += [(Path(d), str(d)) for d in dirs]
    if not wanted:
        raise KnowledgeError("no knowledge directory: give one, or leave the bundled knowledge on")
    layers: list[Layer] = []
    for path, name in wanted:
        real = resolve_root(path)
        if real not in (layer.root for layer in layers):
            layers.append(Layer(real, name))
    return Layers(tuple(layers))


def layers_from_env(
    env: Mapping[str, str], dirs: Sequence[Path | str] | None = None, *, no_bundled: bool = False
) -> Layers:
    """The layers a command line asks for: `dirs` (from --knowledge) if any, else
    $PLATBOT_KNOWLEDGE; the bundled base under them unless --no-bundled or $PLATBOT_NO_BUNDLED."""
    if not dirs:
        dirs = [d for d in (env.get(ENV_KNOWLEDGE) or "").split(os.pathsep) if d.strip()]
    off = no_bundled or (env.get(ENV_NO_BUNDLED) or "").strip().lower() in ("1", "true", "yes", "on")
    return resolve_layers(dirs, bundled=not off)


def resolve_root(root: Path) -> Path:
    """The real path of the knowledge directory `root`, or a one-line KnowledgeError saying why
    it cannot be used (missing, a symlink loop, unreadable)."""
    try:
        real = Path(os.path.realpath(root, strict=True))
        with os.scandir(real):
            pass
    except (FileNotFoundError, NotADirectoryError):
        raise KnowledgeError(f"knowledge directory not found: {root}") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise KnowledgeError(f"knowledge directory is a symlink loop: {root}") from None
        raise KnowledgeError(f"knowledge directory cannot be read ({exc.strerror}): {root}") from None
    return real
