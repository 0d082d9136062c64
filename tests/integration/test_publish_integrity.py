"""Issue 18, items 2, 3 and 12, through `python -m build_support publish` against a real
pypiserver: what is sent is what was planned and sound inside, from the branch git shows,
from a clean tree; a symlinked `dist/publish` and bad deploy URLs are refused."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

import pytest

from build_support.store import keys
from tests.publishing import (
    GPG_PASSPHRASE,
    MAVEN_PASSWORD,
    PYPI_PASSWORD,
    ApacheDav,
    Project,
    PypiServer,
    git,
    make_gpg_key,
    make_project,
    store_java,
    tiny_jar,
    tiny_wheel,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def project(tmp_path: Path, pypi: PypiServer) -> Project:
    p = make_project(tmp_path, pypi.toml(), {"BUILD_SUPPORT_PYPI_PASSWORD": PYPI_PASSWORD})
    p.put_wheel(tiny_wheel(tmp_path / "built", "minray", "0.1.0", p.sha, payload=b"minray"))
    p.pass_release_tests()
    return p


def _with_member(wheel: Path, dest: Path, name: str, data: bytes, *, in_record: bool) -> Path:
    """A copy of ``wheel`` (same file name) with one more member, listed in RECORD or not."""
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / wheel.name
    with zipfile.ZipFile(wheel) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            content = zin.read(info)
            if in_record and info.filename.endswith(".dist-info/RECORD"):
                digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
                content += f"{name},sha256={digest.decode()},{len(data)}\n".encode()
            zout.writestr(info, content)
        zout.writestr(name, data)
    return out


def _stored(project: Project, suffix: str) -> tuple[str, str]:
    """(key, sha256) of the stored object whose key ends with ``suffix``."""
    o = next(o for o in project.store.list(f"main/{project.sha}/") if o.key.endswith(suffix))
    return o.key, o.sha256


def test_a_wheel_replaced_after_the_plan_is_refused_naming_both_digests(
    project: Project, pypi: PypiServer, tmp_path: Path
) -> None:
    assert project.publish().returncode == 0
    plan_file = project.root / "dist" / "publish" / "plan.json"
    reviewed = plan_file.read_bytes()
    key, planned = _stored(project, ".whl")
    original = tmp_path / "orig" / key.rsplit("/", 1)[-1]
    project.store.get(key, original)
    # Same name, the right commit inside, one extra file that RECORD does not list.
    swapped = _with_member(original, tmp_path / "swapped", "minray/backdoor.py",
                           b"import os\n", in_record=False)  # fmt: skip
    project.put_wheel(swapped)
    _, now = _stored(project, ".whl")
    assert now != planned

    run = project.publish("--execute")
    assert run.returncode == 16, run.stderr
    assert "gate 'plan'" in run.stderr
    assert planned in run.stderr
    assert now in run.stderr
    assert "'minray/backdoor.py' is not listed in" in run.stderr
    assert pypi.uploads() == []
    assert plan_file.read_bytes() == reviewed, "the refused run rewrote the reviewed plan"
    # Still refused on a second try: the reviewed plan is what --execute checks against.
    assert project.publish("--execute").returncode == 16


def test_a_wheel_with_a_climbing_member_is_refused(tmp_path: Path, pypi: PypiServer) -> None:
    p = make_project(tmp_path, pypi.toml(), {"BUILD_SUPPORT_PYPI_PASSWORD": PYPI_PASSWORD})
    wheel = tiny_wheel(tmp_path / "built", "minray", "0.1.0", p.sha)
    # Listed in RECORD with its right hash: only the member check can catch it.
    p.put_wheel(_with_member(wheel, tmp_path / "bad", "../evil.pth", b"import os\n",
                             in_record=True))  # fmt: skip
    p.pass_release_tests()
    run = p.publish("--execute")
    assert run.returncode == 16, run.stderr
    assert "gate 'content'" in run.stderr
    assert "unsafe entry '../evil.pth'" in run.stderr
    assert pypi.uploads() == []


def test_a_jar_with_a_climbing_entry_is_refused(tmp_path: Path) -> None:
    dav = ApacheDav()
    dav.start()
    try:
        armored, _fpr = make_gpg_key(tmp_path / "keyring")
        p = make_project(tmp_path, dav.toml(), {"TEST_MAVEN_USER": dav.username,
                                                "TEST_MAVEN_PASSWORD": MAVEN_PASSWORD,
                                                "TEST_GPG_KEY": armored})  # fmt: skip
        (p.root / "gpg-passphrase.txt").write_text(GPG_PASSPHRASE)
        store_java(p)
        name = "minray-api-0.1.0.jar"
        bad = tiny_jar(tmp_path / "bad" / name, p.sha, {"../../etc/cron.d/x": b"* * * * *"})
        p.store.put(keys.jar_key("main", p.sha, "linux", name), bad)
        p.pass_release_tests()
        run = p.publish("--execute")
        assert run.returncode == 16, run.stderr
        assert "gate 'content'" in run.stderr
        assert f"{name} has an unsafe entry '../../etc/cron.d/x'" in run.stderr
        assert dav.puts() == []
    finally:
        dav.stop()


@pytest.mark.parametrize("var", ["BUILD_SUPPORT_BRANCH", "BUILDKITE_BRANCH"])
def test_a_branch_variable_cannot_widen_the_branch_gate(
    project: Project, pypi: PypiServer, tmp_path: Path, var: str
) -> None:
    git(project.root, "checkout", "-q", "-b", "feature")
    (project.root / "feature.txt").write_text("not on main\n")
    git(project.root, "add", "feature.txt")
    git(project.root, "commit", "-q", "-m", "feature")
    project.sha = git(project.root, "rev-parse", "HEAD")
    project.put_wheel(tiny_wheel(tmp_path / "feat", "minray", "0.1.0", project.sha))
    project.pass_release_tests()

    run = project.publish("--execute", env={var: "main"})
    assert run.returncode == 16, run.stderr
    assert "gate 'branch'" in run.stderr
    assert "is not on origin/main" in run.stderr
    assert pypi.uploads() == []

    # Once the commit is on origin's main, a CI checkout (detached HEAD, no origin/main
    # ref yet) passes: the stage fetches the branch and asks git.
    git(project.root, "push", "-q", "origin", "feature:main")
    git(project.root, "checkout", "-q", "--detach")
    git(project.root, "update-ref", "-d", "refs/remotes/origin/main")
    run = project.publish("--execute", env={var: "main"})
    assert run.returncode == 0, run.stderr
    assert len(pypi.uploads()) == 1
    # A variable naming another branch still narrows.
    refused = project.publish("--execute", env={var: "topic"})
    assert refused.returncode == 16
    assert "publishing from 'topic'" in refused.stderr


def test_release_counts_an_untracked_file_as_dirty(project: Project, pypi: PypiServer) -> None:
    (project.root / "notes.txt").write_text("not committed\n")
    run = project.publish("--execute", "--release")
    assert run.returncode == 16, run.stderr
    assert "gate 'clean-tree'" in run.stderr
    assert "notes.txt" in run.stderr
    assert pypi.uploads() == []


def test_a_symlinked_dist_publish_is_refused(project: Project, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (project.root / "dist").mkdir()
    (project.root / "dist" / "publish").symlink_to(elsewhere)
    run = project.publish()
    assert run.returncode == 19, run.stderr
    assert "is a symbolic link" in run.stderr
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[tool.build_support.publish.maven]\nrelease_url = "file:///srv/maven"\n',
         "maven.release_url = 'file:///srv/maven' is not an http(s) URL"),
        ('[tool.build_support.publish.maven]\nrelease_url = "https://u:s3cr3t-tok@r.example/m"\n',
         "has credentials in it"),
        ('[tool.build_support.store]\nretry_attempts = 1000\n',
         "retry_attempts = 1000 must be between 1 and 20"),
    ],
)  # fmt: skip
def test_bad_publish_config_exits_2(tmp_path: Path, toml: str, message: str) -> None:
    p = make_project(tmp_path, toml, {})
    run = p.publish()
    assert run.returncode == 2, run.stderr
    assert message in run.stderr
    assert "s3cr3t-tok" not in run.stderr + run.stdout


def test_an_empty_default_branch_exits_2(tmp_path: Path) -> None:
    p = make_project(tmp_path, "", {})
    pyproject = p.root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"main"', '""'))
    run = p.publish()
    assert run.returncode == 2, run.stderr
    assert "default_branch = '' is not a branch name" in run.stderr
