"""End to end: the images the images stage really built (base-deps and minray on the
debootstrap'd stand-in base, from the wheels of test_images.py's cache) and recorded in
dist/images/images.json, published by ``publish --execute`` to Debian's docker-registry
(htpasswd) on loopback, pulled back by digest and compared; the commit gate reads the
commit from the image's label, not from images.json."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from build_support import manifests
from tests.helpers import bundled_toml
from tests.integration.test_images import LOCKFILE, base_image, wheels  # noqa: F401
from tests.publishing import (
    DOCKER,
    REGISTRY_PASSWORD,
    DockerRegistry,
    Project,
    assert_no_secret,
    git,
    make_project,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.docker,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.uname().machine not in ("x86_64", "amd64"),
        reason="the stand-in base and the cached wheels are x86_64",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
NS = f"minraytest-{uuid.uuid4().hex[:8]}"
LOCAL_NS = f"{NS}-local"


def _restamped(wheel: Path, dest: Path, commit: str) -> Path:
    """A copy of ``wheel`` whose ``minray/_version.py`` carries ``commit``."""
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / wheel.name
    with zipfile.ZipFile(wheel) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "minray/_version.py":
                text = data.decode()
                start = text.index('commit = "') + len('commit = "')
                data = (text[:start] + commit + text[text.index('"', start) :]).encode()
            zout.writestr(info, data)
    return out


@pytest.fixture
def built(
    tmp_path: Path, registry: DockerRegistry, request: pytest.FixtureRequest
) -> Iterator[Project]:
    """A project at its HEAD commit: the docker/ sources, a lockfile, the commit's
    wheels (restamped) in its store and a passing release-tests summary."""
    request.getfixturevalue("base_image")
    cached: list[Path] = request.getfixturevalue("wheels")
    images_toml = f'[tool.build_support.images]\nnamespace = "{LOCAL_NS}"\n' + bundled_toml(
        "images"
    )
    toml = (
        images_toml + 'python_versions = ["3.11"]\n\n' + registry.toml(NS, ["base-deps", "minray"])
    )
    p = make_project(tmp_path, toml, {"TEST_REGISTRY_USER": registry.username,
                                      "TEST_REGISTRY_PASSWORD": REGISTRY_PASSWORD})  # fmt: skip
    shutil.copytree(ROOT / "docker", p.root / "docker")
    lock = p.root / "requirements" / "compiled" / "requirements_compiled_py3.11.txt"
    lock.parent.mkdir(parents=True)
    lock.write_text(LOCKFILE)
    git(p.root, "add", ".")
    git(p.root, "commit", "-q", "-m", "product")
    git(p.root, "push", "-q", "origin", "main")
    p.sha = git(p.root, "rev-parse", "HEAD")
    for whl in cached:
        p.put_wheel(_restamped(whl, tmp_path / "wheels", p.sha))
    p.pass_release_tests()
    try:
        yield p
    finally:
        listing = [DOCKER, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]
        names = subprocess.run(listing, capture_output=True, text=True, check=False).stdout.split()
        ours = [n for n in names if n.startswith((f"{LOCAL_NS}/", registry.host))]
        if ours:
            subprocess.run([DOCKER, "rmi", *ours], capture_output=True, check=False)


def test_publish_pushes_what_the_images_stage_built(
    built: Project, registry: DockerRegistry
) -> None:
    p = built
    stage = subprocess.run([sys.executable, "-m", "build_support", "images", "--python", "3.11"],
                           cwd=p.root, env=p.env, capture_output=True, text=True,
                           timeout=1700, check=False)  # fmt: skip
    assert stage.returncode == 0, stage.stderr[-4000:]
    recorded = manifests.read(manifests.images_path(p.root / "dist"), manifests.ImagesManifest)
    rows = {r.name: r for r in recorded.images}
    assert sorted(rows) == ["base-deps", "minray"]
    assert rows["minray"].commit == p.sha

    plan = p.publish()
    assert plan.returncode == 0, plan.stderr
    items = p.plan()["items"]
    assert {i["commit"] for i in items} == {p.sha}  # minray's label; base-deps via minray
    assert {i["action"] for i in items} == {"send"}
    run = p.publish("--execute")
    assert run.returncode == 0, run.stderr

    pulled: dict[str, str] = {}
    for name, row in rows.items():
        for ref in row.refs:
            digest, manifest = registry.manifest(f"{NS}/{name}", ref.rsplit(":", 1)[1])
            assert manifest["config"]["digest"] == row.image_id, ref
            pulled[name] = f"{registry.host}/{NS}/{name}@{digest}"
        registry.docker("pull", pulled[name])
        inspected = registry.docker("image", "inspect", "--format", "{{.Id}}", pulled[name])
        assert inspected == row.image_id
    labels = json.loads(registry.docker("image", "inspect", "--format",
                                        "{{json .Config.Labels}}", pulled["minray"]))  # fmt: skip
    assert labels["org.opencontainers.image.revision"] == p.sha
    out = registry.docker("run", "--rm", "--network=none", pulled["minray"], "python", "-c",
                          "import minray; print(minray.__commit__)")  # fmt: skip
    assert out == p.sha
    assert "nothing to do" in p.publish("--execute").stderr

    # A new commit whose images.json claims its commit for the same images: the gate
    # reads the label inside each image and refuses before anything is sent.
    old = p.sha
    git(p.root, "commit", "-q", "--allow-empty", "-m", "next")
    git(p.root, "push", "-q", "origin", "main")
    p.sha = git(p.root, "rev-parse", "HEAD")
    p.pass_release_tests()
    path = manifests.images_path(p.root / "dist")
    path.write_text(path.read_text().replace(old, p.sha))
    puts = len(registry.requests("PUT"))
    refused = p.publish("--execute")
    assert refused.returncode == 16, refused.stderr
    assert "gate(s) commit" in refused.stderr
    assert f"minray:{rows['minray'].refs[0].rsplit(':', 1)[1]} carries commit {old}" in (
        refused.stderr
    )
    assert len(registry.requests("PUT")) == puts
    assert_no_secret([plan.stderr, run.stderr, refused.stderr, stage.stderr,
                      json.dumps(p.journal())], [REGISTRY_PASSWORD])  # fmt: skip
