"""The editors' store (editors.json) and the ``newsletter editors`` commands."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner, Result

from newsletter.cli import app
from newsletter.config import Config, load_config
from newsletter.desk.editors import (
    EditorError,
    EditorStore,
    editors_path,
    has_editors,
    load_editors,
)

PASSWORD = "une phrase assez longue"  # noqa: S105 (a test password)
OTHER = "une autre phrase longue"


@pytest.fixture
def config(sample_project: Path) -> Config:
    return load_config(sample_project / "schedule.yaml")


@pytest.fixture
def store(config: Config) -> EditorStore:
    return load_editors(config)


def test_add_normalises_the_address_and_keeps_only_hashes(
    config: Config, store: EditorStore
) -> None:
    assert not has_editors(config)
    editor = store.add("  Camille.Martin@Example.ORG ", PASSWORD, name="Camille")
    token = store.new_token("camille.martin@example.org")

    assert editor.email == "camille.martin@example.org"
    assert editor.name == "Camille"
    assert has_editors(config)
    path = editors_path(config)
    text = path.read_text(encoding="utf-8")
    assert PASSWORD not in text
    assert token not in text
    data = json.loads(text)
    (entry,) = data["editors"]
    assert entry["password_hash"].startswith("$argon2id$")
    assert len(entry["tokens"]) == 1 and len(entry["tokens"][0]["sha256"]) == 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_file_made_with_loose_rights_is_made_private_at_the_next_write(
    config: Config, store: EditorStore
) -> None:
    store.add("camille@example.org", PASSWORD)
    path = editors_path(config)
    path.chmod(0o644)
    store.new_token("camille@example.org")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_passwords_are_checked(store: EditorStore) -> None:
    store.add("camille@example.org", PASSWORD)
    assert store.verify_password("Camille@example.org", PASSWORD) is not None
    assert store.verify_password("camille@example.org", OTHER) is None
    assert store.verify_password("personne@example.org", PASSWORD) is None
    assert store.verify_password("pas une adresse", PASSWORD) is None
    assert store.verify_password("camille@example.org", "") is None


def test_bad_input_is_refused_with_a_clear_error(store: EditorStore) -> None:
    with pytest.raises(EditorError, match="at least 12"):
        store.add("camille@example.org", "court")
    with pytest.raises(EditorError, match="not a valid email address"):
        store.add("camille(at)example.org", PASSWORD)
    store.add("camille@example.org", PASSWORD)
    with pytest.raises(EditorError, match="already an editor"):
        store.add("CAMILLE@example.org", OTHER)
    with pytest.raises(EditorError, match="is not an editor"):
        store.set_password("personne@example.org", PASSWORD)
    with pytest.raises(EditorError, match="is not an editor"):
        store.remove("personne@example.org")
    with pytest.raises(EditorError, match="is not an editor"):
        store.new_token("personne@example.org")


def test_a_new_password_changes_the_generation(store: EditorStore) -> None:
    before = store.add("camille@example.org", PASSWORD)
    after = store.set_password("camille@example.org", OTHER)
    assert after.generation != before.generation
    assert store.verify_password("camille@example.org", PASSWORD) is None
    assert store.verify_password("camille@example.org", OTHER) == after


def test_tokens_find_their_editor_until_revoked_or_removed(store: EditorStore) -> None:
    store.add("camille@example.org", PASSWORD)
    store.add("dominique@example.org", OTHER)
    first = store.new_token("camille@example.org")
    second = store.new_token("camille@example.org")
    other = store.new_token("dominique@example.org")
    assert first != second
    assert store.editor_for_token(first).email == "camille@example.org"  # type: ignore[union-attr]
    assert store.editor_for_token(other).email == "dominique@example.org"  # type: ignore[union-attr]
    assert store.editor_for_token(first[:-1]) is None
    assert store.editor_for_token("") is None
    assert store.revoke_tokens("camille@example.org") == 2
    assert store.editor_for_token(first) is None
    assert store.editor_for_token(second) is None
    store.remove("dominique@example.org")
    assert store.editor_for_token(other) is None
    assert [e.email for e in store.editors()] == ["camille@example.org"]


def test_two_stores_see_each_others_writes(config: Config) -> None:
    desk, cli = load_editors(config), load_editors(config)
    assert len(desk) == 0
    cli.add("camille@example.org", PASSWORD)
    assert desk.get("camille@example.org") is not None
    desk.add("dominique@example.org", OTHER)
    cli.remove("camille@example.org")
    assert [e.email for e in desk.editors()] == ["dominique@example.org"]


def test_an_old_hash_is_replaced_at_the_next_login(config: Config, store: EditorStore) -> None:
    store.add("camille@example.org", PASSWORD)
    path = editors_path(config)
    data = json.loads(path.read_text(encoding="utf-8"))
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    data["editors"][0]["password_hash"] = weak
    path.write_text(json.dumps(data), encoding="utf-8")

    assert store.verify_password("camille@example.org", PASSWORD) is not None
    stored = json.loads(path.read_text(encoding="utf-8"))["editors"][0]["password_hash"]
    assert stored != weak
    assert not PasswordHasher().check_needs_rehash(stored)
    assert store.verify_password("camille@example.org", PASSWORD) is not None


def test_a_broken_file_is_named(config: Config, store: EditorStore) -> None:
    path = editors_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(EditorError, match=r"editors\.json: not a valid editors file"):
        store.editors()


# -- the commands ---------------------------------------------------------------------
def _run(project: Path, *args: str, env: str | None = PASSWORD, given: str | None = None) -> Result:
    variables = {"NEWSLETTER_EDITOR_PASSWORD": env}  # None: unset, the prompt asks
    runner = CliRunner()
    return runner.invoke(
        app,
        ["--config", str(project / "schedule.yaml"), "editors", *args],
        env=variables,
        input=given,
    )


def test_the_commands(sample_project: Path, config: Config) -> None:
    added = _run(sample_project, "add", "Camille@Example.org", "--name", "Camille Martin")
    assert added.exit_code == 0, added.output
    assert "editor added: camille@example.org (Camille Martin)" in added.output

    again = _run(sample_project, "add", "camille@example.org")
    assert again.exit_code == 1
    assert "already an editor" in again.output

    token = _run(sample_project, "token", "camille@example.org")
    assert token.exit_code == 0
    printed = token.stdout.strip()
    assert printed.startswith("nld_")
    store = load_editors(config)
    assert store.editor_for_token(printed).email == "camille@example.org"  # type: ignore[union-attr]
    assert printed not in editors_path(config).read_text(encoding="utf-8")

    listed = _run(sample_project, "list")
    assert listed.exit_code == 0
    assert "camille@example.org\tCamille Martin\t1 API token" in listed.output
    assert listed.output.strip().endswith("1 editor")

    changed = _run(sample_project, "passwd", "camille@example.org", env=OTHER)
    assert changed.exit_code == 0, changed.output
    assert store.verify_password("camille@example.org", OTHER) is not None

    revoked = _run(sample_project, "token", "camille@example.org", "--revoke")
    assert revoked.exit_code == 0 and "revoked 1 API token" in revoked.output
    assert store.editor_for_token(printed) is None

    removed = _run(sample_project, "remove", "camille@example.org")
    assert removed.exit_code == 0 and "editor removed" in removed.output
    assert not has_editors(config)


def test_the_commands_refuse_clearly(sample_project: Path) -> None:
    short = _run(sample_project, "add", "camille@example.org", env="court")
    assert short.exit_code == 1 and "at least 12" in short.output
    for command in ("passwd", "remove", "token"):
        unknown = _run(sample_project, command, "personne@example.org")
        assert unknown.exit_code == 1, command
        assert "error: 'personne@example.org' is not an editor" in unknown.output
    bad = _run(sample_project, "add", "pas-une-adresse")
    assert bad.exit_code == 1 and "not a valid email address" in bad.output


def test_the_password_is_asked_twice_when_not_in_the_environment(
    sample_project: Path, config: Config
) -> None:
    typed = _run(
        sample_project, "add", "camille@example.org", env=None,
        given=f"{PASSWORD}\n{PASSWORD}\n",
    )  # fmt: skip
    assert typed.exit_code == 0, typed.output
    assert PASSWORD not in typed.output  # hidden input is not echoed
    assert load_editors(config).verify_password("camille@example.org", PASSWORD) is not None

    mismatch = _run(
        sample_project, "passwd", "camille@example.org", env=None,
        given=f"{OTHER}\nautre chose encore\n",
    )  # fmt: skip
    assert mismatch.exit_code != 0
    assert load_editors(config).verify_password("camille@example.org", PASSWORD) is not None
