"""The wheel carries its knowledge: built, checked, installed in a fresh venv, asked from `/`."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
QUESTION = "how do I schedule jobs on ECS?"


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel, built as a release would be, without a network (the build
    backend is the test environment's own setuptools)."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out


@pytest.fixture(scope="module")
def installed(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with only the wheel installed in it; the dependencies come from the test
    environment through a .pth file (installing them would need the network)."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    [wheel] = dist.glob("*.whl")
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    return env_dir


def run_platbot(env_dir: Path, *args: str, cwd: Path = Path("/")) -> subprocess.CompletedProcess[str]:
    home = env_dir / "home"
    home.mkdir(exist_ok=True)
    environment = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "LANG": "C.UTF-8"}
    return subprocess.run(
        [str(env_dir / "bin" / "platbot"), *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_twine_accepts_both_distributions(dist: Path) -> None:
    files = sorted(str(path) for path in dist.iterdir())
    done = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *files], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(Path(f).suffix for f in files) == [".gz", ".whl"]


def test_the_wheel_holds_every_module_and_knowledge_file_once(dist: Path) -> None:
    [wheel] = dist.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    modules = {p.relative_to(REPO).as_posix() for p in (REPO / "bot").rglob("*.py") if "knowledge" not in p.parts}
    knowledge = {
        "bot/knowledge/" + p.relative_to(REPO / "knowledge").as_posix()
        for p in (REPO / "knowledge").rglob("*")
        if p.is_file() and p.suffix in (".yaml", ".md")
    }
    assert modules <= set(names)
    assert knowledge == {n for n in names if n.startswith("bot/knowledge/")}
    assert len(names) == len(set(names))


def test_the_installed_command_answers_from_the_root_directory(installed: Path) -> None:
    done = run_platbot(installed, "ask", QUESTION)

    assert done.returncode == 0, done.stderr
    assert "EventBridge Scheduler" in done.stdout
    assert "site-packages" not in done.stderr  # no warning about a missing knowledge directory


def test_a_team_layer_works_in_an_installed_copy(installed: Path, tmp_path: Path) -> None:
    team = tmp_path / "team-kb"
    assert run_platbot(installed, "init", str(team)).returncode == 0

    done = run_platbot(installed, "--knowledge", str(team), "ask", "what's the paved road for a new service?")

    assert done.returncode == 0, done.stderr
    assert "This is an example topic" in done.stdout
