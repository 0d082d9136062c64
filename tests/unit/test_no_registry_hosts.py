"""No package registry host is written anywhere in the repository.

Package sources come from the installers' own configuration (pip/uv settings, apt's
sources, Maven's settings.xml) or from user config. So every URL in a tracked file must
point at loopback, a reserved example name (RFC 2606 / RFC 6761), or one of the few
non-registry locations below (XML namespaces and schemas, project homepages, licences).
This test names no registry: anything not allowed fails, whatever it is.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from build_support import cmd

ROOT = Path(__file__).resolve().parents[2]

#: (host, allowed path prefixes): identifiers and homepages, never a package source.
ALLOWED = {
    "maven.apache.org": ("/POM/", "/xsd/"),  # the POM's XML namespace and its schema
    "www.w3.org": ("/2000/svg", "/2001/XMLSchema-instance"),  # XML namespaces
    "json-schema.org": ("/draft/",),  # JSON Schema dialect identifiers
    "github.com": ("/ray-project/ray", "/minray-project"),  # project homepages
    "www.apache.org": ("/licenses/",),  # the licence text
    "in-toto.io": ("/Statement/v1",),  # the in-toto statement type identifier
    "slsa.dev": ("/provenance/v1",),  # the SLSA provenance predicate type identifier
    "cyclonedx.org": ("/schema/",),  # the CycloneDX schema identifiers
}
#: Reserved names that can never resolve to someone's server.
RESERVED_SUFFIXES = (".example", ".invalid", ".test", ".localhost")
RESERVED_DOMAINS = ("example.com", "example.org", "example.net", "localhost")

URL = re.compile(r"\b[a-z][a-z0-9+.-]*://([^\s/\"'<>()\[\]{}`,;\\|]*)(/[^\s\"'<>()\[\]{}`,;\\|]*)?")


def host_and_path(authority: str, path: str | None) -> tuple[str, str]:
    try:
        host = urlsplit("//" + authority).hostname or ""
    except ValueError:  # e.g. a bracket left open by a template
        host = authority
    return host.lower().rstrip("."), path or "/"


def allowed(host: str, path: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if host in RESERVED_DOMAINS or host.endswith(RESERVED_SUFFIXES):
        return True
    if any(host.endswith("." + d) for d in RESERVED_DOMAINS):
        return True
    return path.startswith(ALLOWED.get(host, ()))


def urls_in(text: str) -> list[tuple[int, str, str, str]]:
    """(line, url, host, path) of every URL with a host; templates (``{host}``) skipped."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for m in URL.finditer(line):
            if not m.group(1) or m.group(0).split("://")[0] in ("file", "s3", "scm"):
                continue
            host, path = host_and_path(m.group(1), m.group(2))
            if host:
                found.append((number, m.group(0), host, path))
    return found


def test_the_rule_itself() -> None:
    # Hosts that must fail are put together here, so that this file names none itself.
    other, pom_host = "pkgs.corp.net", "maven.apache.org"
    sample = (
        'a = "http://127.0.0.1:8080/simple" b = f"http://{host}:{port}/x"\n'
        "c = https://user:pw@mirror.example.com/simple d = http://[::1]:9/ e = s3://bucket/k\n"
        f"f = https://packages.example/x g = https://{other}/simple/\n"
        f'<project xmlns="http://{pom_host}/POM/4.0.0"> h = https://{pom_host}/repo/\n'
    )
    bad = [(url, host) for _n, url, host, path in urls_in(sample) if not allowed(host, path)]
    assert bad == [
        (f"https://{other}/simple/", other),
        (f"https://{pom_host}/repo/", pom_host),
    ]


@pytest.mark.subprocess
def test_no_tracked_file_names_a_host_outside_the_allowed_set() -> None:
    files = cmd.output(["git", "ls-files", "-z"], cwd=ROOT).split("\0")
    assert len(files) > 100
    offenders = []
    for name in filter(None, files):
        path = ROOT / name
        if not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary
        for number, url, host, path_part in urls_in(data.decode("utf-8", "replace")):
            if not allowed(host, path_part):
                offenders.append(f"{name}:{number}: {url}")
    assert offenders == [], (
        "package sources belong in the installers' configuration or user config, and "
        "examples use example.com / *.invalid / loopback:\n" + "\n".join(offenders)
    )
