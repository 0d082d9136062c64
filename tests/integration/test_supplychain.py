"""Supply chain for real: the wheel stage writes an SBOM and a signed statement beside each
wheel in the store; ``verify`` checks what a user downloaded and refuses tampering.

The stages run as a user runs them (``python -m build_support …``) in a git repository
holding a copy of the bundled product, signing with an Ed25519 key named in its config.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import urllib.request
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from build_support import config, fsutil
from build_support.publish import attestations
from build_support.store import LocalStore, keys
from build_support.supplychain import attest, check, invocation, provenance, sbom, signing
from tests.conftest import ROOT, git
from tests.integration import test_publish_docker as docker_tests
from tests.integration import test_publish_maven as maven_tests
from tests.publishing import (
    GPG_PASSPHRASE,
    MAVEN_PASSWORD,
    PYPI_PASSWORD,
    REGISTRY_PASSWORD,
    ApacheDav,
    DockerRegistry,
    GpgKey,
    Project,
    PypiServer,
    make_project,
    pip_download,
    store_java,
    tiny_wheel,
    write_key,
)

pytestmark = pytest.mark.skipif(
    os.uname().machine not in ("x86_64", "amd64") or sys.platform != "linux",
    reason="host builds here target manylinux2014_x86_64",
)

PYTHON = "3.12"
PYPROJECT = f"""\
[tool.build_support]
python_versions = ["{PYTHON}"]
default_branch = "main"
artifact_store = ".artifacts"

[tool.build_support.wheel]
projects = ["python"]

[tool.build_support.provenance]
key_file = "keys/provenance.pem"
"""
_IGNORE = shutil.ignore_patterns("build", "dist", "__pycache__", "*.egg-info", "*.so", "cpp")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BUILDKITE", "GITHUB_"))}
    for var in ("BUILD_SUPPORT_COMMIT", "BUILD_SUPPORT_BRANCH", "BUILD_SUPPORT_STORE", "CI",
                "BUILD_SUPPORT_PROVENANCE_KEY"):  # fmt: skip
        env.pop(var, None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return env


def stage(repo: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "build_support", *argv],
        cwd=repo,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One real wheel stage run (minray, host platform, Python 3.12)."""
    repo = tmp_path_factory.mktemp("supply") / "proj"
    repo.mkdir()
    shutil.copytree(ROOT / "python", repo / "python", ignore=_IGNORE)
    lock = repo / "requirements" / "compiled" / f"requirements_compiled_py{PYTHON}.txt"
    lock.parent.mkdir(parents=True)
    shutil.copy(ROOT / "requirements" / "compiled" / lock.name, lock)
    (repo / "pyproject.toml").write_text(PYPROJECT)
    (repo / ".gitignore").write_text("dist/\n.artifacts/\nkeys/\n")
    write_key(repo / "keys" / "provenance.pem")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "product")
    proc = stage(repo, "wheel", "manylinux2014_x86_64", "--python", PYTHON)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return repo, git(repo, "rev-parse", "HEAD")


def _keys(repo: Path) -> list[object]:
    settings = attest.settings_of(config.load(repo))
    return list(signing.trusted_keys(settings, root=repo, env={}))


def test_the_store_holds_a_valid_sbom_and_a_verifying_statement_per_wheel(
    built: tuple[Path, str],
) -> None:
    repo, sha = built
    stored = repo / ".artifacts" / "main" / sha
    (wheel,) = stored.glob("*.whl")
    bom_text = (stored / f"{wheel.name}.cdx.json").read_text()
    data = sbom.validate(bom_text, "stored SBOM")  # the CycloneDX schema accepts it
    assert sbom.subject_of(data)[2] == fsutil.sha256_file(wheel)
    assert data["metadata"]["component"]["purl"].startswith("pkg:pypi/minray@")
    parts = {p.name: p for p in sbom.parts_of(data)}
    cython = parts["cython"]
    assert (cython.version, cython.role, cython.build_only) == ("3.0.12", "build-requirement", True)
    assert len(cython.sha256) == 64  # from the lockfile's hashes
    (envelope,) = signing.read_envelopes((stored / f"{wheel.name}.intoto.jsonl").read_text(), "s")
    opened = signing.open_envelope(envelope, _keys(repo), 1)  # type: ignore[arg-type]
    reading = provenance.read(opened.statement)
    assert reading.subjects[0].sha256 == fsutil.sha256_file(wheel)
    assert reading.commit == sha
    assert reading.stage == "wheel"
    assert reading.arguments == ("manylinux2014_x86_64", "--python", PYTHON)
    assert f"requirements/compiled/requirements_compiled_py{PYTHON}.txt" in reading.inputs
    assert reading.sbom is not None
    assert reading.sbom.sha256 == fsutil.sha256_file(stored / f"{wheel.name}.cdx.json")
    build = opened.statement["predicate"]["runDetails"]["builder"]
    assert build["version"]["cython"] == "3.0.12"
    assert build["id"].startswith("urn:build-support:host:")


def test_verify_passes_on_the_downloaded_wheel_and_says_who_built_it(
    built: tuple[Path, str], tmp_path: Path
) -> None:
    repo, sha = built
    (wheel,) = (repo / "dist").glob("*.whl")
    down = tmp_path / "down"
    down.mkdir()
    for f in (repo / "dist").glob(f"{wheel.name}*"):
        shutil.copy(f, down / f.name)
    proc = stage(repo, "verify", str(down / wheel.name), "--commit", sha)
    assert proc.returncode == 0, proc.stderr
    assert f"commit {sha}" in proc.stdout
    assert "built by   urn:build-support:host:" in proc.stdout
    assert "stage      wheel manylinux2014_x86_64 --python 3.12" in proc.stdout


def _restatement(repo: Path, wheel: Path, *, commit: str, key: Path) -> str:
    """A statement about ``wheel`` naming ``commit``, signed with ``key``."""
    settings = attest.settings_of(config.load(repo))
    signer = signing.signers(
        type(settings)(key_file=str(key)), root=repo, env={}
    )  # the settings class, with another key
    st = provenance.statement(
        provenance.Subject(name=wheel.name, sha256=fsutil.sha256_file(wheel)),
        provenance.Facts(commit=commit, branch="main", repository="file:///elsewhere"),
        sbom=provenance.Subject(
            name=f"{wheel.name}.cdx.json",
            sha256=fsutil.sha256_file(wheel.with_name(wheel.name + ".cdx.json")),
        ),
        inv=invocation.current("wheel"),
    )
    del settings
    return signing.sign(st, signer)


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ("byte", "names other bytes"),
        ("key", "badly signed"),
        ("commit", "the statement names commit 2222"),
        ("absent", "no provenance statement"),
    ],
)
def test_verify_refuses_tampering_with_exit_16(
    built: tuple[Path, str], tmp_path: Path, tamper: str, reason: str
) -> None:
    repo, _sha = built
    (wheel,) = (repo / "dist").glob("*.whl")
    for f in (repo / "dist").glob(f"{wheel.name}*"):
        shutil.copy(f, tmp_path / f.name)
    mine = tmp_path / wheel.name
    statement = tmp_path / f"{wheel.name}.intoto.jsonl"
    if tamper == "byte":
        _change_one_byte(mine)
    elif tamper == "key":
        statement.write_text(
            _restatement(repo, mine, commit=_sha, key=write_key(tmp_path / "other.pem"))
        )
    elif tamper == "commit":
        statement.write_text(
            _restatement(repo, mine, commit="2" * 40, key=repo / "keys" / "provenance.pem")
        )
    else:
        statement.unlink()
    proc = stage(repo, "verify", str(mine))
    assert proc.returncode == 16, proc.stderr
    assert reason in proc.stderr
    assert "REFUSED" in proc.stderr


def _change_one_byte(path: Path) -> None:
    """Change one byte of a file inside the wheel (a valid zip with another payload)."""
    out = path.with_name("x.zip")
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("__init__.py"):
                data = data + b"#"
            zout.writestr(info, data)
    out.replace(path)


def test_a_rerun_with_nothing_changed_keeps_the_statement(built: tuple[Path, str]) -> None:
    repo, sha = built
    stored = repo / ".artifacts" / "main" / sha
    (statement,) = stored.glob("*.intoto.jsonl")
    before = statement.read_bytes()
    proc = stage(repo, "wheel", "manylinux2014_x86_64", "--python", PYTHON)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert statement.read_bytes() == before
    payload = json.loads(base64.b64decode(json.loads(before)["payload"]))
    assert payload["subject"][0]["name"].endswith(".whl")
    assert isinstance(check.Verified, type)


# --------------------------------------------------------------------------- publish

# The dav, gpg_key and registry fixtures are tests/integration/conftest.py's.
_mvn_get = maven_tests._mvn_get
_verify = maven_tests._verify


@pytest.fixture
def project(tmp_path: Path, pypi: PypiServer) -> Project:
    p = make_project(tmp_path, pypi.toml(), {"BUILD_SUPPORT_PYPI_PASSWORD": PYPI_PASSWORD})
    p.pass_release_tests()
    return p


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ("byte", "the statement names other bytes"),
        ("key", "the provenance statement is badly signed"),
        ("commit", "the statement names commit 2222"),
        ("absent", "no provenance statement"),
        ("sbom", "the SBOM is not the one the statement names"),
    ],
)
def test_publish_refuses_a_wheel_its_statement_does_not_vouch_for(
    project: Project, pypi: PypiServer, tmp_path: Path, tamper: str, reason: str
) -> None:
    wheel = tiny_wheel(tmp_path / "built", "minray", "0.1.0", project.sha, payload=b"ours")
    key = keys.wheel_key("main", project.sha, wheel.name)
    if tamper == "byte":  # the object changed after the stage vouched for it
        project.put_wheel(wheel)
        other = tiny_wheel(tmp_path / "other", "minray", "0.1.0", project.sha, payload=b"ourz")
        project.put_wheel(other, attest=False)
    elif tamper == "key":  # signed, but by a key this project does not trust
        project.put_wheel(wheel, attest=False)
        mine = project.root / "keys" / "provenance.pem"
        saved = mine.read_bytes()
        write_key(mine)
        project.attest(key, wheel)
        mine.write_bytes(saved)
    elif tamper == "commit":
        project.put_wheel(wheel, attest=False)
        project.attest(key, wheel, commit="2" * 40)
    elif tamper == "sbom":
        project.put_wheel(wheel)
        bom = tmp_path / "bom.json"
        project.store.get(attest.sbom_key(key), bom)
        bom.write_text(bom.read_text().replace("test-artifact", "other-artifact"))
        project.store.put(attest.sbom_key(key), bom)
    else:
        project.put_wheel(wheel, attest=False)
    run = project.publish("--execute")
    assert run.returncode == 16, run.stderr
    assert "gate(s) provenance" in run.stderr
    assert f"pypi {wheel.name}: {reason}" in run.stderr
    assert pypi.uploads() == []
    assert not list(pypi.packages.iterdir())


def test_publish_sends_a_vouched_wheel_and_verify_passes_on_what_came_back(
    project: Project, pypi: PypiServer, tmp_path: Path
) -> None:
    wheel = tiny_wheel(tmp_path / "built", "minray", "0.1.0", project.sha, payload=b"ours")
    project.put_wheel(wheel)
    run = project.publish("--execute")
    assert run.returncode == 0, run.stderr
    (got,) = pip_download(pypi.url + "/simple/", pypi.username, PYPI_PASSWORD, "minray==0.1.0",
                          tmp_path / "dl")  # fmt: skip
    key = keys.wheel_key("main", project.sha, wheel.name)
    for suffix in (attest.STATEMENT_SUFFIX, attest.SBOM_SUFFIX):
        project.store.get(key + suffix, got.with_name(got.name + suffix))
    proc = subprocess.run(
        [sys.executable, "-m", "build_support", "verify", str(got), "--commit", project.sha],
        cwd=project.root, env=project.env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"from       commit {project.sha}" in proc.stdout


def assert_store_attested(repo: Path, store_dir: Path, *, images: Sequence[str] = ()) -> int:
    """Every wheel, JAR and POM in the store, and each image id in ``images``, has an SBOM
    that the CycloneDX validator accepts and a statement whose signature verifies with the
    project's trusted keys, naming its bytes; returns how many were checked."""
    s = LocalStore(store_dir)
    settings = attest.settings_of(config.load(repo))
    trusted = signing.trusted_keys(settings, root=repo)
    checked = 0
    objects = {o.key: o.sha256 for o in s.list("") if o.key.endswith((".whl", ".jar", ".pom"))}
    statements = [o.key for o in s.list("images/") if o.key.endswith(attest.STATEMENT_SUFFIX)]
    by_image = {}
    for key in statements:
        sha, _commit = attest.unverified_subject((store_dir / key).read_text())
        by_image[f"sha256:{sha}"] = key.removesuffix(attest.STATEMENT_SUFFIX)
    for image_id in images:
        assert image_id in by_image, f"no statement for image {image_id}"
        objects[by_image[image_id]] = image_id.removeprefix("sha256:")
    for key, sha in sorted(objects.items()):
        statement = store_dir / attest.statement_key(key)
        bom = store_dir / attest.sbom_key(key)
        assert statement.is_file(), f"{key}: no statement"
        assert bom.is_file(), f"{key}: no SBOM"
        v = check.check(key, sha, statement_text=statement.read_text(), sbom_text=bom.read_text(),
                        keys=trusted, threshold=1, commit_inside=None)  # fmt: skip
        assert v.keyids
        checked += 1
    return checked


@pytest.fixture
def maven_project(tmp_path: Path, dav: ApacheDav, gpg_key: GpgKey) -> Project:
    armored, _fpr, _home = gpg_key
    p = make_project(tmp_path, dav.toml(), {"TEST_MAVEN_USER": dav.username,
                                            "TEST_MAVEN_PASSWORD": MAVEN_PASSWORD,
                                            "TEST_GPG_KEY": armored})  # fmt: skip
    (p.root / "gpg-passphrase.txt").write_text(GPG_PASSPHRASE)
    p.pass_release_tests()
    return p


def test_maven_deploys_the_sbom_classifier_and_statements_a_consumer_fetches_and_verifies(
    maven_project: Project,
    dav: ApacheDav,
    gpg_key: GpgKey,
    tmp_path: Path,
) -> None:
    _armored, _fpr, home = gpg_key
    store_java(maven_project)
    run = maven_project.publish("--execute")
    assert run.returncode == 0, run.stderr
    version_dir = dav.path("releases/io/minray/minray-api/0.1.0")
    for name in ("minray-api-0.1.0-cyclonedx.json", "minray-api-0.1.0.intoto.jsonl"):
        _verify(home, version_dir / name)  # signed and checksummed like every file
        assert (version_dir / f"{name}.sha1").is_file()
    local = tmp_path / "m2" / "repository"
    local.mkdir(parents=True)
    for coords in ("io.minray:minray-api:0.1.0", "io.minray:minray-api:0.1.0:json:cyclonedx",
                   "io.minray:minray-api:0.1.0:intoto.jsonl"):  # fmt: skip
        _mvn_get(f"{dav.url}/releases", dav.username, coords, local)
    got = local / "io/minray/minray-api/0.1.0"
    bom = got / "minray-api-0.1.0-cyclonedx.json"
    sbom.validate(bom.read_text(), "the SBOM Maven fetched")
    proc = subprocess.run(
        [sys.executable, "-m", "build_support", "verify", str(got / "minray-api-0.1.0.jar"),
         "--statement", str(got / "minray-api-0.1.0.intoto.jsonl"), "--sbom", str(bom),
         "--commit", maven_project.sha],
        cwd=maven_project.root, env=maven_project.env, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"from       commit {maven_project.sha}" in proc.stdout


def _registry_blob(reg: DockerRegistry, repo: str, digest: str) -> str:
    req = urllib.request.Request(f"http://{reg.host}/v2/{repo}/blobs/{digest}",
                                 headers={"Authorization": reg.authorization(repo)})  # fmt: skip
    with urllib.request.urlopen(req, timeout=10) as resp:
        return str(resp.read().decode())


@pytest.mark.docker
def test_publish_attaches_each_images_provenance_and_sbom_as_referrers(
    tmp_path: Path, registry: DockerRegistry
) -> None:
    ns = docker_tests.NS
    p = make_project(tmp_path, registry.toml(ns, ["base-deps", "minray"]),
                     {"TEST_REGISTRY_USER": registry.username,
                      "TEST_REGISTRY_PASSWORD": REGISTRY_PASSWORD})  # fmt: skip
    p.pass_release_tests()
    try:
        _base_id, product_id = docker_tests._images(p, tmp_path, ("x86_64",))
        run = p.publish("--execute")
        assert run.returncode == 0, run.stderr
        repo = f"{ns}/minray"
        digest, _ = registry.manifest(repo, docker_tests._tags(p.sha)[0])
        # Debian's docker-registry 2.8 has no referrers API: the tag schema's index lists them
        _, index = registry.manifest(repo, attestations.fallback_tag(digest))
        found = {m["artifactType"]: m["digest"] for m in index["manifests"]}
        assert sorted(found) == [attestations.SBOM_TYPE, attestations.STATEMENT_TYPE]
        texts = {}
        for kind, ref in found.items():
            _, artifact = registry.manifest(repo, ref)
            assert artifact["subject"]["digest"] == digest
            texts[kind] = _registry_blob(registry, repo, artifact["layers"][0]["digest"])
        settings = attest.settings_of(config.load(p.root))
        v = check.check(
            "minray image", product_id.removeprefix("sha256:"),
            statement_text=texts[attestations.STATEMENT_TYPE],
            sbom_text=texts[attestations.SBOM_TYPE],
            keys=signing.trusted_keys(settings, root=p.root, env={}), threshold=1,
            commit_inside=p.sha, expected_commit=p.sha,
        )  # fmt: skip
        assert v.reading.commit == p.sha
    finally:
        docker_tests._remove_images(registry)
