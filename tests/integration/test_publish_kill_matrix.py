"""The kill matrix (issue 18): a publish to PyPI (pypiserver) and a Maven repository
(Apache httpd + mod_dav, gpg signatures) is killed with SIGKILL, and with SIGTERM, right
after each journaled step in turn; a rerun must then finish it, and what both servers
hold, fetched back over HTTP with every ``.asc`` checked by ``gpg --verify``, must be
exactly the plan. The signal is real; ``tests/killhook`` only picks the moment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.publish_faults import KILLED_RC, check_maven, check_pypi, journal_steps, kill_env
from tests.publishing import (
    GPG_PASSPHRASE,
    MAVEN_PASSWORD,
    PYPI_PASSWORD,
    ApacheDav,
    Project,
    PypiServer,
    make_gpg_key,
    make_project,
    store_java,
    tiny_wheel,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: The journal writes of a fresh publish of a wheel and five Maven files: each Maven file
#: pending and done (stage steps first), the wheel pending, upload started and done, and
#: the run's end.
STEPS = 5 * 2 + 3 + 1


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PypiServer, ApacheDav]]:
    pypi = PypiServer(tmp_path_factory.mktemp("pypiserver"))
    dav = ApacheDav()
    pypi.start()
    dav.start()
    yield pypi, dav
    pypi.stop()
    dav.stop()


@pytest.fixture(scope="module")
def gpg_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    home = tmp_path_factory.mktemp("gpg") / "keyring"
    armored, _fpr = make_gpg_key(home)
    return armored, home


def _project(base: Path, servers: tuple[PypiServer, ApacheDav], key: str, version: str) -> Project:
    pypi, dav = servers
    toml = pypi.toml().replace('["pypi"]', '["pypi", "maven"]') + dav.toml().split("\n", 2)[2]
    p = make_project(base, toml, {"BUILD_SUPPORT_PYPI_PASSWORD": PYPI_PASSWORD,
                                  "TEST_MAVEN_USER": dav.username,
                                  "TEST_MAVEN_PASSWORD": MAVEN_PASSWORD,
                                  "TEST_GPG_KEY": key})  # fmt: skip
    (p.root / "gpg-passphrase.txt").write_text(GPG_PASSPHRASE)
    p.pass_release_tests()
    p.put_wheel(tiny_wheel(base / "built", "minray", version, p.sha))
    store_java(p, version)
    return p


def test_the_matrix_has_every_journaled_step(
    tmp_path: Path, servers: tuple[PypiServer, ApacheDav], gpg_key: tuple[str, Path]
) -> None:
    p = _project(tmp_path, servers, gpg_key[0], "1.9.0")
    run = p.publish("--execute")
    assert run.returncode == 0, run.stderr
    assert journal_steps(p) == STEPS


@pytest.mark.parametrize("sig", ["KILL", "TERM"])
@pytest.mark.parametrize("step", range(1, STEPS + 1))
def test_killed_at_a_journaled_step_the_rerun_publishes_exactly_the_plan(
    tmp_path: Path,
    servers: tuple[PypiServer, ApacheDav],
    gpg_key: tuple[str, Path],
    sig: str,
    step: int,
) -> None:
    pypi, dav = servers
    version = f"1.{0 if sig == 'KILL' else 1}.{step}"
    p = _project(tmp_path, servers, gpg_key[0], version)
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
    assert {e["state"] for e in p.journal()["entries"].values()} <= {"done", "skipped"}
