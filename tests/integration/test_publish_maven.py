"""The publish stage's Maven target: gpg signatures and checksums, a Maven repository over
HTTP PUT (Apache httpd + mod_dav from Debian, basic auth) on loopback, resolved back with
``mvn dependency:get`` and verified with ``gpg --verify``."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.publishing import (
    GPG_PASSPHRASE,
    MAVEN_PASSWORD,
    ApacheDav,
    GpgKey,
    Project,
    assert_no_secret,
    make_project,
    store_java,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def project(tmp_path: Path, dav: ApacheDav, gpg_key: GpgKey) -> Project:
    armored, _fpr, _home = gpg_key
    p = make_project(tmp_path, dav.toml(), {"TEST_MAVEN_USER": dav.username,
                                            "TEST_MAVEN_PASSWORD": MAVEN_PASSWORD,
                                            "TEST_GPG_KEY": armored})  # fmt: skip
    (p.root / "gpg-passphrase.txt").write_text(GPG_PASSPHRASE)
    p.pass_release_tests()
    return p


def _verify(home: Path, path: Path) -> None:
    subprocess.run(["gpg", "--batch", "--homedir", str(home), "--verify", f"{path}.asc",
                    str(path)], check=True, capture_output=True)  # fmt: skip


def _mvn_get(repo_url: str, user: str, artifact: str, local: Path) -> None:
    settings = local.parent / "settings.xml"
    settings.write_text(
        "<settings><servers><server><id>under-test</id>"
        f"<username>{user}</username><password>{MAVEN_PASSWORD}</password>"
        "</server></servers></settings>"
    )
    subprocess.run(
        ["mvn", "-B", "-q", "-s", str(settings), f"-Dmaven.repo.local={local}",
         "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:get", f"-Dartifact={artifact}",
         "-Dtransitive=false", f"-DremoteRepositories=under-test::default::{repo_url}"],
        check=True, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_release_to_a_maven_repository_then_resolved_by_maven(
    project: Project, dav: ApacheDav, gpg_key: GpgKey, tmp_path: Path
) -> None:
    armored, _fpr, home = gpg_key
    names = store_java(project)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    plan = project.publish()
    assert plan.returncode == 0, plan.stderr
    assert {i["action"] for i in project.plan()["items"]} == {"send"}
    assert not dav.puts()
    run = project.publish("--execute", env={"TMPDIR": str(scratch)})
    assert run.returncode == 0, run.stderr
    home_used = run.stderr.split("temporary GNUPGHOME ", 1)[1].split()[0]
    assert not Path(home_used).exists()
    assert not list(scratch.iterdir())  # the imported keyring and every temporary are gone
    version_dir = dav.path("releases/io/minray/minray-api/0.1.0")
    for name in names:
        directory = version_dir if "api" in name else dav.path(
            "releases/io/minray/minray-parent/0.1.0")  # fmt: skip
        published = directory / name
        stored = project.store.root / "jars" / "main" / project.sha / "linux" / name
        assert published.read_bytes() == stored.read_bytes()
        _verify(home, published)
        for algorithm in ("md5", "sha1", "sha256", "sha512"):
            side = (directory / f"{name}.{algorithm}").read_text()
            assert side == hashlib.new(algorithm, published.read_bytes()).hexdigest()
    assert "<version>0.1.0</version>" in dav.path(
        "releases/io/minray/minray-api/maven-metadata.xml").read_text()  # fmt: skip

    local = tmp_path / "m2" / "repository"
    local.mkdir(parents=True)
    _mvn_get(f"{dav.url}/releases", dav.username, "io.minray:minray-api:0.1.0", local)
    _mvn_get(f"{dav.url}/releases", dav.username, "io.minray:minray-api:0.1.0:jar.asc", local)
    resolved = local / "io/minray/minray-api/0.1.0/minray-api-0.1.0.jar"
    assert resolved.read_bytes() == (version_dir / "minray-api-0.1.0.jar").read_bytes()
    _verify(home, resolved)

    again = project.publish("--execute")
    assert again.returncode == 0, again.stderr
    assert "nothing to do" in again.stderr
    journal = (project.store.root / "publish" / project.sha / "journal.json").read_text()
    assert_no_secret([plan.stderr, run.stderr, run.stdout, again.stderr, journal,
                      str(project.plan())],
                     [MAVEN_PASSWORD, GPG_PASSPHRASE, armored.splitlines()[3]])  # fmt: skip


def test_snapshot_timestamped_layout(project: Project, dav: ApacheDav, tmp_path: Path,
                                     gpg_key: GpgKey) -> None:  # fmt: skip
    store_java(project, "0.2.0-SNAPSHOT")
    run = project.publish("--execute")
    assert run.returncode == 0, run.stderr
    version_dir = dav.path("snapshots/io/minray/minray-api/0.2.0-SNAPSHOT")
    metadata = (version_dir / "maven-metadata.xml").read_text()
    assert "<buildNumber>1</buildNumber>" in metadata
    jars = sorted(p.name for p in version_dir.glob("minray-api-0.2.0-*.jar"))
    assert len(jars) == 3
    assert all("-1" in n and "SNAPSHOT" not in n for n in jars)
    local = tmp_path / "m2" / "repository"
    local.mkdir(parents=True)
    _mvn_get(f"{dav.url}/snapshots", dav.username, "io.minray:minray-api:0.2.0-SNAPSHOT", local)
    got = next((local / "io/minray/minray-api/0.2.0-SNAPSHOT").glob("minray-api-0.2.0-*.jar"))
    stored = project.store.root / "jars/main" / project.sha / "linux/minray-api-0.2.0-SNAPSHOT.jar"
    assert got.read_bytes() == stored.read_bytes()
    again = project.publish("--execute")
    assert "nothing to do" in again.stderr, again.stderr


def test_a_release_file_with_other_bytes_is_refused(project: Project, dav: ApacheDav) -> None:
    store_java(project)
    target = dav.path("releases/io/minray/minray-api/0.1.0/minray-api-0.1.0.jar")
    target.parent.mkdir(parents=True)
    target.write_bytes(b"PK-not-ours")
    if os.geteuid() == 0:
        os.chown(target, 33, 33)
    run = project.publish("--execute")
    assert run.returncode == 16
    assert hashlib.sha256(b"PK-not-ours").hexdigest() in run.stderr
    assert not dav.puts()


def test_missing_javadoc_is_refused_before_anything_is_sent(
    project: Project, dav: ApacheDav
) -> None:
    store_java(project, javadoc=False)
    plan = project.publish()
    assert "minray-api-0.1.0-javadoc.jar: missing" in plan.stderr
    run = project.publish("--execute")
    assert run.returncode == 13
    assert "javadoc" in run.stderr
    assert not dav.puts()


def test_a_failed_stage_step_leaves_nothing_public(
    tmp_path: Path, dav: ApacheDav, gpg_key: GpgKey
) -> None:
    """Maven's upload (a stage step) fails, so the PyPI uploads (final) never start."""
    from tests.publishing import PYPI_PASSWORD, PypiServer, tiny_wheel

    pypi = PypiServer(tmp_path / "pypi")
    pypi.start()
    try:
        toml = pypi.toml().replace('["pypi"]', '["pypi", "maven"]') + dav.toml().split("\n", 2)[2]
        p = make_project(tmp_path, toml, {
            "BUILD_SUPPORT_PYPI_PASSWORD": PYPI_PASSWORD, "TEST_MAVEN_USER": dav.username,
            "TEST_MAVEN_PASSWORD": MAVEN_PASSWORD, "TEST_GPG_KEY": gpg_key[0]})  # fmt: skip
        (p.root / "gpg-passphrase.txt").write_text(GPG_PASSPHRASE)
        p.pass_release_tests()
        p.put_wheel(tiny_wheel(tmp_path / "w", "minray", "0.1.0", p.sha))
        store_java(p)
        dav.path("releases").write_text("a file where the releases collection would go")
        run = p.publish("--execute")
        assert run.returncode == 18, run.stderr
        assert "minray-api-0.1.0-javadoc.jar answered 400" in run.stderr, run.stderr
        assert "minray-0.1.0-py3-none-any.whl (not made public: an earlier step failed)" in (
            run.stderr
        )
        assert not list(pypi.packages.iterdir())
        assert not pypi.uploads()
    finally:
        pypi.stop()


def test_killed_mid_upload_resumes_without_uploading_twice(
    project: Project, dav: ApacheDav, tmp_path: Path
) -> None:
    import signal
    import time

    names = store_java(project)
    with (tmp_path / "killed.log").open("w") as out:
        proc = project.spawn("--execute", stdout=out)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            entries = project.journal().get("entries", {})
            if sum(e["state"] == "done" for e in entries.values()) >= 2:
                break
            assert proc.poll() is None, (tmp_path / "killed.log").read_text()
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    done_at_kill = {e["name"] for e in project.journal()["entries"].values()
                    if e["state"] == "done"}  # fmt: skip
    assert 2 <= len(done_at_kill) < len(names), "the kill came too late to test a resume"

    run = project.publish("--execute")
    assert run.returncode == 0, run.stderr
    puts = dav.puts()
    for name in names:  # each main file PUT once; only one in flight at the kill may repeat
        count = sum(f"/{name} HTTP/1.1 201" in line for line in puts)
        assert count == 1 if name in done_at_kill else count in (1, 2), (name, count)
    actions = {i["artifact"]: i["action"] for i in project.plan()["items"]}
    assert all(actions[n] == "skip" for n in done_at_kill)
    assert "nothing to do" in project.publish("--execute").stderr


#: Accepted PUTs in a fresh release of store_java's five files, in plan order: the
#: javadoc JAR's set is PUTs 1-6 (file, .asc, .md5, .sha1, .sha256, .sha512); the api
#: POM's is 19-29 (file, .asc, four checksums, maven-metadata.xml and its four checksums).
MEMBER_BOUNDARIES = [1, 2, 3, 4, 5, 19, 20, 24, 25, 27]


@pytest.mark.parametrize("put", MEMBER_BOUNDARIES)
def test_killed_between_members_of_a_set_the_rerun_completes_it(
    project: Project, dav: ApacheDav, gpg_key: GpgKey, put: int
) -> None:
    """SIGKILL right after the n-th PUT (e.g. a JAR there, its .asc not yet): the rerun
    finds the file with our bytes but the set incomplete, sends only what is missing, and
    the repository ends with every file, checksum, signature and metadata (issue 18.1)."""
    from tests.publish_faults import check_maven, kill_env

    store_java(project)
    killed = project.publish("--execute", env=kill_env("put", put, "KILL"))
    assert killed.returncode == -9, killed.stderr
    deadline = time.monotonic() + 10  # Apache logs a request after it has answered it
    while sum(" 20" in line.rsplit("HTTP/1.1", 1)[1] for line in dav.puts()) < put:
        assert time.monotonic() < deadline, dav.puts()
        time.sleep(0.05)
    assert sum(" 20" in line.rsplit("HTTP/1.1", 1)[1] for line in dav.puts()) == put
    run = project.publish("--execute")
    assert run.returncode == 0, run.stderr
    assert "incomplete set, completing" in run.stderr, run.stderr
    completed = next(i for i in project.plan()["items"] if i["action"] == "send"
                     and "incomplete set" in i["reason"])  # fmt: skip
    assert completed["artifact"] == ("minray-api-0.1.0-javadoc.jar" if put < 7
                                     else "minray-api-0.1.0.pom")  # fmt: skip
    assert check_maven(project, dav, gpg_key[2], "0.1.0") == 5
    # The file itself was not sent again: only the members it lacked.
    assert sum(f"/{completed['artifact']} HTTP/1.1 20" in line for line in dav.puts()) == 1
    again = project.publish("--execute")
    assert "nothing to do" in again.stderr, again.stderr
