"""The kill matrix (issue 18): a publish to PyPI (pypiserver), a Maven repository
(Apache httpd + mod_dav, gpg signatures) and a Docker registry (Debian's docker-registry,
pushed through the real dockerd) is killed with SIGKILL, and with SIGTERM, right after
each journaled step in turn; a rerun must then finish it, and what the three servers
hold, fetched back over HTTP (every ``.asc`` checked by ``gpg --verify``, every image blob
by its digest), must be exactly the plan. The signal is real; ``tests/killhook`` only
picks the moment. One set of servers and one base image serve every kill point."""

from __future__ import annotations

import datetime as dt
import functools
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from build_support import manifests
from build_support.images import tags as imagetags
from tests.publish_faults import (
    KILLED_RC,
    check_maven,
    check_pypi,
    check_registry,
    journal_steps,
    kill_env,
)
from tests.publishing import (
    DOCKER,
    GPG_PASSPHRASE,
    MAVEN_PASSWORD,
    PYPI_PASSWORD,
    REGISTRY_PASSWORD,
    ApacheDav,
    DockerRegistry,
    Project,
    PypiServer,
    docker_build,
    make_gpg_key,
    make_project,
    store_java,
    tiny_wheel,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.docker]

#: The journal writes of a fresh publish of a wheel, nine Maven files (five, plus each of
#: the two modules' CycloneDX SBOM and provenance statement) and one image under two tags
#: (its immutable commit tag and the moving ``nightly``): each Maven file and each tag
#: pending and done, the wheel pending, upload started and done, and the run's end.
STEPS = 9 * 2 + 2 * 2 + 3 + 1
#: Unique per test process: a concurrent run never touches these repositories.
NS = f"killmatrix-{uuid.uuid4().hex[:8]}"

Servers = tuple[PypiServer, ApacheDav, DockerRegistry]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    pypi = PypiServer(tmp_path_factory.mktemp("pypiserver"))
    dav = ApacheDav()
    registry = DockerRegistry(tmp_path_factory.mktemp("docker") / "registry")
    pypi.start()
    dav.start()
    registry.start()
    yield pypi, dav, registry
    pypi.stop()
    dav.stop()
    registry.stop()


@pytest.fixture(scope="module")
def base_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    """A small image built once (its layer is shared by every kill point), and the list
    the per-point images are added to; all are removed from the engine at the end."""
    ctx = tmp_path_factory.mktemp("image")
    (ctx / "app.txt").write_text(f"app {uuid.uuid4().hex}\n")
    local = f"{NS}-base:x86_64"  # BuildKit's FROM takes names, not IDs
    subprocess.run([DOCKER, "tag", docker_build(ctx, "FROM scratch\nCOPY app.txt /app.txt\n"),
                    local], check=True)  # fmt: skip
    made: list[str] = []
    yield local, made
    subprocess.run([DOCKER, "rmi", "-f", local, *made], capture_output=True, check=False)


@pytest.fixture(scope="module")
def gpg_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    home = tmp_path_factory.mktemp("gpg") / "keyring"
    armored, _fpr = make_gpg_key(home)
    return armored, home


def _project(
    base: Path, servers: Servers, key: str, image: tuple[str, list[str]], version: str
) -> Project:
    """A commit with a wheel and the Maven files of ``version`` in its store, and its
    product image (the shared base, labelled with the commit) recorded in images.json,
    published to a registry namespace of its own."""
    pypi, dav, registry = servers
    namespace = f"{NS}-{version.replace('.', '-')}"
    toml = (pypi.toml().replace('["pypi"]', '["pypi", "docker", "maven"]')
            + registry.toml(namespace, ["minray"]).split("\n", 2)[2]
            + dav.toml().split("\n", 2)[2])  # fmt: skip
    p = make_project(base, toml, {"BUILD_SUPPORT_PYPI_PASSWORD": PYPI_PASSWORD,
                                  "TEST_MAVEN_USER": dav.username,
                                  "TEST_MAVEN_PASSWORD": MAVEN_PASSWORD,
                                  "TEST_GPG_KEY": key,
                                  "TEST_REGISTRY_USER": registry.username,
                                  "TEST_REGISTRY_PASSWORD": REGISTRY_PASSWORD})  # fmt: skip
    (p.root / "gpg-passphrase.txt").write_text(GPG_PASSPHRASE)
    p.pass_release_tests()
    p.put_wheel(tiny_wheel(base / "built", "minray", version, p.sha))
    store_java(p, version)
    local, made = image
    image_id = docker_build(base / "image", f"FROM {local}\nLABEL "
                            f"org.opencontainers.image.revision={p.sha}\n")  # fmt: skip
    made.append(image_id)
    immutable = imagetags.image_tags(imagetags.TagInputs(
        branch="main", sha=p.sha, pr_number=None, date=dt.date(2026, 12, 6), python="3.11",
        flavor="cpu", arch="x86_64", default_branch="main", default_python="3.11"))[0]  # fmt: skip
    row = manifests.ImageRow(
        name="minray", image_id=image_id, built=True, input_digest=p.sha, commit=p.sha,
        refs=(f"{namespace}/minray:{immutable}", f"{namespace}/minray:nightly"),
        python="3.11", flavor="cpu", arch="x86_64", base="scratch", version=version)  # fmt: skip
    manifests.write(manifests.images_path(p.root / "dist"), manifests.ImagesManifest(images=(row,)))
    p.attest_image(row)  # its SBOM and signed statement, as the images stage writes them
    return p


@pytest.fixture
def new_project(
    tmp_path: Path, servers: Servers, gpg_key: tuple[str, Path], base_image: tuple[str, list[str]]
) -> Callable[[str], Project]:
    """``new_project(version)``: :func:`_project` in this test's ``tmp_path``."""
    return functools.partial(_project, tmp_path, servers, gpg_key[0], base_image)


def test_the_matrix_has_every_journaled_step(
    servers: Servers, new_project: Callable[[str], Project]
) -> None:
    p = new_project("1.9.0")
    run = p.publish("--execute")
    assert run.returncode == 0, run.stderr
    assert journal_steps(p) == STEPS
    assert {i["target"] for i in p.plan()["items"]} == {"pypi", "maven", "docker"}
    assert check_registry(p, servers[2]) == 2
    # As a user would: pull the commit tag back by digest, and it is the planned image.
    registry = servers[2]
    item = next(i for i in p.plan()["items"] if i["phase"] == "stage" and i["target"] == "docker")
    repo, tag = item["destination"].split("/", 1)[1].rsplit(":", 1)
    digest, _ = registry.manifest(repo, tag)
    registry.docker("pull", f"{registry.host}/{repo}@{digest}")
    pulled = registry.docker("image", "inspect", "--format", "{{.Id}}",
                             f"{registry.host}/{repo}@{digest}")  # fmt: skip
    assert pulled == item["sha256"]


@pytest.mark.parametrize("sig", ["KILL", "TERM"])
@pytest.mark.parametrize("step", range(1, STEPS + 1))
def test_killed_at_a_journaled_step_the_rerun_publishes_exactly_the_plan(
    servers: Servers,
    gpg_key: tuple[str, Path],
    new_project: Callable[[str], Project],
    sig: str,
    step: int,
) -> None:
    pypi, dav, registry = servers
    version = f"1.{0 if sig == 'KILL' else 1}.{step}"
    p = new_project(version)
    killed = p.publish("--execute", env=kill_env("journal", step, sig))
    assert killed.returncode == KILLED_RC[sig], killed.stderr
    assert journal_steps(p) == step, "the signal came at another step"
    if sig == "TERM":
        assert "terminated (SIGTERM); cleaned up" in killed.stderr

    run = p.publish("--execute")
    assert run.returncode == 0, run.stderr
    assert {i["action"] for i in p.plan()["items"]} <= {"send", "skip"}
    assert check_maven(p, dav, gpg_key[1], version) == 5
    assert check_pypi(p, pypi, version) == 1
    assert check_registry(p, registry) == 2
    assert {e["state"] for e in p.journal()["entries"].values()} <= {"done", "skipped"}
