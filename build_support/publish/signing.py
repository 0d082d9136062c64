"""GPG signatures (detached, armored ``.asc``) and Maven's checksum files.

The key comes from an armored secret key in an environment variable, imported into a
temporary ``GNUPGHOME`` inside the run's private folder (:func:`build_support.cache.
run_folder`, mode 0700, under the cache: never in ``/tmp``), else from the user's keyring
or agent. A passphrase (from the environment variable, or the file named in config) is
given to gpg on its standard input (``--pinentry-mode loopback --passphrase-fd 0``): it
is never written to a file nor put on a command line.

Every gpg the signer starts carries the run's owner marker, and so does the gpg-agent it
spawns: :meth:`Signer.close` stops the agent (``gpgconf --homedir … --kill gpg-agent``),
kills what is left and removes the home; a SIGKILLed run's agent and home are found by
the next run's sweep (:func:`build_support.cache.sweep_runs`).
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import tempfile
from pathlib import Path

from build_support import cache, cmd, log, procs
from build_support.errors import ConfigError, VerificationError
from build_support.publish import credentials
from build_support.publish.settings import MavenSettings

#: The longest ``GNUPGHOME`` path gpg-agent can put its sockets in (``sun_path`` holds
#: 107 characters; the longest socket name is ``S.gpg-agent.browser``).
HOME_LIMIT = 80

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
    """Signs files with gpg; :meth:`close` stops its agent and deletes its home, if any."""

    def __init__(self, settings: MavenSettings, *, root: Path, env: dict[str, str]) -> None:
        self.settings = settings
        self.home: Path | None = None
        self.passphrase: str | None = None
        self._stack = contextlib.ExitStack()
        self.run = cache.active_run() or self._stack.enter_context(cache.run_folder("sign"))
        try:
            self._setup(settings, root=root, env=env)
        except BaseException:
            self.close()
            raise

    def _setup(self, settings: MavenSettings, *, root: Path, env: dict[str, str]) -> None:
        key = env.get(settings.gpg_key_env, "") if settings.gpg_key_env else ""
        if key:
            credentials.register(key)
            real = self.run.path / "gnupg"
            if real.exists():  # a second signer in this run
                real = Path(tempfile.mkdtemp(prefix="gnupg-", dir=self.run.path))
            real.mkdir(mode=0o700, exist_ok=True)
            self.home = self.run.short_alias(real, limit=HOME_LIMIT)
            cmd.run(["gpg", "--batch", "--quiet", "--import"], env=self._env(),
                    input_text=key, capture=True)  # fmt: skip
            log.info(f"gpg: imported the signing key from ${settings.gpg_key_env} into the "
                     f"temporary GNUPGHOME {real} (deleted afterwards)")  # fmt: skip
        phrase = credentials.read(
            env_var=settings.gpg_passphrase_env,
            file=settings.gpg_passphrase_file,
            what="GPG passphrase",
            root=root,
            env=env,
            required=False,
        )
        self.passphrase = phrase.value if phrase is not None else None

    def _env(self) -> dict[str, str]:
        marker = self.run.marker()
        return {"GNUPGHOME": str(self.home), **marker} if self.home else marker

    def sign(self, path: Path) -> Path:
        """``<path>.asc``: a detached, armored signature, verified right after."""
        asc = path.with_name(path.name + ".asc")
        asc.unlink(missing_ok=True)
        argv: list[str] = ["gpg", "--batch", "--yes", "--armor", "--detach-sign"]
        if self.settings.gpg_key_id:
            argv += ["--local-user", self.settings.gpg_key_id]
        if self.passphrase is not None:
            argv += ["--pinentry-mode", "loopback", "--passphrase-fd", "0"]
        argv += ["--output", str(asc), str(path)]
        cmd.run(argv, env=self._env(), capture=True, echo=False,
                input_text=None if self.passphrase is None else self.passphrase + "\n",
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
        """Stop the agent this signer started, remove its home (and the run folder it made
        for itself, if any). Safe to call twice."""
        if self.home is not None:
            cmd.run(["gpgconf", "--homedir", str(self.home), "--kill", "gpg-agent"],
                    env=self._env(), capture=True, check=False, echo=False)  # fmt: skip
            procs.kill_marked(self.run.token)  # what gpgconf could not reach
            real = self.home.resolve()
            if self.home.is_symlink():
                self.home.unlink()
            shutil.rmtree(real, ignore_errors=True)
            self.home = None
        self._stack.close()
