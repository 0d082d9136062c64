"""Publish: each target's ``--execute`` against the raw client on the same local servers,
and the plan of a commit that is already published everywhere (target: <= 2 s).

Servers on loopback (as the integration tests start them): pypiserver with htpasswd,
Debian's docker-registry with htpasswd, Apache httpd + mod_dav. Baselines in the same
run: ``twine upload`` of the same wheels, ``docker push`` of the same image, ``curl -T``
of the same Maven files, each to a fresh server or path. The stage does more (a plan
that asks each server first, ``twine check``, gpg signatures and four checksums per
file, metadata, a read-back of every file), so ratios > 1 are that cost.
Options: ``--size-mb=N`` per wheel/JAR (default 8).
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from build_support import manifests
from build_support.images import tags as imagetags
from tests.publishing import (
    DOCKER,
    GPG_PASSPHRASE,
    MAVEN_PASSWORD,
    PYPI_PASSWORD,
    REGISTRY_PASSWORD,
    ApacheDav,
    DockerRegistry,
    PypiServer,
    docker_build,
    make_gpg_key,
    make_project,
    store_java,
    tiny_jar,
    tiny_wheel,
)

MiB = 1024 * 1024


def _timed(argv: list[str], **kwargs: Any) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, **kwargs)
    return time.perf_counter() - start


def run(argv: list[str]) -> dict[str, Any]:  # noqa: PLR0915
    size_mb = 8
    for arg in argv:
        if arg.startswith("--size-mb="):
            size_mb = int(arg.split("=", 1)[1])
    result: dict[str, Any] = {"size_mb_per_file": size_mb}
    with tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp_name:
        tmp = Path(tmp_name)
        pypi, pypi_raw = PypiServer(tmp / "pypi"), PypiServer(tmp / "pypi-raw")
        reg, reg_raw = DockerRegistry(tmp / "reg"), DockerRegistry(tmp / "reg-raw")
        dav = ApacheDav()
        servers = [pypi, pypi_raw, reg, reg_raw, dav]
        tags: list[str] = []
        for s in servers:
            s.start()
        try:
            armored, _fpr = make_gpg_key(tmp / "keyring")
            toml = (
                pypi.toml().replace('["pypi"]', '["pypi", "docker", "maven"]')
                + reg.toml("bench", ["minray"]).split("\n", 2)[2]
                + dav.toml().split("\n", 2)[2]
            )
            p = make_project(tmp, toml, {
                "BUILD_SUPPORT_PYPI_PASSWORD": PYPI_PASSWORD, "TEST_REGISTRY_USER": reg.username,
                "TEST_REGISTRY_PASSWORD": REGISTRY_PASSWORD, "TEST_MAVEN_USER": dav.username,
                "TEST_MAVEN_PASSWORD": MAVEN_PASSWORD, "TEST_GPG_KEY": armored})  # fmt: skip
            (p.root / "gpg-passphrase.txt").write_text(GPG_PASSPHRASE)
            p.pass_release_tests()
            wheels = [tiny_wheel(tmp / "w", f"bench{i}", "1.0", p.sha,
                                 payload=os.urandom(size_mb * MiB)) for i in range(3)]  # fmt: skip
            for w in wheels:
                p.put_wheel(w)
            names = store_java(p)
            big = tmp / "java-big" / "minray-api-0.1.0.jar"
            tiny_jar(big, p.sha, {"io/minray/big.bin": os.urandom(size_mb * MiB)})
            from build_support.store import keys

            big_key = keys.jar_key("main", p.sha, "linux", big.name)
            p.store.put(big_key, big)
            p.attest(big_key, big)  # its SBOM and statement, as the jars stage leaves them
            ctx = tmp / "img"
            ctx.mkdir()
            (ctx / "blob.bin").write_bytes(os.urandom(size_mb * 4 * MiB))
            image = docker_build(ctx, "FROM scratch\nCOPY blob.bin /blob.bin\nLABEL "
                                 f"org.opencontainers.image.revision={p.sha}\n")  # fmt: skip
            tags += imagetags.image_tags(imagetags.TagInputs(
                branch="main", sha=p.sha, pr_number=None, date=dt.date(2026, 11, 26),
                python="3.11", flavor="cpu", arch="x86_64", default_branch="main",
                default_python="3.11"))  # fmt: skip
            row = manifests.ImageRow(name="minray", image_id=image,
                                     refs=tuple(f"bench/minray:{t}" for t in tags), built=True,
                                     input_digest="b", commit=p.sha, python="3.11",
                                     flavor="cpu", arch="x86_64", base="scratch")  # fmt: skip
            manifests.write(manifests.images_path(p.root / "dist"),
                            manifests.ImagesManifest(images=(row,)))  # fmt: skip
            p.attest_image(row)

            for target in ("pypi", "docker", "maven"):
                start = time.perf_counter()
                proc = p.publish(target, "--execute")
                if proc.returncode != 0:
                    raise RuntimeError(proc.stderr[-3000:])
                result[f"{target}_publish_seconds"] = round(time.perf_counter() - start, 2)

            # raw clients, same bytes, fresh servers/paths
            env = {**os.environ, "TWINE_USERNAME": pypi_raw.username,
                   "TWINE_PASSWORD": PYPI_PASSWORD, "TWINE_NON_INTERACTIVE": "1"}  # fmt: skip
            twine = [sys.executable, "-m", "twine", "upload", "--disable-progress-bar",
                     "--repository-url", pypi_raw.url + "/", *map(str, wheels)]  # fmt: skip
            result["pypi_raw_twine_seconds"] = round(_timed(twine, env=env), 2)
            raw_ref = f"{reg_raw.host}/bench/minray:raw"
            reg_raw.docker("tag", image, raw_ref)
            start = time.perf_counter()
            reg_raw.docker("push", raw_ref)
            result["docker_raw_push_seconds"] = round(time.perf_counter() - start, 2)
            src = p.root / "java-src"
            files = [*(src / n for n in names if n != big.name), big]
            start = time.perf_counter()
            for f in files:
                subprocess.run(["curl", "-sSf", "-u", f"{dav.username}:{MAVEN_PASSWORD}",
                                "-T", str(f), f"{dav.url}/{uuid.uuid4().hex}-{f.name}"],
                               check=True, capture_output=True)  # fmt: skip
            result["maven_raw_curl_seconds"] = round(time.perf_counter() - start, 2)

            for target, raw in (("pypi", "pypi_raw_twine_seconds"),
                                ("docker", "docker_raw_push_seconds"),
                                ("maven", "maven_raw_curl_seconds")):  # fmt: skip
                result[f"{target}_ratio_vs_raw"] = round(
                    result[f"{target}_publish_seconds"] / max(result[raw], 1e-3), 2)  # fmt: skip

            start = time.perf_counter()
            plan = p.publish()
            result["plan_all_published_seconds"] = round(time.perf_counter() - start, 2)
            start = time.perf_counter()
            again = p.publish("--execute")
            result["execute_all_published_seconds"] = round(time.perf_counter() - start, 2)
            if "nothing to do" not in again.stderr or plan.returncode != 0:
                raise RuntimeError(again.stderr[-3000:])
            result["plan_target_seconds"] = 2.0
            result["plan_within_target"] = result["execute_all_published_seconds"] <= 2.0
        finally:
            for s in servers:
                s.stop()
            mine = [f"{reg.host}/bench/minray:{t}" for t in tags] + [
                f"{reg_raw.host}/bench/minray:raw"
            ]
            subprocess.run([DOCKER, "rmi", "-f", *mine], capture_output=True, check=False)
    return result
