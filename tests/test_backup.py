"""`newsletter backup` and `newsletter restore`: a consistent, private copy of the state that
puts the project back where it was (an issue already sent is not sent again, links already sent
still unsubscribe), and a restore that never runs under the scheduler or a send."""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from newsletter.backup import BackupError, backup_state, read_manifest, restore_state
from newsletter.config import Config, load_config
from newsletter.deliver.ledger import open_ledger
from newsletter.deliver.service import send_lock
from newsletter.schedule import scheduler_lock
from newsletter.tokens import load_secret, make_token, verify_token

DATE = "2026-12-03"


def newsletter(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("NEWSLETTER_SECRET", "NEWSLETTER_CONFIG")
    }
    return subprocess.run(
        [sys.executable, "-m", "newsletter", *args, "--config", "schedule.yaml"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        stdin=subprocess.DEVNULL,
        env=env,
    )


def run_ok(project: Path, *args: str) -> str:
    result = newsletter(project, *args)
    assert result.returncode == 0, f"newsletter {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout + result.stderr


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def config(sample_project: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    # The key comes from the state folder's secret.key, the one a backup must carry.
    monkeypatch.delenv("NEWSLETTER_SECRET", raising=False)
    return load_config(sample_project / "schedule.yaml")


def unsubscribe_token(message_file: Path) -> str:
    message = email.message_from_bytes(message_file.read_bytes(), policy=email.policy.default)
    link = str(message["List-Unsubscribe"]).split("<https://", 1)[1].split(">", 1)[0]
    return link.rsplit("/", 1)[1]


@pytest.mark.slow
def test_a_restored_state_knows_the_issue_went_and_the_links_still_work(
    config: Config, sample_project: Path, tmp_path: Path
) -> None:
    project = sample_project
    run_ok(project, "collect", DATE)
    run_ok(project, "approve", DATE)
    run_ok(project, "send", DATE, "--yes")
    outbox = config.state_dir / "outbox" / DATE
    sent = sorted(outbox.glob("*.eml"))
    assert sent
    token = unsubscribe_token(sent[0])
    reader = verify_token(load_secret(config), token)
    assert reader is not None

    backup = tmp_path / "backup"
    out = run_ok(project, "backup", str(backup))
    assert "ledger.sqlite3" in out and "secret.key" in out
    assert mode(backup) == 0o700
    manifest = json.loads((backup / "manifest.json").read_text(encoding="utf-8"))
    names = {entry["path"] for entry in manifest["files"]}
    assert {"ledger.sqlite3", "secret.key", f"drafts/{DATE}.json"} <= names
    assert any(name.startswith("feeds/") for name in names)
    assert not any(name.startswith("outbox/") or name.endswith(".lock") for name in names)
    for entry in manifest["files"]:
        copy = backup / entry["path"]
        assert mode(copy) == 0o600, entry["path"]
        assert hashlib.sha256(copy.read_bytes()).hexdigest() == entry["sha256"]
    assert mode(backup / "manifest.json") == 0o600

    shutil.rmtree(config.state_dir)  # the disk is lost
    restored = run_ok(project, "restore", str(backup))
    assert f"{len(names)} files" in restored
    assert (config.state_dir / "secret.key").is_file()

    again = run_ok(project, "send", DATE, "--yes")
    assert "already" in again.lower()
    assert not outbox.exists() or not list(outbox.glob("*.eml"))  # nothing sent again
    assert verify_token(load_secret(config), token) == reader


def test_a_backup_while_a_writer_holds_a_transaction_is_consistent(
    config: Config, tmp_path: Path
) -> None:
    with open_ledger(config) as ledger:
        ledger.suppress(["committed@example.org"], reason="unsubscribed", source="test")
    writer = sqlite3.connect(config.state_dir / "ledger.sqlite3", isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute(
            "INSERT INTO suppressions (email_key, email, reason, source, added_at) "
            "VALUES ('open@example.org', 'open@example.org', 'unsubscribed', 'test', 'now')"
        )
        report = backup_state(config, tmp_path / "backup")  # does not wait for the writer
        writer.execute("COMMIT")
    finally:
        writer.close()
    assert "ledger.sqlite3" in {item.path for item in report.files}
    copy = tmp_path / "backup" / "ledger.sqlite3"
    assert not Path(f"{copy}-wal").exists()  # one self-contained file
    with sqlite3.connect(f"{copy.as_uri()}?mode=ro", uri=True) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        emails = {row[0] for row in db.execute("SELECT email FROM suppressions")}
    assert emails == {"committed@example.org"}
    with open_ledger(config) as ledger:  # the writer's transaction went through
        assert ledger.is_suppressed("open@example.org")


def test_backup_refuses_a_folder_that_is_not_empty_unless_forced(
    config: Config, tmp_path: Path
) -> None:
    load_secret(config)
    target = tmp_path / "backup"
    target.mkdir()
    (target / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(BackupError, match=r"not empty.*--force"):
        backup_state(config, target)
    assert not (target / "manifest.json").exists()
    backup_state(config, target, force=True)
    assert mode(target) == 0o700
    _, files = read_manifest(target)
    assert [item.path for item in files] == ["secret.key"]
    with pytest.raises(BackupError, match="inside the state folder"):
        backup_state(config, config.state_dir / "backup")


@pytest.mark.parametrize("lock", [send_lock, scheduler_lock], ids=["send", "scheduler"])
def test_restore_refuses_while_a_send_or_the_scheduler_runs(
    config: Config, tmp_path: Path, lock: object
) -> None:
    key = load_secret(config)
    backup_state(config, tmp_path / "backup")
    (config.state_dir / "secret.key").write_text("x" * 64 + "\n", encoding="utf-8")
    with lock(config):  # type: ignore[operator]
        with pytest.raises(BackupError, match="restore refused: another"):
            restore_state(config, tmp_path / "backup")
    assert (config.state_dir / "secret.key").read_text(encoding="utf-8") == "x" * 64 + "\n"
    assert not list(config.state_dir.parent.glob("*.before-restore-*"))
    report = restore_state(config, tmp_path / "backup")  # once the lock is free
    assert load_secret(config) == key
    assert report.aside is not None
    assert (report.aside / "secret.key").read_text(encoding="utf-8") == "x" * 64 + "\n"
    assert mode(report.aside) == 0o700


def test_restore_refuses_a_backup_that_changed(config: Config, tmp_path: Path) -> None:
    key = load_secret(config)
    token = make_token(key, "marie@example.org")
    backup_state(config, tmp_path / "backup")
    (tmp_path / "backup" / "secret.key").write_text("y" * 64 + "\n", encoding="utf-8")
    with pytest.raises(BackupError, match=r"secret\.key: changed since the backup"):
        restore_state(config, tmp_path / "backup")
    assert verify_token(load_secret(config), token) == "marie@example.org"
    (tmp_path / "other").mkdir()
    with pytest.raises(BackupError, match="no manifest"):
        restore_state(config, tmp_path / "other")
