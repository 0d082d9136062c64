"""The publish stage's Docker target against Debian's docker-registry (htpasswd) on loopback."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from build_support import manifests, platforms
from build_support.images import tags as imagetags
from tests.publishing import (
    DOCKER,
    REGISTRY_PASSWORD,
    DockerRegistry,
    Project,
    assert_no_secret,
    docker_build,
    make_project,
)

pytestmark = [pytest.mark.integration, pytest.mark.docker]
#: Unique per test process: a concurrent run of this suite never touches these tags.
NS = f"minraytest-{uuid.uuid4().hex[:8]}"


def _tags(sha: str, arch: platforms.Arch = "x86_64") -> list[str]:
    return imagetags.image_tags(imagetags.TagInputs(
        branch="main", sha=sha, pr_number=None, date=dt.date(2026, 11, 26), python="3.11",
        flavor="cpu", arch=arch, default_branch="main", default_python="3.11"))  # fmt: skip


def _images(
    project: Project, tmp: Path, arches: tuple[platforms.Arch, ...], *, big: int = 0
) -> list[str]:
    """base-deps and minray images of the commit (FROM scratch), recorded in images.json;
    ``big``: bytes of random data in the first minray image (a slow push)."""
    rows: list[manifests.ImageRow] = []
    made: list[str] = []
    nonce = uuid.uuid4().hex
    for arch in arches:
        platform = "linux/amd64" if arch == "x86_64" else "linux/arm64"
        ctx = tmp / f"ctx-{arch}"
        ctx.mkdir(parents=True)
        (ctx / "base.txt").write_text(f"base {nonce} {arch}\n")
        (ctx / "app.txt").write_text(f"app {nonce} {arch}\n")
        if big and arch == arches[0]:
            (ctx / "app.txt").write_bytes(os.urandom(big))
        base = docker_build(ctx, "FROM scratch\nCOPY base.txt /base.txt\n", platform=platform)
        local = f"publish-test-base-{nonce}:{arch}"  # BuildKit's FROM takes names, not IDs
        subprocess.run([DOCKER, "tag", base, local], check=True)
        product = docker_build(ctx, f"FROM {local}\nCOPY app.txt /app.txt\nLABEL "
                               f"org.opencontainers.image.revision={project.sha}\n",
                               platform=platform)  # fmt: skip
        for name, image_id in (("base-deps", base), ("minray", product)):
            refs = tuple(f"{NS}/{name}:{t}" for t in _tags(project.sha, arch))
            for ref in refs:  # as the images stage leaves them
                subprocess.run([DOCKER, "tag", image_id, ref], check=True)
            rows.append(manifests.ImageRow(
                name=name, image_id=image_id, refs=refs, built=True, input_digest=nonce,
                commit=project.sha, python="3.11", flavor="cpu", arch=arch, base="scratch",
                version="0.1.0"))  # fmt: skip
            made.append(image_id)
    manifests.write(manifests.images_path(project.root / "dist"),
                    manifests.ImagesManifest(images=tuple(rows)))  # fmt: skip
    for row in rows:  # as the images stage leaves them
        project.attest_image(row)
    return made


@pytest.fixture
def project(tmp_path: Path, registry: DockerRegistry) -> Iterator[Project]:
    p = make_project(tmp_path, registry.toml(NS, ["base-deps", "minray"]),
                     {"TEST_REGISTRY_USER": registry.username,
                      "TEST_REGISTRY_PASSWORD": REGISTRY_PASSWORD})  # fmt: skip
    p.pass_release_tests()
    yield p
    _remove_images(registry)


def _remove_images(registry: DockerRegistry) -> None:
    names = subprocess.run([DOCKER, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"],
                           capture_output=True, text=True, check=False).stdout.split()  # fmt: skip
    ours = [n for n in names if n.startswith((f"{NS}/", "publish-test-base-", registry.host))]
    if ours:
        subprocess.run([DOCKER, "rmi", "-f", *ours], capture_output=True, check=False)


def publish_and_pull_back(
    project: Project, registry: DockerRegistry, base_id: str, product_id: str
) -> tuple[subprocess.CompletedProcess[str], ...]:
    """Plan, ``--execute``, check every pushed tag by digest and pull one back, publish
    again (nothing to do). Returns the three runs (plan, execute, again)."""
    plan = project.publish()
    assert plan.returncode == 0, plan.stderr
    items = project.plan()["items"]
    assert len(items) == 16
    assert {i["action"] for i in items} == {"send"}
    assert {i["commit"] for i in items} == {project.sha}  # base-deps: via the product on it
    run = project.publish("--execute")
    assert run.returncode == 0, run.stderr
    primary = _tags(project.sha)[0]
    digest, manifest = registry.manifest(f"{NS}/minray", primary)
    assert manifest["config"]["digest"] == product_id
    _, moving = registry.manifest(f"{NS}/minray", "nightly")
    assert moving["config"]["digest"] == product_id
    _, base = registry.manifest(f"{NS}/base-deps", primary)
    assert base["config"]["digest"] == base_id
    registry.docker("pull", f"{registry.host}/{NS}/minray@{digest}")
    pulled = registry.docker("image", "inspect", "--format", "{{.Id}}",
                             f"{registry.host}/{NS}/minray@{digest}")  # fmt: skip
    assert pulled == product_id
    again = project.publish("--execute")
    assert again.returncode == 0, again.stderr
    assert "nothing to do" in again.stderr
    return plan, run, again


def test_push_pull_back_by_digest_and_idempotent(
    project: Project, registry: DockerRegistry, tmp_path: Path
) -> None:
    base_id, product_id = _images(project, tmp_path, ("x86_64",))
    plan, run, again = publish_and_pull_back(project, registry, base_id, product_id)
    journal = project.journal()["entries"]
    assert len(journal) == 16
    assert {e["state"] for e in journal.values()} == {"done"}
    assert_no_secret([plan.stderr, run.stderr, run.stdout, again.stderr,
                      str(journal), str(project.plan())], [REGISTRY_PASSWORD])  # fmt: skip


def test_immutable_tag_with_other_content_is_refused_moving_tag_moves(
    project: Project, registry: DockerRegistry, tmp_path: Path
) -> None:
    _base_id, product_id = _images(project, tmp_path / "ours", ("x86_64",))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text(uuid.uuid4().hex)
    other = docker_build(tmp_path / "other", "FROM scratch\nCOPY x.txt /x.txt\n")
    primary = _tags(project.sha)[0]
    for tag in ("nightly", primary):
        registry.docker("tag", other, f"{registry.host}/{NS}/minray:{tag}")
        registry.docker("push", f"{registry.host}/{NS}/minray:{tag}")
    run = project.publish("--execute")
    assert run.returncode == 16
    assert "gate(s) versions" in run.stderr
    assert other in run.stderr
    assert product_id in run.stderr
    _, still = registry.manifest(f"{NS}/minray", "nightly")
    assert still["config"]["digest"] == other  # nothing was sent

    registry.docker("tag", product_id, f"{registry.host}/{NS}/minray:{primary}")
    registry.docker("push", f"{registry.host}/{NS}/minray:{primary}")
    run = project.publish("--execute")
    assert run.returncode == 0, run.stderr
    actions = {i["destination"]: (i["action"], i["reason"]) for i in project.plan()["items"]}
    assert actions[f"{registry.host}/{NS}/minray:{primary}"][0] == "skip"
    assert actions[f"{registry.host}/{NS}/minray:nightly"] == (
        "send",
        f"moving tag: {other} -> {product_id}",
    )
    _, moved = registry.manifest(f"{NS}/minray", "nightly")
    assert moved["config"]["digest"] == product_id


def test_both_arches_make_one_manifest_list_per_tag(
    project: Project, registry: DockerRegistry, tmp_path: Path
) -> None:
    ids = _images(project, tmp_path, ("x86_64", "aarch64"))
    run = project.publish("--execute")
    assert run.returncode == 0, run.stderr
    primary = _tags(project.sha)[0]
    _, index = registry.manifest(f"{NS}/minray", primary)
    platforms = sorted(m["platform"]["architecture"] for m in index["manifests"])
    assert platforms == ["amd64", "arm64"]
    _, amd = registry.manifest(f"{NS}/minray", f"{primary}-x86_64")
    _, arm = registry.manifest(f"{NS}/minray", f"{primary}-aarch64")
    assert amd["config"]["digest"] == ids[1]
    assert arm["config"]["digest"] == ids[3]
    assert "nothing to do" in project.publish("--execute").stderr


def test_one_target_failing_leaves_the_other_done_and_a_rerun_completes(
    tmp_path: Path, registry: DockerRegistry
) -> None:
    from tests.publishing import PYPI_PASSWORD, PypiServer, tiny_wheel

    pypi = PypiServer(tmp_path / "pypi")
    pypi.start()
    try:
        good = f'repository_url = "{pypi.url}/"'
        broken = pypi.toml().replace(good, good.replace('/"', '/no-such-endpoint/"'))
        toml = broken.replace('["pypi"]', '["pypi", "docker"]') + registry.toml(
            NS, ["minray"]).split("\n", 2)[2]  # fmt: skip
        p = make_project(tmp_path, toml, {"BUILD_SUPPORT_PYPI_PASSWORD": PYPI_PASSWORD,
                                          "TEST_REGISTRY_USER": registry.username,
                                          "TEST_REGISTRY_PASSWORD": REGISTRY_PASSWORD})  # fmt: skip
        p.pass_release_tests()
        p.put_wheel(tiny_wheel(tmp_path / "w", "minray", "0.1.0", p.sha))
        _images(p, tmp_path, ("x86_64",))
        run = p.publish("--execute")
        assert run.returncode == 18, run.stderr
        assert "minray-0.1.0-py3-none-any.whl" in run.stderr.split("not published:")[1]
        states = {e["target"]: e["state"] for e in p.journal()["entries"].values()
                  if e["state"] == "done"}  # fmt: skip
        assert states == {"docker": "done"}  # the registry's tags are all done
        _, manifest = registry.manifest(f"{NS}/minray", "nightly")
        assert manifest["config"]["digest"]
        (p.root / "pyproject.toml").write_text(
            (p.root / "pyproject.toml").read_text().replace("/no-such-endpoint/", "/"))  # fmt: skip
        again = p.publish("--execute")
        assert again.returncode == 0, again.stderr
        actions: dict[str, set[str]] = {}
        for i in p.plan()["items"]:
            actions.setdefault(i["target"], set()).add(i["action"])
        assert actions == {"docker": {"skip"}, "pypi": {"send"}}
        assert len(pypi.uploads()) == 1
    finally:
        pypi.stop()
        _remove_images(registry)


def test_killed_mid_push_resumes_without_pushing_anything_twice(
    project: Project, registry: DockerRegistry, tmp_path: Path
) -> None:
    """SIGKILL (the stage and every child, as a CI job kill) while the first minray image's
    64 MiB layer is being pushed: base-deps is then journaled done, minray is pending."""
    _images(project, tmp_path, ("x86_64", "aarch64"), big=64 << 20)
    total = len(project.plan()["items"]) if project.publish().returncode == 0 else 0
    assert total == 48  # 8 tags x 2 images x 2 arches, and 16 manifest lists
    log = tmp_path / "killed.log"
    with log.open("w") as out:
        proc = project.spawn("--execute", stdout=out, new_session=True)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            entries = project.journal().get("entries", {})
            if any(e["state"] == "pending" and e["name"].startswith("minray:")
                   for e in entries.values()):  # fmt: skip
                break
            assert proc.poll() is None, log.read_text()
            time.sleep(0.02)
        time.sleep(0.1)  # docker push has started on the big layer
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    entries = project.journal()["entries"]
    done_at_kill = {e["destination"] for e in entries.values() if e["state"] == "done"}
    assert done_at_kill, "killed before anything was journaled done"
    assert len(done_at_kill) < total, "the kill came too late to test a resume"
    assert all("/base-deps:" in d for d in done_at_kill), done_at_kill
    before = {d: registry.manifest(d.split("/", 1)[1].rsplit(":", 1)[0], d.rsplit(":", 1)[1])[0]
              for d in done_at_kill}  # fmt: skip
    puts_at_kill = len(registry.requests("PUT"))
    assert not [p for p in registry.requests("PUT") if f"/{NS}/minray/" in p], (
        "the big minray push had finished before the kill"
    )

    run = project.publish("--execute")
    assert run.returncode == 0, run.stderr
    plan = {i["destination"]: i["action"] for i in project.plan()["items"]}
    assert all(plan[d] == "skip" for d in done_at_kill)
    entries = project.journal()["entries"]
    assert len(entries) == total
    assert {e["state"] for e in entries.values()} <= {"done", "skipped"}
    # Immutable tags done before the kill still name the same manifests.
    for dest, digest in before.items():
        repo, tag = dest.split("/", 1)[1].rsplit(":", 1)
        assert registry.manifest(repo, tag)[0] == digest
    # Nothing done before the kill was pushed again, and no tag was ever pushed twice.
    # (by digest: manifests and attestations; sha256-<hex>: referrers-tag-schema indexes)
    by_tag = [p for p in registry.requests("PUT") if "/manifests/sha256" not in p]
    again = [p for p in registry.requests("PUT")[puts_at_kill:] if "/manifests/sha256" not in p]
    for dest in done_at_kill:
        repo, tag = dest.split("/", 1)[1].rsplit(":", 1)
        assert f"/v2/{repo}/manifests/{tag}" not in again
    assert len(by_tag) == len(set(by_tag)) == total, sorted(by_tag)
    # One manifest list per tag, each joining exactly the two arches' images.
    primary = _tags(project.sha)[0]
    for name in ("base-deps", "minray"):
        tags = [t for t in registry.tags(f"{NS}/{name}") if not t.startswith("sha256-")]
        assert len(tags) == 24  # 8 lists + 8 per arch (not the attestations' index tags)
        _, index = registry.manifest(f"{NS}/{name}", primary)
        assert sorted(m["platform"]["architecture"] for m in index["manifests"]) == [
            "amd64", "arm64"]  # fmt: skip
    assert "nothing to do" in project.publish("--execute").stderr
    assert json.dumps(entries).count(REGISTRY_PASSWORD) == 0


def test_an_image_rebuilt_after_the_plan_is_refused(
    project: Project, registry: DockerRegistry, tmp_path: Path
) -> None:
    """Issue 18, item 2: the image pushed is the image planned (its ID is in the plan)."""
    _, product_id = _images(project, tmp_path / "a", ("x86_64",))
    assert project.publish().returncode == 0
    # Same refs and commit, other images: what images.json records now is not the plan.
    _, new_product = _images(project, tmp_path / "b", ("x86_64",))
    run = project.publish("--execute")
    assert run.returncode == 16, run.stderr
    assert "gate 'plan'" in run.stderr
    assert product_id in run.stderr
    assert new_product in run.stderr
    assert registry.requests("PUT") == []
    assert registry.requests("PUT", "blobs") == []
