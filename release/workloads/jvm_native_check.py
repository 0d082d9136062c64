"""The JVM loads the native library from the multiplatform JAR; its checksum matches minray's."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import minray
from _common import COMMAND_ERROR, LOCAL_ENV_SETUP_ERROR, SETUP_ERROR, fail, write_result

jar = Path(sys.argv[1])
if not jar.is_file():
    fail(SETUP_ERROR, f"infra error: {jar} was not fetched (the prepare step should have)")
java = shutil.which("java")
if java is None:
    fail(LOCAL_ENV_SETUP_ERROR, "infra error: no java on PATH (apt-get install openjdk-17-jre)")
proc = subprocess.run(
    [java, "-cp", str(jar), "io.minray.runtime.NativeCheck"],
    capture_output=True,
    text=True,
    timeout=120,
    check=False,
)
print(proc.stdout, end="")
print(proc.stderr, end="", file=sys.stderr)
match = re.search(r"minray-native OK (\S+) version=(\S+) checksum=(\d+)", proc.stdout)
if proc.returncode != 0 or match is None:
    fail(COMMAND_ERROR, f"NativeCheck failed with exit {proc.returncode}")
expected = minray.checksum32(b"minray")
write_result(
    "jvm.json",
    {
        "platform": match.group(1),
        "version": match.group(2),
        "java_checksum": int(match.group(3)),
        "python_checksum": expected,
    },
)
if int(match.group(3)) != expected:
    fail(COMMAND_ERROR, f"JVM checksum {match.group(3)} != minray.checksum32 {expected}")
print("OK")
