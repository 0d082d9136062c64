"""The redaction layer: what counts as a secret, and every writer that goes through it."""

from __future__ import annotations

import json
import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from build_support import cmd, log, redact
from build_support.errors import CommandFailedError
from build_support.releasetests import reports
from build_support.releasetests.exitcodes import ResultStatus
from build_support.releasetests.results import AttemptResult, ReleaseTestResult, write_json
from build_support.releasetests.runner import allowed_env, declared_env, store_access_env

TOKEN = "tok-4f9c2a7e1b"
AWS = "aws/SECRET+key=9z8y7x"
URL_PASS = "p4ss-in-url"


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_API_TOKEN", TOKEN)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://minio:p4ss-in-url@127.0.0.1:9000")
    monkeypatch.setattr(redact, "_registered", set())


def test_secret_names_are_matched_case_insensitively() -> None:
    for name in ("MY_API_TOKEN", "aws_secret_access_key", "DB_PASSWORD", "GCP_CREDENTIALS",
                 "SSH_KEY"):  # fmt: skip
        assert redact.is_secret_name(name), name
    for name in ("PATH", "HOME", "BUILDKITE_BRANCH", "AWS_ENDPOINT_URL"):
        assert not redact.is_secret_name(name), name


def test_names_are_configurable() -> None:
    settings = redact.RedactSettings(names=("PASSPHRASE",), ignore=("MY_PASSPHRASE_HINT",))
    assert redact.is_secret_name("GPG_PASSPHRASE", settings)
    assert not redact.is_secret_name("MY_API_TOKEN", settings)
    assert not redact.is_secret_name("MY_PASSPHRASE_HINT", settings)


def test_values_and_url_credentials_are_masked() -> None:
    env = {"MY_API_TOKEN": TOKEN, "SHORT_KEY": "abc", "FLAG_TOKEN": "true", "HOME": "/root",
           "PIP_INDEX_URL": "https://user:p4ss-in-url@example.com/simple"}  # fmt: skip
    red = redact.Redactor.from_env(env)
    assert red.values == [TOKEN, URL_PASS]  # too short and boolean-like values are not secrets
    out = red.text(f"x {TOKEN} y {URL_PASS} https://alice:hunter2x@example.com/a /root abc true")
    assert out == "x *** y *** https://***@example.com/a /root abc true"
    # A token alone in the user part of a URL is hidden too.
    assert red.text("git clone https://ghp_abcdef123@example.com/r.git") == (
        "git clone https://***@example.com/r.git"
    )


def test_a_shown_url_loses_user_password_query_and_fragment() -> None:
    assert redact.url("https://u:p@h.example:8443/s?token=x#f") == "https://h.example:8443/s"
    assert redact.url("/local/folder") == "/local/folder"


def test_scrub_walks_json_like_values() -> None:
    red = redact.Redactor([TOKEN])
    doc = {"a": [TOKEN, 1, {"b": f"x{TOKEN}"}], TOKEN: None, "n": 2.5, "t": True}
    assert red.scrub(doc) == {"a": ["***", 1, {"b": "x***"}], "***": None, "n": 2.5, "t": True}


@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 4096])
def test_stream_redactor_finds_secrets_split_across_chunks(chunk: int) -> None:
    red = redact.Redactor([TOKEN, AWS])
    data = (
        f"line {TOKEN}\nno newline {AWS} then https://u:p4ss-in-url@example.com/x " * 50
    ).encode()
    stream = redact.StreamRedactor(red)
    out = b"".join(stream.feed(data[i : i + chunk]) for i in range(0, len(data), chunk))
    out += stream.close()
    assert TOKEN.encode() not in out
    assert AWS.encode() not in out
    assert URL_PASS.encode() not in out
    assert out == red.data(data)


def test_stream_redactor_holds_back_little_of_a_huge_line() -> None:
    stream = redact.StreamRedactor(redact.Redactor([TOKEN]))
    out = stream.feed(b"x" * (1 << 20))
    assert len(out) >= (1 << 20) - 1024


def test_tail_is_capped_and_redacted(secrets: None) -> None:
    text = "a" * 100_000 + TOKEN
    out = redact.tail(text)
    assert len(out) < redact.TAIL_BYTES + 100
    assert TOKEN not in out
    assert out.endswith("***")
    assert "characters cut" in out


def test_file_tail_reads_only_the_end(tmp_path: Path, secrets: None) -> None:
    log_file = tmp_path / "stderr.log"
    log_file.write_bytes(b"y" * 5_000_000 + f"\nlast {TOKEN}\n".encode())
    out = redact.file_tail(log_file)
    assert len(out) < redact.TAIL_BYTES + 200
    assert out.rstrip().endswith("last ***")


def test_console_lines_are_redacted(capsys: pytest.CaptureFixture[str], secrets: None) -> None:
    log.info(f"token {TOKEN}")
    log.error(f"failed with {AWS}")
    with log.group(f"group {TOKEN}", ci=log.CIKind.LOCAL):
        log.warn("endpoint http://minio:p4ss-in-url@127.0.0.1:9000")
    err = capsys.readouterr().err
    for secret in (TOKEN, AWS, URL_PASS):
        assert secret not in err
    assert "token ***" in err
    assert "http://***@127.0.0.1:9000" in err


def test_summary_json_is_redacted(tmp_path: Path, secrets: None) -> None:
    summary = log.Summary("s")
    summary.add(artifact="https://u:p4ss-in-url@example.com/a.whl")
    summary.note(TOKEN)
    summary.emit(tmp_path / "s.json")
    text = (tmp_path / "s.json").read_text()
    assert TOKEN not in text
    assert URL_PASS not in text


@pytest.mark.subprocess
def test_echoed_command_and_its_failure_are_redacted(
    capsys: pytest.CaptureFixture[str], secrets: None
) -> None:
    code = (
        "import os, sys; print(os.environ['MY_API_TOKEN']); sys.stderr.write(sys.argv[1]); "
        "sys.exit(3)"
    )
    with pytest.raises(CommandFailedError) as info:
        cmd.run(
            [sys.executable, "-c", code, "--index-url=https://user:p4ss-in-url@example.com/simple"],
            capture=True,
        )
    shown = capsys.readouterr().err + str(info.value)
    assert "--index-url=https://***@example.com/simple" in shown
    assert "+ " in shown
    for secret in (TOKEN, URL_PASS):
        assert secret not in shown


@pytest.mark.subprocess
def test_command_failure_keeps_a_4k_tail_of_each_stream() -> None:
    code = (
        "import sys; sys.stdout.write('o' * 3_000_000); sys.stderr.write('e' * 3_000_000); "
        "sys.exit(1)"
    )
    with pytest.raises(CommandFailedError) as info:
        cmd.run([sys.executable, "-c", code], capture=True)
    message = str(info.value)
    assert len(message) < 3 * redact.TAIL_BYTES
    assert "o" * 1000 in message
    assert "e" * 1000 in message


def _result(message: str) -> ReleaseTestResult:
    r = ReleaseTestResult(
        name="leak", group="g", team="t", frequency="nightly", python="3.12", smoke=False
    )
    r.attempts.append(
        AttemptResult(
            attempt=1,
            exit_code=1,
            status=ResultStatus.RUNTIME_ERROR,
            retryable=False,
            duration=1.0,
            message=message,
            directory="/r/leak/attempt-1",
        )
    )
    return r


def test_reports_and_result_json_are_redacted_and_capped(tmp_path: Path, secrets: None) -> None:
    big = "z" * 1_000_000
    results = [_result(f"script exited with 1: {TOKEN} {AWS} & <{URL_PASS}> " + big)]
    meta = {"run_id": "r", "file": "https://x:p4ss-in-url@example.com/t.yaml", "exit_code": 1}
    paths = reports.write_reports(results, meta, tmp_path)
    write_json(tmp_path / "result.json", results[0].to_json())
    for path in [*paths.values(), tmp_path / "result.json"]:
        text = path.read_text()
        for secret in (TOKEN, AWS, URL_PASS):
            assert secret not in text, (path.name, secret)
    for path in paths.values():
        assert path.stat().st_size < 64_000, path.name
    ET.fromstring(paths["junit"].read_text())  # still well-formed
    assert json.loads(paths["summary"].read_text())["tests"][0]["name"] == "leak"


def test_tests_receive_only_the_allowlist_and_what_they_declare() -> None:
    host = {"PATH": "/bin", "HOME": "/h", "LC_ALL": "C", "MY_API_TOKEN": TOKEN,
            "LC_SECRET_KEY": "s3cr3t-value", "UNRELATED": "x"}  # fmt: skip
    got = allowed_env(host, ("PATH", "HOME", "LC_*"), secret=redact.is_secret_name)
    assert got == {"PATH": "/bin", "HOME": "/h", "LC_ALL": "C"}
    declared = declared_env({"MY_API_TOKEN": "${MY_API_TOKEN}", "MODE": "fast-$UNSET"}, host)
    assert declared == {"MY_API_TOKEN": TOKEN, "MODE": "fast-"}


def test_nox_command_echo_is_redacted(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, secrets: None
) -> None:
    """The noxfile sends nox's logger through the layer: ``nox > python -m … URL``."""
    import nox.logger

    monkeypatch.setattr(nox.logger.logger, "filters", [])
    redact.filter_logger(nox.logger.logger.name)
    with caplog.at_level("INFO", logger=nox.logger.logger.name):
        nox.logger.logger.info(
            "python -m build_support lock --index-url %s %s",
            "https://ci:p4ss-in-url@example.com/simple",
            TOKEN,
        )
    shown = caplog.text
    assert "--index-url https://***@example.com/simple ***" in shown
    assert URL_PASS not in shown
    assert TOKEN not in shown


def test_a_test_given_an_s3_store_gets_what_reaches_it() -> None:
    host = {"AWS_SECRET_ACCESS_KEY": AWS, "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
            "MY_API_TOKEN": TOKEN, "AWS_SOMETHING_ELSE": "x"}  # fmt: skip
    assert store_access_env("s3://bucket/prefix", host) == {
        "AWS_SECRET_ACCESS_KEY": AWS,
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
    }
    assert store_access_env("/var/store", host) == {}


def test_the_redact_section_of_pyproject_configures_the_layer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from build_support.config import from_table

    cfg = from_table(
        {"redact": {"names": ["PHRASE", "TOKEN"], "ignore": ["HARMLESS_TOKEN"]}}, tmp_path
    )
    settings = cfg.section("redact", redact.RedactSettings)
    monkeypatch.setattr(redact, "_settings", redact.RedactSettings())
    monkeypatch.setenv("SIGNING_PHRASE", "correct horse battery")
    monkeypatch.setenv("HARMLESS_TOKEN", "visible-value")
    assert "correct horse battery" in redact.text("x correct horse battery")  # not yet
    redact.configure(settings)
    assert redact.text("x correct horse battery visible-value") == "x *** visible-value"


# --------------------------------------------------------------------------- issue 18, item 5


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redact, "_registered", set())
    monkeypatch.setattr(redact, "_variables", set(redact.KNOWN_VARIABLES))
    monkeypatch.setattr(redact, "_settings", redact.RedactSettings())


def test_passphrase_variables_are_secret(fresh_registry: None) -> None:
    for name in ("GPG_PASSPHRASE", "BUILD_SUPPORT_GPG_PASSPHRASE", "MAVEN_GPG_PASSPHRASE",
                 "DB_PASSWD"):  # fmt: skip
        assert redact.is_secret_name(name), name
    red = redact.Redactor.from_env({"BUILD_SUPPORT_GPG_PASSPHRASE": "gpg-phrase-1",
                                    "GPG_PASSPHRASE": "gpg-phrase-2"})  # fmt: skip
    assert red.text("a gpg-phrase-1 b gpg-phrase-2") == "a *** b ***"


def test_known_credential_variables_are_hidden_whatever_names_and_ignore_say(
    fresh_registry: None,
) -> None:
    redact.configure(redact.RedactSettings(names=("NOTHING",), ignore=("TWINE_PASSWORD",)))
    env = {"TWINE_PASSWORD": "twine-pass-1", "GPG_PASSPHRASE": "gpg-phrase-2",
           "MY_TOKEN": "not-hidden-now"}  # fmt: skip
    assert redact.Redactor.from_env(env).text("twine-pass-1 gpg-phrase-2 not-hidden-now") == (
        "*** *** not-hidden-now"
    )


def test_credential_variables_and_files_of_the_publish_config_are_hidden(
    fresh_registry: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from build_support.config import from_table
    from build_support.publish import credentials
    from build_support.publish.settings import PublishSettings

    (tmp_path / "pypi.txt").write_text("from-a-file-value\n")
    (tmp_path / "short.txt").write_text("abc1234\n")  # 7 characters: too common to hide
    cfg = from_table({"publish": {
        "pypi": {"password_env": "MINRAY_UPLOAD", "password_file": "pypi.txt"},
        "docker": {"password_file": str(tmp_path / "short.txt")},
        "maven": {"gpg_passphrase_file": "missing.txt", "gpg_key_env": "SIGNING_BLOB"},
    }}, tmp_path)  # fmt: skip
    settings = cfg.section("publish", PublishSettings)
    assert credentials.variables(settings) == [
        "MINRAY_UPLOAD", "BUILD_SUPPORT_DOCKER_PASSWORD", "BUILD_SUPPORT_MAVEN_PASSWORD",
        "SIGNING_BLOB", "BUILD_SUPPORT_GPG_PASSPHRASE"]  # fmt: skip
    monkeypatch.setenv("MINRAY_UPLOAD", "upload-value-1")
    monkeypatch.setenv("SIGNING_BLOB", "signing-blob-2")
    line = "upload-value-1 signing-blob-2 from-a-file-value abc1234"
    assert redact.text(line) == line  # names without a secret word: not hidden before
    credentials.register_sources(settings, tmp_path)  # what the session boundary does
    assert redact.text(line) == "*** *** *** abc1234"


def _results(tmp_path: Path) -> Path:
    src = tmp_path / "scratch"
    (src / "sub").mkdir(parents=True)
    (src / "notes.txt").write_text(f"token {TOKEN}\n" + "x" * 2_000_000 + f"{TOKEN} end\n")
    (src / "sub" / "clean.bin").write_bytes(b"\0\1\2" * 1000)
    # the secret straddles the 1 MiB read boundary of the scan
    (src / "sub" / "leaky.bin").write_bytes(b"\0" * ((1 << 20) - 5) + TOKEN.encode() + b"\0")
    (src / f"named-{TOKEN}.txt").write_text("plain\n")
    (src / "link").symlink_to("/etc/hostname")
    return src


def test_copy_tree_redacts_text_and_withholds_binaries_with_a_secret(tmp_path: Path) -> None:
    red = redact.Redactor([TOKEN])
    src = _results(tmp_path)
    dest = tmp_path / "out"
    withheld = redact.copy_tree(src, dest, red)
    assert sorted((w.path, w.reason) for w in withheld) == [
        ("link", "a symbolic link (not followed)"),
        ("sub/leaky.bin", "a binary file that contains a secret"),
    ]
    notes = (dest / "notes.txt").read_text()
    assert notes.startswith("token ***\n")
    assert notes.endswith("*** end\n")
    assert (dest / "sub" / "clean.bin").read_bytes() == (src / "sub" / "clean.bin").read_bytes()
    assert (dest / "named-***.txt").read_text() == "plain\n"
    assert sorted(p.name for p in dest.rglob("*")) == ["clean.bin", "named-***.txt",
                                                       "notes.txt", "sub"]  # fmt: skip
    for p in dest.rglob("*"):
        if p.is_file():
            assert TOKEN.encode() not in p.read_bytes()


def test_security_md_lists_every_credential_variable_the_harness_knows() -> None:
    from build_support.publish import credentials
    from build_support.publish.settings import PublishSettings

    doc = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text()
    table = doc.split("credential variable** the harness knows", 1)[1].split("\n\n- ", 1)[0]
    for name in (*credentials.variables(PublishSettings()), *redact.KNOWN_VARIABLES):
        assert f"`{name}`" in table, name
    for part in redact.DEFAULT_NAMES:
        assert f"`{part}`" in doc, part


def test_copy_tree_lists_an_unreadable_file_and_goes_on(tmp_path: Path) -> None:
    src = tmp_path / "scratch"
    src.mkdir()
    (src / "a.txt").write_text("a\n")
    (src / "fifo").mkdir()
    os.mkfifo(src / "fifo" / "pipe")  # not a regular file: never opened for a blocking read
    withheld = redact.copy_tree(src, tmp_path / "out", redact.Redactor([TOKEN]))
    assert [(w.path, w.reason) for w in withheld] == [("fifo/pipe", "not a regular file")]
    assert (tmp_path / "out" / "a.txt").read_text() == "a\n"


def test_a_passthrough_pattern_never_hands_a_test_a_credential_variable(
    fresh_registry: None,
) -> None:
    redact.register_variables(["MINRAY_UPLOAD"])
    env = {"MINRAY_UPLOAD": "u", "MINRAY_MODE": "fast", "GPG_PASSPHRASE": "p", "TZ": "UTC"}
    got = allowed_env(env, ("MINRAY_*", "GPG_*", "TZ"), secret=redact.is_credential)
    assert got == {"MINRAY_MODE": "fast", "TZ": "UTC"}
