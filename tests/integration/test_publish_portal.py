"""The Central Portal client against a LOCAL STAND-IN of the Portal Publisher API
(tests/publishing.py: PortalStandIn); the real Portal cannot be reached from here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.publishing import (
    GPG_PASSPHRASE,
    PORTAL_TOKEN_PASSWORD,
    PortalStandIn,
    Project,
    assert_no_secret,
    make_gpg_key,
    make_project,
    store_java,
)

pytestmark = pytest.mark.integration
USER = "portal-user"


def _project(tmp_path: Path, portal: PortalStandIn) -> Project:
    armored, _fpr = make_gpg_key(tmp_path / "keyring")
    p = make_project(tmp_path, portal.toml(), {
        "TEST_PORTAL_USER": USER, "TEST_PORTAL_TOKEN": PORTAL_TOKEN_PASSWORD,
        "TEST_GPG_KEY": armored, "TEST_GPG_PASSPHRASE": GPG_PASSPHRASE})  # fmt: skip
    p.pass_release_tests()
    store_java(p)
    return p


@pytest.fixture
def portal() -> Iterator[PortalStandIn]:
    server = PortalStandIn(USER, PORTAL_TOKEN_PASSWORD)
    server.start()
    yield server
    server.stop()


def test_user_managed_upload_validate_then_publish(portal: PortalStandIn, tmp_path: Path) -> None:
    project = _project(tmp_path, portal)
    plan = project.publish()
    assert plan.returncode == 0, plan.stderr
    items = project.plan()["items"]
    assert [i["phase"] for i in items].count("release") == 1  # the publish step, last
    run = project.publish("--execute")
    assert run.returncode == 0, run.stderr
    [bundle] = portal.uploads
    api = "io/minray/minray-api/0.1.0/minray-api-0.1.0"
    for suffix in (".jar", "-sources.jar", "-javadoc.jar", ".pom"):
        for side in ("", ".asc", ".md5", ".sha1", ".sha256", ".sha512"):
            assert f"{api}{suffix}{side}" in bundle
    assert ("io.minray", "minray-api", "0.1.0") in portal.published
    assert "PUBLISHED" in run.stderr
    again = project.publish("--execute")
    assert again.returncode == 0, again.stderr
    assert "nothing to do" in again.stderr
    assert len(portal.uploads) == 1
    assert_no_secret([plan.stderr, run.stderr, again.stderr, str(project.journal())],
                     [PORTAL_TOKEN_PASSWORD, GPG_PASSPHRASE])  # fmt: skip


def test_failed_validation_shows_the_errors_and_publishes_nothing(
    portal: PortalStandIn, tmp_path: Path
) -> None:
    project = _project(tmp_path, portal)
    portal.force_fail = True
    run = project.publish("--execute")
    assert run.returncode == 18
    assert "Invalid POM: licenses missing" in run.stderr
    assert "not made public" in run.stderr
    assert not portal.published


def test_a_lost_status_poll_is_resolved_by_looking(tmp_path: Path) -> None:
    portal = PortalStandIn(USER, PORTAL_TOKEN_PASSWORD, lose_polls=[2])
    portal.start()
    try:
        project = _project(tmp_path, portal)
        run = project.publish("--execute")
        assert run.returncode == 18
        assert "502" in run.stderr
        journal = project.journal()
        deployment = journal["portal"]["deployment"]
        assert deployment in portal.deployments
        assert "pending" in {e["state"] for e in journal["entries"].values()}
        run = project.publish("--execute")
        assert run.returncode == 0, run.stderr
        assert len(portal.uploads) == 1  # not uploaded again: the journaled one was asked
        assert portal.deployments[deployment]["state"] == "PUBLISHED"
    finally:
        portal.stop()


def test_automatic_publishing_is_one_final_step(portal: PortalStandIn, tmp_path: Path) -> None:
    project = _project(tmp_path, portal)
    toml = project.root / "pyproject.toml"
    toml.write_text(toml.read_text().replace('"USER_MANAGED"', '"AUTOMATIC"'))
    plan = project.publish()
    assert plan.returncode == 0, plan.stderr
    items = project.plan()["items"]
    assert {i["phase"] for i in items} == {"release"}  # the upload itself publishes
    assert not any(i["artifact"].startswith("Portal deployment") for i in items)
    run = project.publish("--execute")
    assert run.returncode == 0, run.stderr
    [deployment] = portal.deployments.values()
    assert deployment["type"] == "AUTOMATIC"
    assert deployment["state"] == "PUBLISHED"
    assert "nothing to do" in project.publish("--execute").stderr
