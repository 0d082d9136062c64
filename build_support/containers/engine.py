"""The one way to reach the Docker engine, for every stage: the CLI the harness runs
(:func:`docker_client`, Debian's, which builds with BuildKit), a running engine
(:func:`ensure_docker` starts a local dockerd when needed), an SDK client
(:func:`connect`, :func:`client`); build with BuildKit through the CLI (context streamed
on stdin, the failing step's log on error), and through the SDK find by digest label,
tag, smoke-run and copy files out.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import io
import os
import re
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from build_support import cmd, fsutil, log, provision, tools
from build_support.containers.context import DIGEST_LABEL, BuildContext
from build_support.errors import (
    CommandFailedError,
    DockerError,
    ToolMissingError,
    VerificationError,
)

DOCKERD_LOG = Path("/var/log/build-support-dockerd.log")


def docker_client() -> str:
    """The docker CLI the harness uses (Debian's, which builds with BuildKit)."""
    # Debian's client at /usr/bin/docker has BuildKit; a newer client earlier on PATH may lack it.
    if Path("/usr/bin/docker").exists():
        return "/usr/bin/docker"
    found = shutil.which("docker")
    if found is None:
        raise DockerError("no docker client", hint=f"sudo {tools.apt_line(['docker.io'])}")
    return found


def engine_running(timeout: float = 10.0) -> bool:
    try:
        proc = cmd.run(
            [docker_client(), "info", "--format", "{{.ServerVersion}}"],
            capture=True,
            check=False,
            echo=False,
            timeout=timeout,
        )
    except (OSError, CommandFailedError, DockerError, ToolMissingError):
        return False
    return proc.returncode == 0


#: Daemons this process started and leaves running.
_STARTED: list[subprocess.Popen[bytes]] = []


def ensure_docker(*, start: bool = True, wait_seconds: float = 60.0) -> None:
    """A running Docker engine, starting Debian's dockerd if allowed and needed."""
    provision.ensure_tools("docker", "debian-docker-client", "dockerd")
    if engine_running():
        return
    if not start or not provision.is_root():
        raise DockerError(
            "the Docker engine is not running",
            hint="start it: sudo dockerd &  (or systemctl start docker)",
        )
    log.step("starting dockerd")
    with DOCKERD_LOG.open("ab") as out:
        daemon = cmd.spawn(["dockerd"], stdout=out, stderr=out, new_session=True)
    # The engine outlives this process on purpose; holding the handle keeps Python from
    # warning that a child it never waited for is still running.
    _STARTED.append(daemon)
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if engine_running(timeout=5):
            return
        if daemon.poll() is not None:
            raise DockerError(
                f"dockerd exited with code {daemon.returncode} before it was ready",
                hint=f"see {DOCKERD_LOG}",
            )
        time.sleep(1)
    raise DockerError(
        f"dockerd did not become ready within {wait_seconds:.0f}s",
        hint=f"see {DOCKERD_LOG}",
    )


def sdk() -> Any:
    """The Docker SDK for Python, imported lazily (and untyped: the repo's docker/ dir
    would shadow it for the type checker)."""
    return importlib.import_module("docker")


def connect(timeout: float) -> Any:
    """A Docker SDK client for a running engine, or a DockerError that says how to start one.

    One request: the SDK asks the engine its API version (``GET /version``), with
    ``timeout``, so an unresponsive engine fails instead of hanging; that answer is the
    ping. Only when it fails and ``DOCKER_HOST`` is unset is a local dockerd started
    (as root) and asked again.
    """
    host = os.environ.get("DOCKER_HOST", "")
    where = host or "unix:///var/run/docker.sock"
    hint = (
        "start it: sudo dockerd &  (or systemctl start docker); "
        "check DOCKER_HOST if it points elsewhere"
    )
    if not host:  # a local engine: its tools are provisioned as ensure_docker does
        provision.ensure_tools("docker", "debian-docker-client", "dockerd")
    if host.startswith("unix://") and not Path(host.removeprefix("unix://")).exists():
        raise DockerError(f"cannot reach the Docker engine at {where}: no such socket", hint=hint)
    try:
        return _client(timeout)
    except DockerError as exc:
        if host:
            raise DockerError(
                f"cannot reach the Docker engine at {where}: {exc}", hint=hint
            ) from exc
    ensure_docker()
    try:
        return _client(timeout)
    except DockerError as exc:
        raise DockerError(f"cannot reach the Docker engine at {where}: {exc}", hint=hint) from exc


@contextlib.contextmanager
def client(timeout: float = 30.0) -> Iterator[Any]:
    """:func:`connect`, closed afterwards."""
    found = connect(timeout)
    try:
        yield found
    finally:
        found.close()


def _client(timeout: float) -> Any:
    """``docker.from_env``: its API version negotiation is the one round trip."""
    import requests

    docker = sdk()
    try:
        return docker.from_env(timeout=int(max(1, timeout)))
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
        raise DockerError(str(exc)) from exc


def check_buildkit(client_path: str) -> None:
    """The CLI at ``client_path`` must build with BuildKit (``DOCKER_BUILDKIT=1``)."""
    proc = cmd.run(
        [client_path, "build", "--help"],
        env={"DOCKER_BUILDKIT": "1"},
        capture=True,
        check=False,
        echo=False,
        timeout=60,
    )
    text = (proc.stdout or "") + (proc.stderr or "")
    if proc.returncode != 0 or "--progress" not in text:
        detail = text.strip().splitlines()[-1] if text.strip() else f"exit {proc.returncode}"
        raise DockerError(
            f"the Docker CLI {client_path} cannot build with BuildKit: {detail}",
            hint="use Debian's client /usr/bin/docker (apt-get install docker.io), which "
            "builds with BuildKit when DOCKER_BUILDKIT=1; or install the buildx plugin",
        )


_BUILDKIT_OK: set[str] = set()


def check_buildkit_once(client_path: str) -> None:
    """:func:`check_buildkit` before the first build of this process (none when reusing)."""
    if client_path not in _BUILDKIT_OK:
        check_buildkit(client_path)
        _BUILDKIT_OK.add(client_path)


def failing_step_output(output: str) -> str:
    """From ``--progress=plain`` output, the log of the step that failed and the error."""
    lines = output.splitlines()
    failed = None
    for line in lines:
        m = re.match(r"#(\d+) ERROR:", line)
        if m:
            failed = m.group(1)
    if failed is None:
        return "\n".join(lines[-cmd.TAIL_LINES :])
    step = [ln for ln in lines if ln.startswith(f"#{failed} ")]
    try:
        tail_start = next(i for i in range(len(lines) - 1, -1, -1) if lines[i] == "------")
    except StopIteration:
        tail_start = len(lines)
    summary = [ln for ln in lines[tail_start + 1 :] if ln.strip()]
    return "\n".join(step[-200:] + summary)


def docker_build(
    *,
    client_path: str,
    context: BuildContext,
    tag: str,
    build_args: Mapping[str, str],
    labels: Mapping[str, str],
    platform: str,
    timeout: float,
    workdir: Path,
) -> None:
    """``DOCKER_BUILDKIT=1 docker build -`` with the context tar on stdin."""
    ctx_tar = workdir / "context.tar"
    with ctx_tar.open("wb") as fh:
        context.write_tar(fh)
    argv = [client_path, "build", "--progress=plain", "--platform", platform, "-f", "Dockerfile"]
    for k, v in sorted(build_args.items()):
        argv += ["--build-arg", f"{k}={v}"]
    for k, v in sorted(labels.items()):
        argv += ["--label", f"{k}={v}"]
    argv += ["-t", tag, "-"]
    log.info(f"+ DOCKER_BUILDKIT=1 {cmd.quote(argv)} < {ctx_tar.name}")
    try:
        # sh only redirects stdin: the context is streamed from the file, not held in memory.
        cmd.run(
            ["sh", "-c", 'exec "$0" "$@" < "$BUILD_SUPPORT_CONTEXT_TAR"', *argv],
            env={"DOCKER_BUILDKIT": "1", "BUILD_SUPPORT_CONTEXT_TAR": str(ctx_tar)},
            capture=True,
            echo=False,
            timeout=timeout,
        )
    except CommandFailedError as exc:
        detail = failing_step_output(exc.output) if exc.output else str(exc)
        raise DockerError(
            f"docker build of {tag} failed (exit {exc.returncode}); the failing step:\n{detail}",
            hint="fix the step above; the full log: rerun the docker build shown above",
        ) from exc
    finally:
        ctx_tar.unlink(missing_ok=True)


@dataclass(frozen=True)
class ImageSummary:
    """What the engine's image list says of one image: enough to reuse it, no inspect."""

    id: str
    labels: Mapping[str, str]
    repo_tags: tuple[str, ...]

    @classmethod
    def of(cls, image: Any) -> ImageSummary:
        """The summary of an SDK ``Image`` (already inspected)."""
        return cls(str(image.id), dict(image.labels or {}), tuple(image.tags or ()))


def find_by_digest(client: Any, digest: str) -> ImageSummary | None:
    """The image built from inputs with ``digest``, if any: one list request.

    Every image this stage builds sets its own digest label, so a child never carries
    its parent's; an image someone else builds FROM ours inherits it, hence the
    ancestor pick of :func:`oldest_with_label`.
    """
    return oldest_with_label(client, f"{DIGEST_LABEL}={digest}")


def oldest_with_label(client: Any, label: str) -> ImageSummary | None:
    """The image labelled ``label`` that all others carrying it were built FROM, or None.

    One list call (``GET /images/json`` filtered by the label; the summaries carry ID,
    labels and tags): descendants hold the ancestor's layers and more, so the smallest
    is the ancestor. Only images tied at that size are inspected (a descendant whose
    extra layers are empty): the fewest layers wins. Still tied (a descendant that only
    set ENV, USER, LABEL… has the ancestor's layers and, with BuildKit, its creation
    time), each one's history is asked for: a descendant's is the ancestor's plus its
    own steps, so the shortest wins. Images that are not each other's ancestor tied on
    all of that (the same inputs built twice, ``--force``): the newest, the one the last
    build tagged; its ID breaks an exact tie.
    """
    summaries = client.api.images(filters={"label": label})
    if not summaries:
        return None
    smallest = min(int(s.get("Size") or 0) for s in summaries)
    ties = [s for s in summaries if int(s.get("Size") or 0) == smallest]
    if len(ties) == 1:
        s = ties[0]
        return ImageSummary(
            str(s["Id"]),
            dict(s.get("Labels") or {}),
            tuple(t for t in s.get("RepoTags") or () if t != "<none>:<none>"),
        )
    inspected = [client.images.get(s["Id"]) for s in ties]
    ties = _fewest(inspected, lambda i: len(i.attrs.get("RootFS", {}).get("Layers", [])))
    if len(ties) > 1:
        ties = _fewest(ties, lambda i: len(client.api.history(i.id)))
    return ImageSummary.of(
        max(ties, key=lambda i: (created_ns(str(i.attrs.get("Created", ""))), str(i.id)))
    )


def _fewest(images: Sequence[Any], count: Callable[[Any], int]) -> list[Any]:
    """The images of ``images`` with the smallest ``count`` (each counted once)."""
    counted = [(count(i), i) for i in images]
    least = min(n for n, _ in counted)
    return [i for n, i in counted if n == least]


_CREATED = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)?$")


def created_ns(created: str) -> int:
    """An engine's ``Created`` (RFC 3339 with up to nanoseconds) in ns since the epoch;
    0 when it is not one."""
    m = _CREATED.match(created.strip())
    if m is None:
        return 0
    when = dt.datetime.strptime(m.group(1) + (m.group(3) or "Z"), "%Y-%m-%dT%H:%M:%S%z")
    return int(when.timestamp()) * 10**9 + int((m.group(2) or "0").ljust(9, "0"))


PINNED_REPO = "build-support/by-id"


def pinned_name(image_id: str) -> str:
    """The local name for exactly ``image_id`` (BuildKit's FROM takes names, not IDs)."""
    return f"{PINNED_REPO}:{image_id.removeprefix('sha256:')[:32]}"


def pinned_ref(client: Any, image_id: str) -> str:
    """:func:`pinned_name`, tagged onto ``image_id`` (needed only by a build)."""
    ref = pinned_name(image_id)
    client.images.get(image_id).tag(PINNED_REPO, ref.rpartition(":")[2])
    return ref


def tag_image(client: Any, image: ImageSummary, refs: Sequence[str]) -> None:
    """Tag ``image`` with every ref it does not already carry (one call per new tag)."""
    for ref in refs:
        if ref in image.repo_tags:
            continue
        repo, _, tag = ref.rpartition(":")
        client.api.tag(image.id, repo, tag)


#: Label on every container the images stage runs, so a test (or a human) can find them.
OWNER_LABEL = "io.build-support.owner"


def run_removed(
    client: Any, image_id: str, command: Sequence[str], *, platform: str, owner: str = "images"
) -> bytes:
    """Run ``command`` in a new container of ``image_id`` (no network) and return its stdout.

    The container is removed on every path: success, failure, Ctrl-C, SIGTERM (the stage
    turns it into an exception) and errors from the engine. The SDK's
    ``containers.run(remove=True)`` removes it only when the run returns. A non-zero exit
    raises the SDK's ``ContainerError`` with the container's stderr.
    """
    docker = sdk()
    container = client.containers.create(
        image_id,
        list(command),
        network_disabled=True,
        platform=platform,
        labels={OWNER_LABEL: owner},
    )
    try:
        container.start()
        status = int(container.wait().get("StatusCode", 1))
        out = bytes(container.logs(stdout=True, stderr=False))
        if status != 0:
            err = bytes(container.logs(stdout=False, stderr=True))
            raise docker.errors.ContainerError(container, status, command, image_id, err)
        return out
    finally:
        try:
            container.remove(force=True)
        except docker.errors.APIError as exc:  # already gone, or the engine went away
            log.warn(f"could not remove container {container.short_id}: {exc}")


def smoke_test(
    client: Any, image_id: str, *, module: str, expected_commit: str, platform: str
) -> str:
    """Run ``import module`` and print its commit (:func:`wheelfile.commit_program`) as the
    image's user; check both."""
    # Here, not at the top: .ci/run starts the engine with the host's python3 (standard
    # library only), and wheelfile needs packaging.
    from build_support import wheelfile

    docker = sdk()
    script = f"id -u; python -c '{wheelfile.commit_program(module)}'"
    try:
        raw = run_removed(client, image_id, ["sh", "-c", script], platform=platform)
    except docker.errors.ContainerError as exc:
        raise VerificationError(
            f"smoke run of {image_id[:19]} failed: {exc.stderr!r}",
            hint=f"the image cannot import {module}; check the wheels and the build log",
        ) from exc
    lines = raw.decode().splitlines()
    if len(lines) != 2:
        raise VerificationError(f"smoke run printed unexpected output: {raw!r}")
    uid, commit = str(lines[0]), str(lines[1])
    if uid == "0":
        raise VerificationError(
            f"the image {image_id[:19]} runs as root",
            hint="the product image's Dockerfile must end with USER ${BUILD_SUPPORT_USER} "
            "([tool.build_support.images] user)",
        )
    if commit != expected_commit:
        raise VerificationError(
            f"the commit of {module} in the image is {commit!r}, expected {expected_commit}",
            hint="the store holds wheels of another commit; rebuild them: nox -s wheel",
        )
    log.success(f"smoke run: uid {uid}, {module} at commit {commit}")
    return uid


def copy_out(client: Any, image_id: str, path: str, dest: Path) -> Path:
    """Copy one file out of an image (without running it), atomically."""
    container = client.containers.create(image_id, ["true"])
    try:
        stream, _stat = container.get_archive(path)
        buf = io.BytesIO(b"".join(stream))
    finally:
        container.remove(force=True)
    with tarfile.open(fileobj=buf) as tar:
        member = tar.next()
        if member is None or not member.isfile():
            raise DockerError(f"{path} in {image_id[:19]} is not a file")
        data = tar.extractfile(member)
        content = data.read() if data else b""
    return fsutil.write_atomic(dest, content)
