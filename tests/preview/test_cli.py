"""``newsletter preview`` as a process: prints its URL, serves, stops cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import httpx
import pytest
from click.testing import CliRunner

from newsletter.cli import app
from newsletter.cli.preview import register

from .helpers import DATE

# Until the command is listed in newsletter.cli, run it from a group of its own.
_STANDALONE = (
    "import click\n"
    "from newsletter.cli.preview import register\n"
    "group = click.Group('newsletter')\n"
    "register(group)\n"
    "group(prog_name='newsletter')\n"
)


def preview_argv(*args: str) -> list[str]:
    if "preview" in app.commands:
        return [sys.executable, "-m", "newsletter", "preview", *args]
    return [sys.executable, "-c", _STANDALONE, "preview", *args]


def cli_group() -> click.Group:
    group = click.Group("newsletter")
    register(group)
    return group


@contextmanager
def running_preview(project: Path, *args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("NEWSLETTER_CONFIG", None)
    process = subprocess.Popen(
        preview_argv("--port", "0", "--config", "schedule.yaml", *args),
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert "http://127.0.0.1:" in first, first + (
            process.stderr.read() if process.stderr else ""
        )
        url = first.split("http://", 1)[1].split()[0]
        yield process, f"http://{url}"
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_prints_the_url_serves_and_stops_cleanly(project: Path, stop_signal: int) -> None:
    with running_preview(project) as (process, url):
        assert url.endswith("/") and not url.endswith(":0/")
        assert process.stdout is not None
        assert process.stdout.readline().strip() == f"Latest issue: {url}{DATE}/"
        index = httpx.get(url, timeout=30)
        assert index.status_code == 200
        assert f"/{DATE}/" in index.text

        process.send_signal(stop_signal)
        out, err = process.communicate(timeout=30)

        assert process.returncode == 0, err
        assert "Preview stopped." in out
        assert "Traceback" not in err


def test_a_taken_port_is_one_error_line(project: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            cli_group(),
            ["preview", "--port", str(port), "--config", str(project / "schedule.yaml")],
        )

    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use "
        "(choose another --port, or --port 0 for a free one)"
    ]


def test_a_broken_config_at_start_is_an_error(project: Path) -> None:
    (project / "schedule.yaml").write_text("newsletter:\n  title: [\n", encoding="utf-8")

    result = CliRunner().invoke(
        cli_group(), ["preview", "--port", "0", "--config", str(project / "schedule.yaml")]
    )

    assert result.exit_code == 1
    assert "schedule.yaml:" in result.output and "invalid YAML" in result.output
    assert "Traceback" not in result.output


def test_help_documents_the_options() -> None:
    result = CliRunner().invoke(cli_group(), ["preview", "--help"])

    assert result.exit_code == 0
    for text in ("--host", "--port", "--public-host", "--config", "picks a free one", "375"):
        assert text in result.output
