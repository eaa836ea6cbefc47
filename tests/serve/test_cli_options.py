"""``newsletter serve --public-host --trusted-proxy`` as a process: names answered, the client
address a trusted proxy gives in the log, a bad proxy address refused in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
from click.testing import CliRunner

from newsletter.cli import app

from .conftest import SECRET

NEWSLETTER = Path(sys.executable).parent / "newsletter"


def test_public_host_and_trusted_proxy(project: Path) -> None:
    env = {**os.environ, "NEWSLETTER_SECRET": SECRET}
    command = [
        str(NEWSLETTER),
        "serve",
        "--port",
        "0",
        "--public-host",
        "lettre.example.net",
        "--trusted-proxy",
        "10.0.0.0/8",
        "--config",
        str(project / "schedule.yaml"),
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        port = int(first.split("(port ", 1)[1].split(")", 1)[0])
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            named = client.get("/healthz", headers={"Host": "lettre.example.net"})
            assert named.status_code == 200
            assert client.get("/healthz", headers={"Host": "example.org"}).status_code == 200
            assert client.get("/healthz", headers={"Host": "evil.example"}).status_code == 400
            # loopback is no longer a trusted proxy: its header is the client's own claim
            client.get("/healthz", headers={"X-Real-IP": "203.0.113.9"})
        process.terminate()
        _out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    lines = [line for line in err.splitlines() if "/healthz" in line]
    assert len(lines) == 4 and " 400 unknown host" in lines[2]
    assert all(" 127.0.0.1 GET /healthz " in line for line in lines)
    assert "203.0.113.9" not in err


def test_a_bad_trusted_proxy_is_one_error_line(project: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["serve", "--trusted-proxy", "nginx.local", "--config", str(project / "schedule.yaml")],
    )
    assert result.exit_code == 1
    assert "'nginx.local' is not an IP address or network" in result.stderr
    assert "Traceback" not in result.stderr
