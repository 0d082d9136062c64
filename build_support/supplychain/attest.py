"""What the stages call: an SBOM and a signed statement beside each stored artifact.

For a store object ``K`` the stage writes ``K.cdx.json`` (the CycloneDX SBOM) and
``K.intoto.jsonl`` (a DSSE envelope holding the in-toto statement), next to it in the
store and next to the file in ``dist/``. One call per artifact, after the stage put it:
:func:`attest_wheel`, :func:`attest_jar`, :func:`attest_image`.

Fast when nothing changed: a statement already beside the object that names the same
bytes and commit is kept as it is (read as JSON, no SBOM library loaded), so a
no-change pipeline pays a store lookup per artifact.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import functools
import hashlib
import json
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from build_support import __version__, cmd, commits, fsutil, lockfile, log, redact, store
from build_support.config import Config
from build_support.errors import BuildSupportError, StoreError
from build_support.supplychain import invocation, provenance, sbom, signing
from build_support.supplychain.settings import ProvenanceSettings

SBOM_SUFFIX = ".cdx.json"
STATEMENT_SUFFIX = ".intoto.jsonl"
SECTION = "provenance"


class ImageRowLike(Protocol):
    """What :func:`attest_images` reads of a ``manifests.ImageRow``."""

    @property
    def name(self) -> str: ...
    @property
    def image_id(self) -> str: ...
    @property
    def refs(self) -> tuple[str, ...]: ...
    @property
    def python(self) -> str: ...
    @property
    def flavor(self) -> str: ...
    @property
    def arch(self) -> str: ...
    @property
    def base(self) -> str: ...
    @property
    def base_standin(self) -> str | None: ...
    @property
    def pip_freeze(self) -> str | None: ...


def settings_of(cfg: Config) -> ProvenanceSettings:
    return cfg.section(SECTION, ProvenanceSettings)


def sbom_key(key: str) -> str:
    """The store key of the SBOM of the object ``key``."""
    return key + SBOM_SUFFIX


def statement_key(key: str) -> str:
    """The store key of the statement (DSSE envelope) of the object ``key``."""
    return key + STATEMENT_SUFFIX


def sidecar_keys(s: store.Store, key: str) -> list[str]:
    """The SBOM and statement keys stored beside ``key`` (to promote them with it)."""
    return [k for k in (sbom_key(key), statement_key(key)) if s.exists(k)]


def unverified_subject(envelope_line: str) -> tuple[str, str]:
    """``(sha256, commit)`` an envelope's payload claims, without checking signatures."""
    env = json.loads(envelope_line.splitlines()[0])
    st = json.loads(base64.b64decode(env["payload"]))
    reading = provenance.read(st)
    return reading.subjects[0].sha256, reading.commit


def _is_current(s: store.Store, key: str, sha256: str, commit: str, beside: Path) -> bool:
    """A statement beside ``key`` already names these bytes and this commit (the SBOM is
    written before it): nothing to write. The copy the last run left beside the file in
    ``dist/`` is read when the store holds the same bytes (one metadata lookup);
    otherwise the stored statement is fetched."""
    local = beside.with_name(beside.name + STATEMENT_SUFFIX)
    try:
        if local.is_file() and beside.with_name(beside.name + SBOM_SUFFIX).is_file():
            text = local.read_text(encoding="utf-8")
            stored = s.info(statement_key(key)).sha256
            if stored == _sha(text):
                return unverified_subject(text) == (sha256, commit)
        if not s.exists(statement_key(key)):
            return False
        with tempfile.TemporaryDirectory(prefix="bs-attest-") as tmp:
            fetched = Path(tmp) / "current.intoto.jsonl"
            s.get(statement_key(key), fetched)
            text = fetched.read_text(encoding="utf-8")
        if unverified_subject(text) != (sha256, commit):
            return False
        _fetch_sides(s, key, beside, refresh=True)
    except (StoreError, OSError, ValueError, KeyError, TypeError, IndexError):
        return False
    return True


@functools.cache
def repository(root: Path) -> str:
    """The repository URL the statement names: git's ``origin`` (redacted), else the path."""
    proc = cmd.run(["git", "config", "--get", "remote.origin.url"], cwd=root, capture=True,
                   check=False, echo=False, timeout=30)  # fmt: skip
    url = proc.stdout.strip() if proc.returncode == 0 else ""
    return redact.url(url) if url else root.resolve().as_uri()


def attest_file(
    s: store.Store,
    key: str,
    path: Path,
    *,
    cfg: Config,
    ctx: commits.BuildContext,
    subject: sbom.Part,
    parts: Sequence[sbom.Part] = (),
    inputs: Sequence[Path] = (),
    toolchain: Mapping[str, str] | None = None,
    parameters: Mapping[str, str] | None = None,
    default_stage: str = "",
    name: str = "",
) -> bool:
    """Write, validate, sign and store the SBOM and statement of ``path`` (stored as
    ``key``), and copy both beside ``path``; False when they were already current.

    ``name`` is the statement's subject name (default: the file name); ``path`` need not
    exist when ``subject.sha256`` is given (an image: the sidecars go beside it).
    """
    settings = settings_of(cfg)
    if not settings.enabled:
        return False
    sha256 = subject.sha256 or fsutil.sha256_file(path)
    if _is_current(s, key, sha256, ctx.sha, path):
        return False
    with tempfile.TemporaryDirectory(prefix="bs-attest-") as tmp:
        work = Path(tmp)
        return _write(s, key, path, settings=settings, cfg=cfg, ctx=ctx, sha256=sha256,
                      subject=subject, parts=parts, inputs=inputs, toolchain=toolchain or {},
                      parameters=parameters or {}, default_stage=default_stage,
                      work=work, name=name or path.name)  # fmt: skip


def _write(
    s: store.Store,
    key: str,
    path: Path,
    *,
    settings: ProvenanceSettings,
    cfg: Config,
    ctx: commits.BuildContext,
    sha256: str,
    subject: sbom.Part,
    parts: Sequence[sbom.Part],
    inputs: Sequence[Path],
    toolchain: Mapping[str, str],
    parameters: Mapping[str, str],
    default_stage: str,
    work: Path,
    name: str,
) -> bool:
    inv = invocation.current(default_stage)
    now = dt.datetime.now(dt.timezone.utc)
    subject = dataclasses.replace(subject, sha256=sha256)
    bom_text = redact.text(sbom.document(subject, parts, tool_version=__version__, timestamp=now))
    sbom.validate(bom_text, f"the SBOM of {path.name}")  # the stage's own check
    bom_name = path.name + SBOM_SUFFIX
    facts = provenance.Facts(
        commit=ctx.sha,
        branch=ctx.branch,
        repository=repository(cfg.root),
        inputs=provenance.file_inputs(cfg.root, [cfg.root / "pyproject.toml", *inputs]),
        toolchain=toolchain,
        parameters=parameters,
    )
    st = provenance.statement(
        provenance.Subject(name=name, sha256=sha256),
        facts,
        sbom=provenance.Subject(name=bom_name, sha256=_sha(bom_text)),
        inv=inv,
        finished=now,
    )
    envelope = signing.sign(st, _signers(settings, cfg.root))
    for suffix, text in ((SBOM_SUFFIX, bom_text), (STATEMENT_SUFFIX, envelope)):
        local = work / f"side{suffix}"
        fsutil.write_atomic(local, text)
        s.put(key + suffix, local)
        fsutil.copy_atomic(local, path.with_name(path.name + suffix))
    log.info(f"provenance: {path.name}: SBOM ({len(parts)} component(s)) and signed statement")
    return True


_SIGNERS: dict[tuple[ProvenanceSettings, Path, str], list[Any]] = {}


def _signers(settings: ProvenanceSettings, root: Path) -> list[Any]:
    """The configured signers, loaded once per process (a stage signs many artifacts)."""
    import os

    cache_key = (settings, root, os.environ.get(settings.key_env, "") if settings.key_env else "")
    if cache_key not in _SIGNERS:
        _SIGNERS[cache_key] = signing.signers(settings, root=root)
    return _SIGNERS[cache_key]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- wheels


def wheel_parts(
    wheel: Path, *, project: Path, lock: Path | None
) -> tuple[sbom.Part, list[sbom.Part], dict[str, str]]:
    """The wheel's own component, what went into it, and the build toolchain versions."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    from build_support import wheelfile

    name = wheelfile.parse_name(wheel.name)
    dist = canonicalize_name(name.distribution)
    subject = sbom.Part(
        name=name.distribution,
        version=str(name.version),
        purl=f"pkg:pypi/{dist}@{name.version}?file_name={wheel.name}",
        role="wheel",
    )
    pins: dict[str, tuple[str, frozenset[str]]] = {}
    if lock is not None and lock.is_file():
        pins = lockfile.pins(lock.read_text(encoding="utf-8"))
    parts: list[sbom.Part] = []
    toolchain: dict[str, str] = {}
    for text in wheelfile.build_requires(project):
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        cname = canonicalize_name(req.name)
        version, hashes = pins.get(cname, ("", frozenset()))
        if not version:
            exact = [sp.version for sp in req.specifier if sp.operator in ("==", "===")]
            version = exact[0] if exact else ""
        sha = next((h.split(":", 1)[1] for h in sorted(hashes) if h.startswith("sha256:")), "")
        parts.append(
            sbom.Part(
                name=cname,
                version=version,
                purl=f"pkg:pypi/{cname}@{version}" if version else f"pkg:pypi/{cname}",
                sha256=sha,
                role="build-requirement",
                build_only=True,
            )
        )
        if cname == "cython" and version:
            toolchain["cython"] = version
    with zipfile.ZipFile(wheel) as zf:
        for info in sorted(zf.infolist(), key=lambda i: i.filename):
            top = info.filename.split("/", 1)[0]
            if top.endswith(".libs") and not info.is_dir():  # grafted by auditwheel/delocate
                parts.append(
                    sbom.Part(
                        name=info.filename.rsplit("/", 1)[-1],
                        kind="library",
                        sha256=hashlib.sha256(zf.read(info)).hexdigest(),
                        role="grafted-library",
                    )
                )
    return subject, parts, toolchain


def attest_wheel(
    s: store.Store,
    key: str,
    wheel: Path,
    *,
    cfg: Config,
    ctx: commits.BuildContext,
    project: Path,
    python: str,
    platform: str,
    python_full: str = "",
    sha256: str = "",
) -> bool:
    """The hook of the wheel stage: one call per stored wheel."""
    if not settings_of(cfg).enabled:
        return False
    lock = lockfile.path(cfg.path("requirements"), python)
    if sha256 and _is_current(s, key, sha256, ctx.sha, wheel):
        return False
    from build_support import tools

    subject, parts, toolchain = wheel_parts(wheel, project=project, lock=lock)
    toolchain = {"python": python_full or python, **toolchain}
    for pin in tools.WHEEL_TOOL_PINS:
        name, _, version = pin.partition("==")
        toolchain[name] = version
    return attest_file(
        s, key, wheel, cfg=cfg, ctx=ctx, subject=subject, parts=parts,
        inputs=[lock, project / "pyproject.toml"], toolchain=toolchain,
        parameters={"platform": platform, "python": python}, default_stage="wheel",
    )  # fmt: skip


def _fetch_sides(s: store.Store, key: str, path: Path, *, refresh: bool = False) -> None:
    """The stored SBOM and statement of ``key`` beside ``path`` (in ``dist/``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in (SBOM_SUFFIX, STATEMENT_SUFFIX):
        side = path.with_name(path.name + suffix)
        if refresh or not side.is_file():
            s.get(key + suffix, side)


# --------------------------------------------------------------------------- JARs


def jar_parts(jar: Path) -> list[sbom.Part]:
    """The native libraries a JAR carries (``native/<os>/<arch>/…``)."""
    parts: list[sbom.Part] = []
    with zipfile.ZipFile(jar) as zf:
        for info in sorted(zf.infolist(), key=lambda i: i.filename):
            bits = info.filename.split("/")
            if len(bits) >= 4 and bits[0] == "native" and not info.is_dir():
                parts.append(
                    sbom.Part(
                        name=info.filename,
                        kind="library",
                        sha256=hashlib.sha256(zf.read(info)).hexdigest(),
                        role=f"native-library:{bits[1]}-{bits[2]}",
                    )
                )
    return parts


def attest_jar(
    s: store.Store,
    key: str,
    path: Path,
    *,
    cfg: Config,
    ctx: commits.BuildContext,
    version: str,
    sha256: str = "",
) -> bool:
    """The hook of the jars stage: one call per stored JAR or POM."""
    if not settings_of(cfg).enabled:
        return False
    if sha256 and _is_current(s, key, sha256, ctx.sha, path):
        return False
    stem = path.name
    ext = "pom" if stem.endswith(".pom") else "jar"
    base = stem[: -len(ext) - 1]
    artifact = base.split(f"-{version}", 1)[0] if f"-{version}" in base else base
    classifier = base.split(f"-{version}-", 1)[1] if f"-{version}-" in base else ""
    group = _maven_group(
        [path.with_name(f"{artifact}-{version}.pom"), cfg.path("java") / "pom.xml"]
    )
    qualifiers = f"?type={ext}" + (f"&classifier={classifier}" if classifier else "")
    subject = sbom.Part(
        name=artifact,
        version=version,
        purl=f"pkg:maven/{group}/{artifact}@{version}{qualifiers}",
        role="jar" if ext == "jar" else "pom",
    )
    parts: list[sbom.Part] = []
    if ext == "jar":
        parts = jar_parts(path)
    maven_bom = _maven_bom(cfg, artifact)
    parts += maven_bom
    java = cfg.path("java")
    return attest_file(
        s, key, path, cfg=cfg, ctx=ctx, subject=subject, parts=parts,
        inputs=sorted(java.glob("*.xml")) + sorted(java.glob("*.txt")),
        parameters={"os": key.split("/")[-2]}, default_stage="jars",
    )  # fmt: skip


def _maven_group(poms: Sequence[Path]) -> str:
    """The groupId of the first readable POM (the module's own, then the project's)."""
    from build_support.publish import mavenrepo

    for pom in poms:
        try:
            return mavenrepo.pom_gav(pom)[0].group
        except (OSError, ValueError, BuildSupportError):
            continue
    return "unknown"


def _maven_bom(cfg: Config, artifact: str) -> list[sbom.Part]:
    """The components cyclonedx-maven-plugin listed for ``artifact``'s module, if it ran."""
    found: list[sbom.Part] = []
    for bom in sorted(cfg.path("java").glob("*/target/*.cdx.json")) + sorted(
        cfg.path("java").glob("*/target/bom.json")
    ):
        try:
            data = json.loads(bom.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        name, _v, _s = sbom.subject_of(data)
        if name == artifact:
            found += [p for p in sbom.parts_of(data) if p.purl]
    return found


# --------------------------------------------------------------------------- images


def dpkg_packages(status: str) -> list[sbom.Part]:
    """The installed packages of a ``/var/lib/dpkg/status`` file."""
    parts = []
    for block in status.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line and not line[0].isspace() and ":" in line:
                k, _, v = line.partition(":")
                fields[k] = v.strip()
        if fields.get("Package") and "installed" in fields.get("Status", "").split():
            arch = fields.get("Architecture", "")
            name, version = fields["Package"], fields.get("Version", "")
            parts.append(
                sbom.Part(
                    name=name,
                    version=version,
                    purl=f"pkg:deb/debian/{name}@{version}" + (f"?arch={arch}" if arch else ""),
                    role="debian-package",
                )
            )
    return parts


def pip_packages(freeze: str) -> list[sbom.Part]:
    """The Python distributions of a ``pip freeze`` output (``name==version`` lines)."""
    from packaging.utils import canonicalize_name

    parts = []
    for line in freeze.splitlines():
        name, sep, version = line.strip().partition("==")
        if sep and name and not name.startswith("#"):
            cname = canonicalize_name(name)
            parts.append(
                sbom.Part(
                    name=cname,
                    version=version.strip(),
                    purl=f"pkg:pypi/{cname}@{version.strip()}",
                    role="python-distribution",
                )
            )
    return parts


def image_key(ctx: commits.BuildContext, name: str, python: str, flavor: str, arch: str) -> str:
    """``images/{branch}/{sha}/{name}-py{X.Y}-{flavor}-{arch}``: where an image's SBOM and
    statement go in the store (the image itself lives in the engine and the registry)."""
    return store.keys.validate_key(
        f"images/{store.keys.branch_segments(ctx.branch)}/{ctx.sha}/{name}-py{python}-{flavor}-{arch}"
    )


def attest_image(
    s: store.Store,
    row_name: str,
    image_id: str,
    *,
    cfg: Config,
    ctx: commits.BuildContext,
    python: str,
    flavor: str,
    arch: str,
    refs: Sequence[str],
    base: str,
    pip_freeze: str,
    dpkg_status: str,
) -> bool:
    """The hook of the images stage: one call per image (``image_id`` is the config
    digest the engine reports, the subject of the statement)."""
    if not settings_of(cfg).enabled:
        return False
    key = image_key(ctx, row_name, python, flavor, arch)
    sha = image_id.removeprefix("sha256:")
    dist = cfg.path("dist") / "images"
    dist.mkdir(parents=True, exist_ok=True)
    path = dist / key.rsplit("/", 1)[-1]
    if _is_current(s, key, sha, ctx.sha, path):
        return False
    ref = refs[0] if refs else row_name
    repo, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "")
    subject = sbom.Part(
        name=repo or ref,
        version=tag,
        kind="container",
        purl=f"pkg:oci/{(repo or ref).rsplit('/', 1)[-1]}@sha256%3A{sha}"
        + (f"?tag={tag}" if tag else ""),
        sha256=sha,
        role="image",
    )
    parts = pip_packages(pip_freeze) + dpkg_packages(dpkg_status)
    if base:
        digest = base.rsplit("sha256:", 1)[-1] if "sha256:" in base else ""
        parts.append(sbom.Part(name=base, kind="container", role="base-image", sha256=digest))
    lock = lockfile.path(cfg.path("requirements"), python)
    return attest_file(
        s, key, path, cfg=cfg, ctx=ctx, subject=subject, parts=parts, inputs=[lock],
        parameters={"image": ref, "python": python, "flavor": flavor, "arch": arch},
        default_stage="images", name=ref,
    )  # fmt: skip


def attest_images(
    s: store.Store, rows: Sequence[ImageRowLike], *, cfg: Config, ctx: commits.BuildContext,
    client: Any,
) -> int:  # fmt: skip
    """The hook of the images stage: one call for the images of a run. What each image
    holds is read from it without running it: ``/var/lib/dpkg/status`` and the product
    image's ``pip freeze`` (the stage's own file). Returns how many statements it wrote."""
    if not settings_of(cfg).enabled:
        return 0
    from build_support.containers import engine

    written = 0
    with tempfile.TemporaryDirectory(prefix="bs-attest-") as tmp:
        work = Path(tmp)
        for n, row in enumerate(rows):
            key = image_key(ctx, row.name, row.python, row.flavor, row.arch)
            beside = cfg.path("dist") / "images" / key.rsplit("/", 1)[-1]
            if _is_current(s, key, row.image_id.removeprefix("sha256:"), ctx.sha, beside):
                continue
            status = work / f"{n}.dpkg-status"
            try:
                engine.copy_out(client, row.image_id, "/var/lib/dpkg/status", status)
                dpkg = status.read_text(encoding="utf-8", errors="replace")
            except Exception as exc:  # noqa: BLE001 - an image without dpkg is fine
                log.warn(f"provenance: {row.name}: no /var/lib/dpkg/status ({exc})")
                dpkg = ""
            freeze = Path(row.pip_freeze) if row.pip_freeze else None
            base_ref = row.base_standin or row.base
            try:
                base = f"{base_ref}@{client.images.get(base_ref).id}" if base_ref else ""
            except Exception:  # noqa: BLE001 - a base that is not local: named without digest
                base = base_ref
            written += attest_image(
                s, row.name, row.image_id, cfg=cfg, ctx=ctx, python=row.python,
                flavor=row.flavor, arch=row.arch, refs=row.refs, base=base,
                pip_freeze=freeze.read_text(encoding="utf-8") if freeze and freeze.is_file()
                else "", dpkg_status=dpkg,
            )  # fmt: skip
    return written
