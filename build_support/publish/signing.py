"""GPG signatures (detached, armored ``.asc``) and Maven's checksum files.

The key comes from an armored secret key in an environment variable (imported into a
temporary ``GNUPGHOME`` that is deleted afterwards), else from the user's keyring or
agent. A passphrase is given with ``--pinentry-mode loopback --passphrase-file`` (a file
named in config, or the environment variable's value written to a 0600 file inside the
temporary home); it never appears on a command line.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from build_support import cmd, log
from build_support.errors import ConfigError, VerificationError
from build_support.publish import credentials
from build_support.publish.settings import MavenSettings

#: Checksum files beside every uploaded file, as ``mvn deploy`` writes them.
CHECKSUMS = ("md5", "sha1", "sha256", "sha512")


def checksum(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_checksums(path: Path) -> list[Path]:
    """``<file>.md5``, ``.sha1``, ``.sha256``, ``.sha512`` beside ``path``."""
    out = []
    for algorithm in CHECKSUMS:
        side = path.with_name(f"{path.name}.{algorithm}")
        side.write_text(checksum(path, algorithm), encoding="ascii")
        out.append(side)
    return out


class Signer:
    """Signs files with gpg; :meth:`close` deletes the temporary home, if any."""

    def __init__(self, settings: MavenSettings, *, root: Path, env: dict[str, str]) -> None:
        self.settings = settings
        self.home: Path | None = None
        self.passphrase_file: Path | None = None
        key = env.get(settings.gpg_key_env, "") if settings.gpg_key_env else ""
        if key:
            credentials.register(key)
            self.home = Path(tempfile.mkdtemp(prefix="build-support-gnupg."))
            if len(str(self.home)) > 60:  # gpg-agent's socket path must stay short
                self.home.rmdir()
                self.home = Path(tempfile.mkdtemp(prefix="bs-gnupg.", dir="/tmp"))
            self.home.chmod(0o700)
            cmd.run(["gpg", "--batch", "--quiet", "--import"], env=self._env(),
                    input_text=key, capture=True)  # fmt: skip
            log.info(f"gpg: imported the signing key from ${settings.gpg_key_env} into the "
                     f"temporary GNUPGHOME {self.home} (deleted afterwards)")  # fmt: skip
        phrase = credentials.read(
            env_var=settings.gpg_passphrase_env,
            file=settings.gpg_passphrase_file,
            what="GPG passphrase",
            root=root,
            env=env,
            required=False,
        )
        if phrase is not None:
            if settings.gpg_passphrase_file and not env.get(settings.gpg_passphrase_env):
                path = Path(settings.gpg_passphrase_file).expanduser()
                self.passphrase_file = path if path.is_absolute() else root / path
            else:
                holder = self.home or Path(tempfile.mkdtemp(prefix="build-support-gpgpass."))
                self._holder = holder
                self.passphrase_file = holder / "passphrase"
                fd = os.open(self.passphrase_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(phrase.value)

    def _env(self) -> dict[str, str]:
        return {"GNUPGHOME": str(self.home)} if self.home else {}

    def sign(self, path: Path) -> Path:
        """``<path>.asc``: a detached, armored signature, verified right after."""
        asc = path.with_name(path.name + ".asc")
        asc.unlink(missing_ok=True)
        argv: list[str] = ["gpg", "--batch", "--yes", "--armor", "--detach-sign"]
        if self.settings.gpg_key_id:
            argv += ["--local-user", self.settings.gpg_key_id]
        if self.passphrase_file is not None:
            argv += ["--pinentry-mode", "loopback", "--passphrase-file", str(self.passphrase_file)]
        argv += ["--output", str(asc), str(path)]
        cmd.run(argv, env=self._env(), capture=True, echo=False,
                hint="check the signing key and its passphrase")  # fmt: skip
        self.verify(path, asc)
        return asc

    def verify(self, path: Path, asc: Path) -> None:
        proc = cmd.run(["gpg", "--batch", "--verify", str(asc), str(path)], env=self._env(),
                       capture=True, check=False, echo=False)  # fmt: skip
        if proc.returncode != 0:
            raise VerificationError(
                f"the signature {asc.name} does not verify: "
                + credentials.scrub(proc.stderr.strip())
            )

    def key_fingerprint(self) -> str:
        out = cmd.run(["gpg", "--batch", "--with-colons", "--list-secret-keys",
                       *([self.settings.gpg_key_id] if self.settings.gpg_key_id else [])],
                      env=self._env(), capture=True, echo=False, check=False).stdout  # fmt: skip
        fprs = [line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:")]
        if not fprs:
            raise ConfigError(
                "no GPG secret key to sign with",
                hint=f"export the armored key in ${self.settings.gpg_key_env}, or import one "
                "into your keyring and set gpg_key_id",
            )
        return fprs[0]

    def close(self) -> None:
        if self.home is not None:
            cmd.run(["gpgconf", "--kill", "gpg-agent"], env=self._env(), capture=True,
                    check=False, echo=False)  # fmt: skip
            shutil.rmtree(self.home, ignore_errors=True)
            self.home = None
        holder = getattr(self, "_holder", None)
        if holder is not None:
            shutil.rmtree(holder, ignore_errors=True)
