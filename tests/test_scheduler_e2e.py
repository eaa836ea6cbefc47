"""End to end: the real ``newsletter schedule run`` process under faketime, on the sample project.

Each run starts the process at a chosen moment of Thursday's week (libfaketime with
``FAKETIME=@...``: the clock then ticks at real speed), lets the catch-up and the retries do
their work, and stops it with SIGTERM. The library is preloaded into the Python process itself
rather than through the ``faketime`` wrapper, which would take the SIGTERM and orphan the
scheduler. Monotonic time is left real (FAKETIME_DONT_FAKE_MONOTONIC=1): Python's timed waits
hang under libfaketime otherwise.
"""

from __future__ import annotations

import asyncio
import glob
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from newsletter.alerts import read_notices
from newsletter.config import load_config
from newsletter.deliver.ledger import open_ledger
from newsletter.job_history import JobHistory, RunRecord

DATE = "2026-12-03"
LIBFAKETIME = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))


@pytest.fixture
def faketime() -> str:
    """The path of libfaketime, from Debian's ``faketime`` package."""
    if not LIBFAKETIME:
        if os.environ.get("CI"):
            pytest.fail("libfaketime is missing in CI: .ci/render-deps.sh installs 'faketime'")
        pytest.skip("libfaketime is missing: apt-get install faketime (the Debian package)")
    return LIBFAKETIME[0]


class Scheduler:
    """``newsletter schedule run`` in its own process, its clock starting at ``start`` (UTC)."""

    def __init__(self, project: Path, start: str, faketime: str) -> None:
        env = {
            **os.environ,
            "LD_PRELOAD": faketime,
            "FAKETIME": f"@{start}",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "FAKETIME_NO_CACHE": "1",
            "TZ": "UTC",
            "PYTHONUNBUFFERED": "1",
            "PYTHONFAULTHANDLER": "1",  # SIGABRT on a hang prints every thread's stack
        }
        command = ["-m", "newsletter", "schedule", "run", "--config", "schedule.yaml"]
        self.process = subprocess.Popen(
            [sys.executable, *command],
            cwd=project,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        with self.process.stdout:
            for line in self.process.stdout:
                self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                pytest.fail(f"no {text!r} in the scheduler's output:\n{self.output}")
            time.sleep(0.1)

    def stop(self) -> str:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGABRT)
            time.sleep(2)
            self.process.kill()
            self.reader.join(timeout=10)
            pytest.fail(f"the scheduler did not stop on SIGTERM:\n{self.output}")
        self.reader.join(timeout=10)
        assert self.process.returncode == 0, self.output
        assert "scheduler stopped" in self.output
        return self.output


@contextmanager
def scheduler(project: Path, start: str, faketime: str) -> Iterator[Scheduler]:
    running = Scheduler(project, start, faketime)
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait(timeout=10)
        running.reader.join(timeout=10)


def send_runs(project: Path) -> list[RunRecord]:
    config = load_config(project / "schedule.yaml")
    with JobHistory.of(config) as history:
        return history.runs("send")


def sent_counts(project: Path) -> dict[str, int]:
    config = load_config(project / "schedule.yaml")
    with open_ledger(config) as ledger:
        send = ledger.latest_send(datetime.fromisoformat(DATE).date(), test=False)
        assert send is not None and send.finished_at is not None
        return ledger.counts(send.id)


def outbox_files(project: Path, *parts: str) -> list[Path]:
    return sorted(project.joinpath(".newsletter", "outbox", *parts).rglob("*.eml"))


def test_started_at_0920_sends_once_and_a_restart_sends_nothing_more(
    sample_project: Path, faketime: str
) -> None:
    with scheduler(sample_project, "2026-12-03 08:20:00", faketime) as run:  # 09:20 in Paris
        run.wait_for("up to date; next look at")
        output = run.stop()
    assert "job send: starting (due Thu 2026-12-03 09:00 +0100)" in output
    assert "2026-12-03 09:20:" in output and "+0100 CET INFO" in output  # log times are local
    counts = sent_counts(sample_project)
    files = outbox_files(sample_project, DATE)
    assert counts["sent"] == len(files) >= 10
    assert [run.outcome for run in send_runs(sample_project)] == ["ok"]
    assert (sample_project / "archive" / DATE / "index.html").is_file()

    with scheduler(sample_project, "2026-12-03 08:40:00", faketime) as run:  # 09:40: restart
        run.wait_for("up to date; next look at")
        output = run.stop()
    assert "job send" not in output
    assert outbox_files(sample_project, DATE) == files
    assert [run.outcome for run in send_runs(sample_project)] == ["ok"]
    assert outbox_files(sample_project, "alerts") == []


def test_started_on_friday_sends_nothing_and_tells_the_editors(
    sample_project: Path, faketime: str
) -> None:
    with scheduler(sample_project, "2026-12-04 09:00:00", faketime) as run:  # Friday 10:00
        run.wait_for("up to date; next look at")
        output = run.stop()
    assert "job send: missed the run due Thu 2026-12-03 09:00 +0100" in output
    assert "editors told at redaction@example.org" in output
    assert outbox_files(sample_project, DATE) == []
    (notice,) = outbox_files(sample_project, "alerts")
    text = notice.read_text(encoding="utf-8")
    assert "To: redaction@example.org" in text and "[TEST]" not in text
    config = load_config(sample_project / "schedule.yaml")
    assert [(n.issue, n.delivered) for n in read_notices(config)] == [(DATE, True)]


@dataclass
class FlakySmtp:
    """A loopback SMTP server that answers 421 to every message until ``up`` is set."""

    up: threading.Event = field(default_factory=threading.Event)
    received: list[str] = field(default_factory=list)
    refused: int = 0

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if not self.up.is_set():
            self.refused += 1
            return "421 4.3.2 service not available, try again later"
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.extend(address.lower() for address in envelope.rcpt_tos)
        await asyncio.sleep(0)
        return "250 OK queued"


def test_a_provider_down_at_nine_and_back_at_half_past_sends_once_at_the_next_retry(
    sample_project: Path, faketime: str
) -> None:
    smtp = FlakySmtp()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = Controller(smtp, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        config_file = sample_project / "schedule.yaml"
        text = config_file.read_text(encoding="utf-8")
        text = text.replace("provider: outbox ", "provider: smtp ").replace(
            "options: {}",
            f"options: {{host: 127.0.0.1, port: {port}, security: none, max_attempts: 1}}",
        )
        config_file.write_text(text + "\nnotify: {provider: outbox}\n", encoding="utf-8")
        # Down since 09:00; the scheduler starts at 09:29:30 and tries at once: refused.
        with scheduler(sample_project, "2026-12-03 08:29:30", faketime) as run:
            run.wait_for("job send: retry")
            assert smtp.refused and not smtp.received
            smtp.up.set()  # back before 09:30
            run.wait_for("job send: ok", timeout=120)
            output = run.stop()
    finally:
        controller.stop()
    assert "editors told at redaction@example.org" in output  # through notify: outbox
    runs = send_runs(sample_project)
    assert [r.outcome for r in runs] == ["retry", "ok"]
    assert runs[1].started >= datetime(2026, 12, 3, 8, 30, tzinfo=UTC)  # the 09:30 retry
    assert runs[1].started < datetime(2026, 12, 3, 8, 31, tzinfo=UTC)
    counts = sent_counts(sample_project)
    assert counts["sent"] == len(smtp.received) == len(set(smtp.received)) >= 10
    (notice,) = outbox_files(sample_project, "alerts")
    assert "toutes les 15m" in notice.read_text(encoding="utf-8").replace("=\n", "")
