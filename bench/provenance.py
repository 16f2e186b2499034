"""Where a result file's numbers come from: the commit and the machine."""

import os
import platform
import subprocess

from bench.servers import ROOT


def git_commit() -> dict:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()

    return {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(git("status", "--porcelain"))}


def machine() -> dict:
    # `wrk --version` prints its banner and exits 1.
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    banner = (wrk_version.stdout or wrk_version.stderr).strip()
    return {
        "nproc": os.cpu_count(),
        "uname": " ".join(platform.uname()),
        "python": platform.python_version(),
        "wrk": banner.splitlines()[0] if banner else None,
    }
