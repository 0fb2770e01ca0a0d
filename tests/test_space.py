"""The repository as a Hugging Face Space: its README front matter agrees with what it
installs, and the app serves its page on all interfaces when a Space launches it."""

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT


def front_matter() -> dict:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert match, "README.md must open with a --- YAML block --- for Spaces"
    return yaml.safe_load(match.group(1))


def pins() -> dict[str, str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    found = (re.match(r"([A-Za-z0-9_.-]+)==(\S+)", ln.strip()) for ln in lines)
    return {m.group(1).lower(): m.group(2) for m in found if m}


def test_front_matter_matches_what_the_space_installs():
    meta = front_matter()
    assert meta["sdk"] == "gradio"
    assert str(meta["sdk_version"]) == pins()["gradio"]
    assert (ROOT / meta["app_file"]).is_file()
    assert str(meta["python_version"]) == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert meta["license"] and meta["title"]
    # The Space installs the CPU build of the exact torch the project is tested with
    # (pre-requirements.txt goes first on a Space), which requirements.txt accepts.
    first = (ROOT / "pre-requirements.txt").read_text()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in first
    assert f"torch=={pins()['torch']}+cpu" in first.split()
    # The weights the app loads are in the repository.
    for name in ("classifier.pth", "vae.pth", "line_reader.pth"):
        assert (ROOT / "checkpoints" / name).is_file()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.integration
def test_app_serves_all_interfaces_when_a_space_launches_it():
    port = free_port()
    env = {**os.environ, "SPACE_ID": "someone/digit-insight-studio"}
    process = subprocess.Popen(
        [sys.executable, "demo.py", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline, page = time.monotonic() + 120, ""
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
                    page = reply.read().decode("utf-8", "replace")
                    break
            except OSError:
                time.sleep(0.5)
        assert "Digit Insight Studio" in page, "the page was not served"
        # Listening on 0.0.0.0: the kernel's table of listening TCP sockets says so.
        table = Path("/proc/net/tcp")
        listening = table.read_text() if table.exists() else ""
        assert not listening or re.search(rf"00000000:{port:04X} 00000000:0000 0A", listening)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_default_host_follows_the_space_variable(monkeypatch):
    import demo

    monkeypatch.delenv("SPACE_ID", raising=False)
    assert demo.default_host() == "127.0.0.1"
    monkeypatch.setenv("SPACE_ID", "someone/digit-insight-studio")
    assert demo.default_host() == "0.0.0.0"
