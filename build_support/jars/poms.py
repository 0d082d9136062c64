"""Module POMs, generated from one template and one declarative dependency list.

Inputs (see ``java/README.md``, "Module POM generation contract"): the parent
``java/pom.xml`` (for the version), ``java/dependencies.toml`` (one ``[modules.<dir>]``
table per module) and ``java/templates/pom-module.xml.tmpl``. Output: the text of
``java/<dir>/pom.xml`` for every module, byte for byte what is committed.

Pure functions: :func:`load_modules` reads and validates the list, :func:`render`
renders one module, :func:`stale` compares with the files on disk, :func:`write`
replaces them atomically. Maven Central metadata is read by :func:`metadata`.
"""

from __future__ import annotations

import difflib
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from build_support import fsutil
from build_support.errors import InputError, StaleError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

POM_NS = "http://maven.apache.org/POM/4.0.0"
TEMPLATE = Path("templates/pom-module.xml.tmpl")
DEPENDENCIES = Path("dependencies.toml")
PARENT = Path("pom.xml")

INLINE_PLACEHOLDERS = ("version", "artifact_id", "name", "description")
BLOCK_PLACEHOLDERS = ("dependencies", "build_resources", "build_plugins")
KNOWN_PLACEHOLDERS = (*INLINE_PLACEHOLDERS, *BLOCK_PLACEHOLDERS)

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}")
_MODULE_KEYS = ("artifact_id", "name", "description", "dependencies", "resources", "shade")
_SHADE_KEYS = ("artifacts", "relocations")
_REGEN = "nox -s jars -- generate-poms"


@dataclass(frozen=True)
class Dependency:
    """One ``groupId:artifactId:version[:scope]`` entry."""

    group_id: str
    artifact_id: str
    version: str
    scope: str | None = None

    @property
    def coordinate(self) -> str:
        return f"{self.group_id}:{self.artifact_id}"

    def __str__(self) -> str:
        tail = f":{self.scope}" if self.scope else ""
        return f"{self.group_id}:{self.artifact_id}:{self.version}{tail}"


@dataclass(frozen=True)
class Shade:
    artifacts: tuple[str, ...]
    relocations: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Module:
    """One ``[modules.<directory>]`` table of dependencies.toml."""

    directory: str
    artifact_id: str
    name: str
    description: str
    dependencies: tuple[Dependency, ...]
    resources: tuple[str, ...] = ()
    shade: Shade | None = None


@dataclass(frozen=True)
class JavaProject:
    """The Java tree: where it is, its version and its modules (in file order)."""

    java_dir: Path
    version: str
    modules: tuple[Module, ...]
    #: The parent POM's ``/project/artifactId`` (published as ``<it>-<version>.pom``).
    parent_artifact_id: str

    @property
    def parent_pom_name(self) -> str:
        return f"{self.parent_artifact_id}-{self.version}.pom"

    def module(self, directory: str) -> Module:
        for m in self.modules:
            if m.directory == directory:
                return m
        raise InputError(
            f"no module {directory!r} in {self.java_dir / DEPENDENCIES}",
            hint="modules: " + ", ".join(m.directory for m in self.modules),
        )


def xml_escape(value: str) -> str:
    """Escape ``&``, ``<`` and ``>`` (in that order), and nothing else."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def parent_version(parent_pom: Path) -> str:
    """The text of ``/project/version`` in the parent POM, stripped."""
    return _parent_field(parent_pom, "version")


def parent_artifact_id(parent_pom: Path) -> str:
    """The text of ``/project/artifactId`` in the parent POM, stripped."""
    return _parent_field(parent_pom, "artifactId")


def _parent_field(parent_pom: Path, field: str) -> str:
    try:
        root = ET.parse(parent_pom).getroot()  # noqa: S314 - the project's own POM
    except (OSError, ET.ParseError) as exc:
        raise InputError(
            f"cannot read the {field} from {parent_pom}: {exc}",
            hint=f"java/pom.xml must be a well-formed Maven POM with <{field}>",
        ) from exc
    node = root.find(f"{{{POM_NS}}}{field}")
    if node is None or not (node.text or "").strip():
        example = "x.y.z" if field == "version" else "myproject-parent"
        raise InputError(
            f"{parent_pom} has no /project/{field}",
            hint=f"add <{field}>{example}</{field}> to the parent POM",
        )
    return (node.text or "").strip()


def parse_dependency(entry: object, where: str) -> Dependency:
    """``groupId:artifactId:version[:scope]``: 3 or 4 non-empty parts."""
    if not isinstance(entry, str):
        raise InputError(
            f"{where}: dependency {entry!r} is not a string",
            hint='write "groupId:artifactId:version[:scope]"',
        )
    parts = entry.split(":")
    if len(parts) not in (3, 4) or not all(parts):
        raise InputError(
            f"{where}: dependency {entry!r} is not groupId:artifactId:version[:scope]",
            hint='e.g. "org.slf4j:slf4j-api:2.0.17" or "junit:junit:4.13.2:test"',
        )
    return Dependency(parts[0], parts[1], parts[2], parts[3] if len(parts) == 4 else None)


def _str_list(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InputError(f"{where} must be a list of non-empty strings, got {value!r}")
    return tuple(value)


def _required_str(table: Mapping[str, Any], key: str, where: str) -> str:
    if key not in table:
        raise InputError(f"{where} lacks the required key {key!r}")
    value = table[key]
    if not isinstance(value, str) or not value:
        raise InputError(f"{where}.{key} must be a non-empty string, got {value!r}")
    return value


def _parse_shade(value: object, where: str) -> Shade:
    if not isinstance(value, dict):
        raise InputError(f"{where} must be a table, got {value!r}")
    for key in value:
        if key not in _SHADE_KEYS:
            raise InputError(
                f"unknown key {where}.{key}", hint="allowed: " + ", ".join(_SHADE_KEYS)
            )
    if "artifacts" not in value or "relocations" not in value:
        raise InputError(f"{where} needs both 'artifacts' and 'relocations'")
    relocations = value["relocations"]
    if not isinstance(relocations, dict) or not all(
        isinstance(v, str) and v for v in relocations.values()
    ):
        raise InputError(f"{where}.relocations must be a table of pattern = shadedPattern strings")
    return Shade(
        artifacts=_str_list(value["artifacts"], f"{where}.artifacts"),
        relocations=tuple((str(k), str(v)) for k, v in relocations.items()),
    )


def parse_modules(data: Mapping[str, Any], source: str) -> tuple[Module, ...]:
    """Validate the parsed dependencies.toml into modules, in file order."""
    for key in data:
        if key != "modules":
            raise InputError(f"{source}: unknown top-level key {key!r}", hint="only [modules.*]")
    tables = data.get("modules")
    if not isinstance(tables, dict) or not tables:
        raise InputError(f"{source} defines no [modules.<name>] table")
    modules = []
    for directory, table in tables.items():
        where = f"{source}: modules.{directory}"
        if not isinstance(table, dict):
            raise InputError(f"{where} must be a table")
        for key in table:
            if key not in _MODULE_KEYS:
                raise InputError(
                    f"unknown key {where}.{key}", hint="allowed: " + ", ".join(_MODULE_KEYS)
                )
        if "dependencies" not in table:
            raise InputError(f"{where} lacks the required key 'dependencies'")
        deps = table["dependencies"]
        if not isinstance(deps, list):
            raise InputError(f"{where}.dependencies must be a list, got {deps!r}")
        modules.append(
            Module(
                directory=directory,
                artifact_id=_required_str(table, "artifact_id", where),
                name=_required_str(table, "name", where),
                description=_required_str(table, "description", where),
                dependencies=tuple(
                    parse_dependency(d, f"{where}.dependencies[{i}]") for i, d in enumerate(deps)
                ),
                resources=_str_list(table.get("resources", []), f"{where}.resources"),
                shade=_parse_shade(table["shade"], f"{where}.shade") if "shade" in table else None,
            )
        )
    return tuple(modules)


def load_project(java_dir: Path) -> JavaProject:
    """Read and validate java/pom.xml's version and java/dependencies.toml."""
    path = java_dir / DEPENDENCIES
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(
            f"{path} does not exist", hint="every module needs a [modules.<dir>] table there"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path} is not valid TOML: {exc}") from exc
    return JavaProject(
        java_dir=java_dir,
        version=parent_version(java_dir / PARENT),
        modules=parse_modules(data, str(path)),
        parent_artifact_id=parent_artifact_id(java_dir / PARENT),
    )


# -- rendering --------------------------------------------------------------------


def check_template(text: str, source: str) -> None:
    """Every placeholder is known, and block placeholders stand alone on their line."""
    for lineno, line in enumerate(text.splitlines(), start=1):
        for match in _PLACEHOLDER.finditer(line):
            name = match.group(1)
            if name not in KNOWN_PLACEHOLDERS:
                raise InputError(
                    f"{source}:{lineno}: unknown placeholder {{{{{name}}}}}",
                    hint="known placeholders: "
                    + ", ".join(f"{{{{{p}}}}}" for p in KNOWN_PLACEHOLDERS),
                )
            if name in BLOCK_PLACEHOLDERS and line != match.group(0):
                raise InputError(
                    f"{source}:{lineno}: block placeholder {{{{{name}}}}} must stand alone "
                    "on its line (no indentation, nothing else)",
                    hint="block placeholders: " + ", ".join(BLOCK_PLACEHOLDERS),
                )


def _lines(indent: int, *lines: str) -> list[str]:
    return [" " * indent + line + "\n" for line in lines]


def render_dependencies(deps: Sequence[Dependency]) -> str:
    out: list[str] = []
    for d in deps:
        out += _lines(4, "<dependency>")
        out += _lines(6, f"<groupId>{xml_escape(d.group_id)}</groupId>")
        out += _lines(6, f"<artifactId>{xml_escape(d.artifact_id)}</artifactId>")
        out += _lines(6, f"<version>{xml_escape(d.version)}</version>")
        if d.scope:
            out += _lines(6, f"<scope>{xml_escape(d.scope)}</scope>")
        out += _lines(4, "</dependency>")
    return "".join(out)


def render_resources(resources: Sequence[str]) -> str:
    if not resources:
        return ""
    out = _lines(4, "<resources>")
    for r in resources:
        out += _lines(6, "<resource>")
        out += _lines(8, f"<directory>{xml_escape(r)}</directory>")
        out += _lines(6, "</resource>")
    out += _lines(4, "</resources>")
    return "".join(out)


def render_plugins(shade: Shade | None) -> str:
    if shade is None:
        return ""
    out = _lines(4, "<plugins>")
    out += _lines(6, "<plugin>")
    out += _lines(8, "<groupId>org.apache.maven.plugins</groupId>")
    out += _lines(8, "<artifactId>maven-shade-plugin</artifactId>")
    out += _lines(8, "<executions>")
    out += _lines(10, "<execution>")
    out += _lines(12, "<id>shade</id>", "<phase>package</phase>", "<goals>")
    out += _lines(14, "<goal>shade</goal>")
    out += _lines(12, "</goals>", "<configuration>")
    out += _lines(14, "<artifactSet>")
    out += _lines(16, "<includes>")
    out += _lines(18, *(f"<include>{xml_escape(a)}</include>" for a in shade.artifacts))
    out += _lines(16, "</includes>")
    out += _lines(14, "</artifactSet>", "<relocations>")
    for pattern, shaded in shade.relocations:
        out += _lines(16, "<relocation>")
        out += _lines(18, f"<pattern>{xml_escape(pattern)}</pattern>")
        out += _lines(18, f"<shadedPattern>{xml_escape(shaded)}</shadedPattern>")
        out += _lines(16, "</relocation>")
    out += _lines(14, "</relocations>")
    out += _lines(12, "</configuration>")
    out += _lines(10, "</execution>")
    out += _lines(8, "</executions>")
    out += _lines(6, "</plugin>")
    out += _lines(4, "</plugins>")
    return "".join(out)


def render(template: str, module: Module, version: str, *, source: str = "template") -> str:
    """The text of ``<module>/pom.xml``: blocks first, then inline values."""
    check_template(template, source)
    blocks = {
        "dependencies": render_dependencies(module.dependencies),
        "build_resources": render_resources(module.resources),
        "build_plugins": render_plugins(module.shade),
    }
    text = template
    for name, block in blocks.items():
        text = text.replace(f"{{{{{name}}}}}\n", block)
    inline = {
        "version": version,
        "artifact_id": module.artifact_id,
        "name": module.name,
        "description": module.description,
    }
    for name, value in inline.items():
        text = text.replace(f"{{{{{name}}}}}", xml_escape(value))
    if "{{" in text:
        line = next(i for i, ln in enumerate(text.splitlines(), 1) if "{{" in ln)
        raise InputError(
            f"rendering {module.directory}/pom.xml from {source} left '{{{{' on line {line} "
            "(a value in dependencies.toml contains '{{', or a block placeholder is "
            "not alone on its line)",
            hint="remove '{{' from the values; placeholders are only allowed in the template",
        )
    return text


def render_all(project: JavaProject) -> dict[Path, str]:
    """Every module POM path → its rendered text, in dependencies.toml order."""
    template_path = project.java_dir / TEMPLATE
    try:
        template = template_path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InputError(f"the POM template {template_path} does not exist") from exc
    out: dict[Path, str] = {}
    for module in project.modules:
        pom_dir = project.java_dir / module.directory
        if not pom_dir.is_dir():
            raise InputError(
                f"dependencies.toml names module {module.directory!r}, but {pom_dir} "
                "is not a directory",
                hint="create the module directory or remove its [modules.*] table",
            )
        out[pom_dir / "pom.xml"] = render(
            template, module, project.version, source=str(template_path)
        )
    return out


def stale(rendered: Mapping[Path, str]) -> dict[Path, str]:
    """POMs whose file differs from the rendering → a unified diff (file → rendered)."""
    out: dict[Path, str] = {}
    for path, text in rendered.items():
        try:
            current = path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            current = ""
        if current != text:
            diff = difflib.unified_diff(
                current.splitlines(keepends=True),
                text.splitlines(keepends=True),
                fromfile=f"{path} (committed)",
                tofile=f"{path} (generated)",
            )
            out[path] = "".join(diff)
    return out


def check(project: JavaProject) -> list[Path]:
    """StaleError when a committed module POM differs from its rendering."""
    rendered = render_all(project)
    diffs = stale(rendered)
    if diffs:
        shown = "\n".join(d if len(d) < 4000 else d[:4000] + "…\n" for d in diffs.values())
        names = ", ".join(str(p) for p in diffs)
        raise StaleError(
            f"generated POMs are stale: {names}\n{shown.rstrip()}",
            hint=f"run `{_REGEN}` and commit the result (never edit module POMs by hand)",
        )
    return list(rendered)


def write(project: JavaProject) -> list[Path]:
    """Write every module POM that changed (temp file + rename); returns those written."""
    rendered = render_all(project)
    changed = stale(rendered)
    for path in changed:
        fsutil.write_atomic(path, rendered[path])
    return list(changed)


# -- Maven Central metadata ---------------------------------------------------------

#: What Maven Central requires of every published POM (inherited values count).
CENTRAL_FIELDS = ("name", "description", "url", "licenses", "scm", "developers")


def _text(root: ET.Element, path: str) -> str:
    node = root.find(path, {"m": POM_NS})
    return (node.text or "").strip() if node is not None else ""


def metadata(pom: Path) -> dict[str, str]:
    """Maven Central's required fields of one POM file ("" where absent)."""
    try:
        root = ET.parse(pom).getroot()  # noqa: S314 - the project's own POM
    except (OSError, ET.ParseError) as exc:
        raise InputError(f"cannot read {pom}: {exc}") from exc
    license_ok = bool(_text(root, "m:licenses/m:license/m:name")) and bool(
        _text(root, "m:licenses/m:license/m:url")
    )
    scm_ok = bool(_text(root, "m:scm/m:url")) and bool(_text(root, "m:scm/m:connection"))
    dev = _text(root, "m:developers/m:developer/m:name") or _text(
        root, "m:developers/m:developer/m:id"
    )
    return {
        "name": _text(root, "m:name"),
        "description": _text(root, "m:description"),
        "url": _text(root, "m:url"),
        "licenses": "yes" if license_ok else "",
        "scm": "yes" if scm_ok else "",
        "developers": dev,
    }


def missing_metadata(pom: Path, parent: Path | None) -> list[str]:
    """Required fields neither ``pom`` nor its ``parent`` provides."""
    own = metadata(pom)
    inherited = metadata(parent) if parent is not None else {}
    # name and description are not inherited in a useful way: each module needs its own.
    missing = [f for f in ("name", "description") if not own[f]]
    missing += [f for f in CENTRAL_FIELDS[2:] if not own[f] and not inherited.get(f)]
    return missing
