"""Docker: the base-deps and product images of ``dist/images/images.json`` to a registry.

Each image keeps the images stage's tags (:mod:`build_support.images.tags`). A tag that
names the commit (it contains the short SHA: ``nightly.YYMMDD.sha6-…``, ``X.sha6-…``,
``sha6-…``) is immutable: pushed in the ``stage`` phase and never overwritten with other
content (the plan refuses). Every other tag (``nightly``, ``nightly-py311``, ``cpu``…)
is an alias that moves: pushed in the ``release`` phase, only from the default branch.

What the registry holds is read through its HTTP API (``/v2/<repo>/manifests/<tag>``,
basic auth or a bearer token from its challenge) and compared by the image's config
digest (the image ID), which is the same on every machine. When an image exists for both
x86_64 and aarch64, each is pushed under an arch-suffixed tag and one manifest list per
tag joins them (``docker manifest create/push``), inspected after the push.

The commit is read from inside each image: the product image's
``org.opencontainers.image.revision`` label. base-deps is shared by every commit with the
same lockfile and carries no commit; it is published for a commit only when that
commit's product image is built on it (its layers are a prefix of the product's).
"""

from __future__ import annotations

import json
import re
import shutil
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from build_support import cmd, log, manifests, redact
from build_support.containers import engine
from build_support.errors import (
    ArtifactNotFoundError,
    CommandFailedError,
    ConfigError,
    PublishError,
)
from build_support.images import tags as imagetags
from build_support.publish import attestations, credentials, http
from build_support.publish.journal import Journal
from build_support.publish.model import Artifact, PlanItem, Remote, RunEnv, decide
from build_support.publish.settings import WHERE

REVISION_LABEL = "org.opencontainers.image.revision"
MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
)
LIST_TYPES = (
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
)
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class LocalImage:
    row: manifests.ImageRow
    image_id: str
    layers: tuple[str, ...]
    labels: dict[str, str]


def is_immutable(tag: str, sha: str) -> bool:
    """Tags that name the commit never move; aliases do."""
    return imagetags.short_sha(sha) in tag


def list_digest(config_digests: Sequence[str]) -> str:
    """What a manifest list is compared by: the sorted config digests it joins."""
    return "list:" + ",".join(sorted(config_digests))


def recorded_images(path: Path, wanted: Sequence[str]) -> list[manifests.ImageRow]:
    """The rows of ``images.json`` at ``path`` to publish, in its order: those named in
    ``wanted`` (``[tool.build_support.publish.docker] images``), every row when it is empty.
    """
    recorded = manifests.read(path, manifests.ImagesManifest).images
    rows = [r for r in recorded if not wanted or r.name in wanted]
    names = {r.name for r in recorded}
    missing = [w for w in wanted if w not in names]
    if not rows or missing:
        # an image asked for by name and not built is an error, not a smaller release
        raise ArtifactNotFoundError(
            f"{path} lists none of the images {', '.join(missing or wanted) or '(any)'}"
            + (f" (it lists {', '.join(sorted(names))})" if names else ""),
            hint=f"build them first (nox -s images), or fix the names in {WHERE}.docker.images",
        )
    return rows


class DockerTarget:
    name = "docker"

    def __init__(self, env: RunEnv) -> None:
        self.env = env
        self.settings = env.settings.docker
        self.unconfigured = ""
        if not self.settings.registry:
            self.unconfigured = f"{WHERE}.docker.registry not set"
            if env.execute:
                raise ConfigError(
                    self.unconfigured,
                    hint="set registry (host[:port]) and namespace; see docs/publish.md",
                )
        scheme = "http" if self.settings.insecure else "https"
        self.api = self.settings.api_url.rstrip("/") or f"{scheme}://{self.settings.registry}"
        self.client = engine.docker_client()
        self.username = env.env.get(self.settings.username_env, "")
        self.password = credentials.read(
            env_var=self.settings.password_env,
            file=self.settings.password_file,
            what="registry password",
            root=env.cfg.root,
            env=env.env,
            required=False,
        )
        # The login (the password, base64) lands here: inside the run's private folder
        # (0700, under the cache), swept by the next run when this one is killed.
        self.docker_config = env.workdir / "docker-config"
        self.docker_config.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.docker_config.chmod(0o700)
        self._logged_in = False
        self._tokens: dict[str, str] = {}

    # -- collect -----------------------------------------------------------------------------
    def _inspect(self, image_id: str) -> dict[str, Any]:
        out = cmd.output([self.client, "image", "inspect", image_id])
        data: list[dict[str, Any]] = json.loads(out)
        return data[0]

    def _repo(self, ref: str) -> str:
        """``registry/namespace/name`` for a local ``namespace/name:tag`` reference."""
        name = ref.rsplit(":", 1)[0].rsplit("/", 1)[-1]
        namespace = self.settings.namespace or ref.rsplit(":", 1)[0].rsplit("/", 1)[0]
        return (
            f"{self.settings.registry}/{namespace}/{name}"
            if self.settings.registry
            else (f"{namespace}/{name}")
        )

    def collect(self) -> list[Artifact]:
        path = manifests.images_path(self.env.cfg.path("dist"))
        rows = recorded_images(path, self.settings.images)
        local: list[LocalImage] = []
        for r in rows:
            try:
                info = self._inspect(r.image_id)
            except CommandFailedError:
                raise ArtifactNotFoundError(
                    f"image {r.refs[0] if r.refs else r.image_id} ({r.image_id}) of {path} "
                    "is not in the local Docker engine",
                    hint="rebuild it: nox -s images",
                ) from None
            labels = dict((info.get("Config") or {}).get("Labels") or {})
            layers = tuple((info.get("RootFS") or {}).get("Layers") or ())
            local.append(LocalImage(r, str(info["Id"]), layers, labels))
        out: list[Artifact] = []
        arches: dict[tuple[str, str, str], set[str]] = {}
        for img in local:
            arches.setdefault((img.row.name, img.row.python, img.row.flavor), set()).add(
                img.row.arch
            )
        for img in local:
            commit = img.labels.get(REVISION_LABEL, "")
            if not commit:  # base-deps: the commit of a product image built on it
                commit = self._base_commit(img, local)
            multi = len(arches[(img.row.name, img.row.python, img.row.flavor)]) > 1
            for ref in img.row.refs:
                tag = ref.rsplit(":", 1)[1]
                if multi and img.row.arch == "x86_64":
                    tag = f"{tag}-x86_64"
                out.append(self._artifact(img, commit, tag, self._repo(ref)))
        out += self._lists(local, arches)
        return out

    def _artifact(self, img: LocalImage, commit: str, tag: str, repo: str) -> Artifact:
        immutable = is_immutable(tag, self.env.ctx.sha)
        return Artifact(
            target=self.name,
            name=f"{img.row.name}:{tag}",
            digest=img.image_id,
            size=0,
            commit=commit,
            version=img.row.version or "",
            destination=f"{repo}:{tag}",
            phase="stage" if immutable else "release",
            meta={"repo": repo, "tag": tag, "image_id": img.image_id, "kind": "image",
                  "mutable": "" if immutable else "yes", "arch": img.row.arch,
                  "attestation": attestations.image_key(self.env.ctx, img.row)},
        )  # fmt: skip

    def _lists(
        self, local: Sequence[LocalImage], arches: dict[tuple[str, str, str], set[str]]
    ) -> list[Artifact]:
        out: list[Artifact] = []
        for key, found in arches.items():
            if len(found) < 2:
                continue
            x86 = next(i for i in local if (i.row.name, i.row.python, i.row.flavor) == key
                       and i.row.arch == "x86_64")  # fmt: skip
            others = [i for i in local if (i.row.name, i.row.python, i.row.flavor) == key
                      and i.row.arch != "x86_64"]  # fmt: skip
            for ref in x86.row.refs:
                tag = ref.rsplit(":", 1)[1]
                repo = self._repo(ref)
                members = [f"{repo}:{tag}-x86_64"] + [
                    f"{repo}:{tag}{imagetags.arch_suffix(o.row.arch)}"  # type: ignore[arg-type]
                    for o in others
                ]
                immutable = is_immutable(tag, self.env.ctx.sha)
                commit = x86.labels.get(REVISION_LABEL, "") or self._base_commit(x86, local)
                out.append(
                    Artifact(
                        target=self.name,
                        name=f"{x86.row.name}:{tag} (manifest list)",
                        digest=list_digest([x86.image_id, *(o.image_id for o in others)]),
                        size=0,
                        commit=commit,
                        version=x86.row.version or "",
                        destination=f"{repo}:{tag}",
                        phase="stage" if immutable else "release",
                        meta={
                            "repo": repo,
                            "tag": tag,
                            "kind": "list",
                            "members": " ".join(members),
                            "mutable": "" if immutable else "yes",
                        },
                    )
                )
        return out

    @staticmethod
    def _base_commit(img: LocalImage, local: Sequence[LocalImage]) -> str:
        return next(
            (o.labels[REVISION_LABEL] for o in local if o is not img
             and REVISION_LABEL in o.labels and o.layers[: len(img.layers)] == img.layers),
            "(none: no product image of this commit is built on it)",
        )  # fmt: skip

    # -- look --------------------------------------------------------------------------------
    def basic_auth(self) -> str | None:
        """The registry's basic credentials, when configured."""
        return http.basic(self.username, self.password.value) if self.password else None

    def _get(self, repo_path: str, reference: str) -> http.Response:
        url = f"{self.api}/v2/{repo_path}/manifests/{reference}"
        accept = ", ".join((*MANIFEST_TYPES, *LIST_TYPES))
        auth = self._tokens.get(repo_path)
        if auth is None and self.password is not None:
            auth = http.basic(self.username, self.password.value)
        resp = http.request("GET", url, headers={"Accept": accept}, authorization=auth,
                            timeout=60)  # fmt: skip
        challenge = next((v for k, v in resp.headers.items() if k.lower() == "www-authenticate"),
                         "")  # fmt: skip
        if resp.status == 401 and challenge.lower().startswith("bearer"):
            self._tokens[repo_path] = self._token(challenge, repo_path)
            resp = http.request("GET", url, headers={"Accept": accept},
                                authorization=self._tokens[repo_path], timeout=60)  # fmt: skip
        return resp

    def _token(self, challenge: str, repo_path: str) -> str:
        """A bearer token from the service the registry's challenge names (basic auth)."""
        params = dict(_CHALLENGE.findall(challenge))
        realm = params.get("realm", "")
        if not realm.startswith(("https://", "http://")):
            raise PublishError(
                f"the registry's Bearer challenge names no token service URL: "
                f"{credentials.scrub(challenge[:200])}",
                hint="check registry and api_url in [tool.build_support.publish.docker]",
            )
        scope = params.get("scope", f"repository:{repo_path}:pull")
        query = {"service": params.get("service", ""), "scope": scope}
        auth = http.basic(self.username, self.password.value) if self.password else None
        resp = http.request("GET", f"{realm}?{urllib.parse.urlencode(query)}",
                            authorization=auth, timeout=60)  # fmt: skip
        where = f"the registry's token service {redact.url(realm)} (scope {scope})"
        if resp.status != 200:
            raise PublishError(
                f"{where} answered {resp.status}: "
                f"{credentials.scrub(resp.text()[:200].strip()) or '(no body)'}",
                hint=f"check the registry login: ${self.settings.username_env} and "
                f"${self.settings.password_env} (or password_file) in "
                "[tool.build_support.publish.docker]; a Docker Hub access token needs "
                "read access",
            )
        try:
            body = json.loads(resp.body)
            token = body.get("token") or body.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise PublishError(
                f"{where} answered 200 without a token",
                hint="the token service must answer JSON with a 'token' or 'access_token'",
            )
        return http.bearer(token)

    def remote_digest(self, repo: str, tag: str) -> str | None:
        """The config digest (image ID) at ``repo:tag``, a :func:`list_digest`, or None."""
        repo_path = repo.split("/", 1)[1] if self.settings.registry else repo
        resp = self._get(repo_path, tag)
        if resp.status == 404:
            return None
        if resp.status != 200:
            raise PublishError(
                f"the registry answered {resp.status} for {repo}:{tag}: {resp.text()[:200]}",
                hint="check registry, api_url and the credentials in "
                "[tool.build_support.publish.docker]",
            )
        doc = json.loads(resp.body)
        if doc.get("mediaType") in LIST_TYPES or "manifests" in doc:
            configs = []
            for m in doc.get("manifests", []):
                child = json.loads(self._get(repo_path, m["digest"]).body)
                configs.append(child["config"]["digest"])
            return list_digest(configs)
        return str(doc["config"]["digest"])

    def probe(self, artifacts: Sequence[Artifact]) -> list[PlanItem]:
        items: list[PlanItem] = []
        for a in artifacts:
            if self.unconfigured:
                items.append(decide(a, Remote(present=False, error=self.unconfigured)))
                continue
            try:
                digest = self.remote_digest(a.meta["repo"], a.meta["tag"])
            except (http.HttpError, PublishError) as exc:
                items.append(decide(a, Remote(present=False, error=f"cannot ask: {exc}")))
                continue
            remote = Remote(present=digest is not None, digest=digest)
            items.append(decide(a, remote, mutable=bool(a.meta.get("mutable"))))
        return items

    # -- send --------------------------------------------------------------------------------
    def _docker(self, *args: str, input_text: str | None = None) -> str:
        proc = cmd.run([self.client, *args], env={"DOCKER_CONFIG": str(self.docker_config)},
                       capture=True, input_text=input_text,
                       timeout=self.settings.timeout_seconds)  # fmt: skip
        return credentials.scrub(proc.stdout + proc.stderr)

    def _login(self) -> None:
        if self._logged_in or self.password is None or not self.username:
            return
        self._docker("login", "--username", self.username, "--password-stdin",
                     self.settings.registry, input_text=self.password.value + "\n")  # fmt: skip
        self._logged_in = True

    def preflight(self, items: Sequence[PlanItem]) -> None:
        if any(i.artifact.meta.get("mutable") for i in items) and (
            self.env.ctx.branch != (self.env.settings.branch or self.env.cfg.default_branch)
        ):
            raise PublishError("moving tags are updated only from the default branch")
        if items:
            self._login()

    def send(self, item: PlanItem, journal: Journal) -> None:
        a = item.artifact
        repo, tag = a.meta["repo"], a.meta["tag"]
        insecure = ["--insecure"] if self.settings.insecure else []
        if a.meta["kind"] == "list":
            members = a.meta["members"].split()
            self._docker("manifest", "create", "--amend", *insecure, f"{repo}:{tag}", *members)
            self._docker("manifest", "push", "--purge", *insecure, f"{repo}:{tag}")
            log.info(self._docker("manifest", "inspect", *insecure, f"{repo}:{tag}")[:2000])
        else:
            ref = f"{repo}:{tag}"
            self._docker("tag", a.meta["image_id"], ref)
            local = str(self._inspect(ref)["Id"])
            if local != a.digest:  # the engine's tag moved: push only what was planned
                raise PublishError(f"{ref} is {local} in the Docker engine, the plan has "
                                   f"{a.digest}: not pushed")  # fmt: skip
            try:
                out = self._docker("push", ref)
            except CommandFailedError as exc:
                log.warn(f"docker push {ref} failed; asking the registry whether it arrived: "
                         f"{credentials.scrub(exc.message.splitlines()[0])}")  # fmt: skip
                out = ""
            pushed = re.search(r"digest: (sha256:[0-9a-f]{64})", out)
            if pushed:
                log.info(f"{ref}: manifest {pushed.group(1)}")
        there = self.remote_digest(repo, tag)
        if there != a.digest:
            raise PublishError(
                f"{repo}:{tag} holds {there or 'nothing'} after the push, expected {a.digest}",
                hint="check the registry, then rerun with --execute",
            )
        if a.meta["kind"] == "image" and a.meta.get(attestations.META):
            path = repo.split("/", 1)[1] if self.settings.registry else repo
            attestations.attach_image(self, path, tag, env=self.env, a=a)

    def close(self) -> None:
        shutil.rmtree(self.docker_config, ignore_errors=True)
