"""What the headless-Chromium tests share (explorer and sweep browser): the browser, its
flags, the waits, a free loopback port and waiting for a server to answer."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request

CHROMIUM = os.environ.get("EDWC_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]
LOCAL = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")   # requests allowed to pass
START_TIMEOUT_S = 90
WAIT_MS = 40_000       # per browser wait; generous for a loaded 2-core machine


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, proc: subprocess.Popen, timeout_s: float, what: str) -> None:
    """Wait until `url` answers 200; fail if the server `proc` (`what`) exits or times out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{what} did not answer at {url} within {timeout_s} s")
