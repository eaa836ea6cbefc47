"""Editors read French: the catalogs are complete and compiled, and the language follows the
config's ``newsletter.language`` unless ``$NEWSLETTER_LANG`` says otherwise.

The suite's autouse fixture (tests/conftest.py) sets ``NEWSLETTER_LANG=en``; the tests marked
``french`` run without it, so the sample config's ``language: fr`` speaks.
"""

from __future__ import annotations

import gettext
import io
import os
import shutil
import string
import subprocess
import sys
import threading
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from newsletter import i18n
from newsletter.config import load_config
from newsletter.issue.draft import merge_draft
from newsletter.issue.folder import new_issue, read_issue_meta
from newsletter.model import Item, item_key
from newsletter.scaffold import scaffold_project

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "newsletter"
LOCALE = PACKAGE / "locale"
DAY = date(2026, 12, 10)

# -- the catalogs -------------------------------------------------------------------------------


def _po(language: str) -> Catalog:
    with (LOCALE / language / "LC_MESSAGES" / "newsletter.po").open("rb") as handle:
        return read_po(handle, locale=language)


def _messages(catalog: Catalog) -> list[Message]:
    return [message for message in catalog if message.id]


def _extracted() -> set[str | tuple[str, str]]:
    """Every msgid in the code, read by Babel's extractor as ``make messages`` does."""
    found: set[str | tuple[str, str]] = set()
    results = extract_from_dir(
        PACKAGE,
        # desk/pages.py speaks the desk's own domain; the desk's other modules speak this one
        method_map=[("desk/pages.py", "ignore"), ("**.py", "python")],
        directory_filter=lambda path: (
            not Path(path).name.startswith((".", "_"))
            and Path(path).name not in {"locale", "static", "templates"}
        ),
    )
    for _filename, _lineno, message, _comments, _context in results:
        found.add(message if isinstance(message, str) else (message[0], message[1]))
    return found


def _key(message: Message) -> str | tuple[str, str]:
    return message.id if isinstance(message.id, str) else (message.id[0], message.id[1])


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_catalog_holds_every_message_of_the_code(language: str) -> None:
    in_code = _extracted()
    in_catalog = {_key(m) for m in _messages(_po(language))}
    assert in_code, "the extractor found no message"
    assert in_code - in_catalog == set(), "run 'make messages' and translate the new entries"
    assert in_catalog - in_code == set(), "run 'make messages' to drop the old entries"


def test_every_french_translation_is_written() -> None:
    empty = [
        m.id
        for m in _messages(_po("fr"))
        if not m.string or (not isinstance(m.string, str) and not all(m.string)) or m.fuzzy
    ]
    assert empty == []


def test_the_english_catalog_is_the_identity() -> None:
    for m in _messages(_po("en")):
        assert m.string == m.id


@pytest.mark.parametrize("language", ["fr", "en"])
def test_translations_keep_the_placeholders(language: str) -> None:
    for m in _messages(_po(language)):
        ids = [m.id] if isinstance(m.id, str) else list(m.id)
        strings = [m.string] if isinstance(m.string, str) else list(m.string)
        wanted = _fields(ids[-1])
        assert all(_fields(i) == wanted for i in ids), m.id
        for text in strings:
            assert _fields(text) == wanted, (m.id, text)
            text.format(**dict.fromkeys(wanted, "x"))  # and the braces are well formed


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_compiled_catalog_matches_the_po(language: str) -> None:
    compiled = io.BytesIO()
    write_mo(compiled, _po(language))
    compiled.seek(0)
    fresh = gettext.GNUTranslations(compiled)
    mo = LOCALE / language / "LC_MESSAGES" / "newsletter.mo"
    with mo.open("rb") as handle:
        shipped = gettext.GNUTranslations(handle)
    assert shipped._catalog == fresh._catalog, f"{mo} is stale: run 'make messages'"  # type: ignore[attr-defined]


def test_the_catalogs_are_tracked_so_the_wheel_ships_them() -> None:
    """hatch puts in the wheel the files under src/newsletter that git does not ignore."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    for language in ("fr", "en"):
        for suffix in ("po", "mo"):
            path = LOCALE / language / "LC_MESSAGES" / f"newsletter.{suffix}"
            ignored = subprocess.run(
                ["git", "-C", str(REPO), "check-ignore", "-q", str(path)], check=False
            )
            assert ignored.returncode == 1, f"{path} is git-ignored"


# -- choosing the language ----------------------------------------------------------------------


def test_the_environment_wins_over_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_LANG", "en")
    assert i18n.language("fr") == "en"
    monkeypatch.setenv("NEWSLETTER_LANG", "fr_FR.UTF-8")
    assert i18n.language("en") == "fr"
    monkeypatch.delenv("NEWSLETTER_LANG")
    assert i18n.language("en") == "en"
    assert i18n.language(None) == "fr"
    # A language without a catalog falls back to the next choice.
    assert i18n.language("de") == "fr"
    monkeypatch.setenv("NEWSLETTER_LANG", "de")
    assert i18n.language("en") == "en"


def test_activate_changes_what_underscore_says() -> None:
    i18n.activate("fr")
    assert i18n._("'{key}' must be text").format(key="title") == "« title » doit être du texte"
    assert i18n.ngettext("{count} error", "{count} errors", 2).format(count=2) == "2 erreurs"
    assert i18n.ngettext("{count} error", "{count} errors", 1).format(count=1) == "1 erreur"
    i18n.activate("en")
    assert i18n._("'{key}' must be text").format(key="title") == "'title' must be text"
    assert i18n.current_language() == "en"
    i18n.deactivate()
    assert i18n.current_language() == "en"  # the suite's NEWSLETTER_LANG


def test_a_thread_speaks_the_last_activated_language() -> None:
    i18n.activate("fr")
    heard: list[str] = []
    thread = threading.Thread(target=lambda: heard.append(i18n._("link")))
    thread.start()
    thread.join()
    assert heard == ["le lien"]


def test_translations_of_another_domain_and_folder(tmp_path: Path) -> None:
    assert isinstance(i18n.translations("newsletter", "fr"), gettext.GNUTranslations)
    assert i18n.translations("newsletter", "fr") is i18n.translations("newsletter", "fr")
    missing = i18n.translations("desk", "fr", localedir=tmp_path)
    assert missing.gettext("Approve") == "Approve"


def test_load_config_activates_the_config_language(
    sample_project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NEWSLETTER_LANG")
    config_file = sample_project / "schedule.yaml"
    load_config(config_file)
    assert i18n.current_language() == "fr"
    text = config_file.read_text(encoding="utf-8")
    assert "  language: fr\n" in text
    config_file.write_text(text.replace("  language: fr\n", "  language: en\n"), "utf-8")
    load_config(config_file)
    assert i18n.current_language() == "en"
    monkeypatch.setenv("NEWSLETTER_LANG", "fr")
    load_config(config_file)
    assert i18n.current_language() == "fr"


# -- what editors read --------------------------------------------------------------------------


def _with_mistakes(project: Path, *, broken: bool) -> None:
    """An issue whose item file is broken (it stops the build), or builds with warnings."""
    folder = project / "bulletins" / DAY.isoformat()
    folder.mkdir(parents=True)
    (folder / "issue.md").write_text(
        "---\nsubject: Le numéro\nstatus: draft\n---\nBonjour,\n", encoding="utf-8"
    )
    url, extra = ("atelier-climat", "colour: vert\n") if broken else ("http://atelier.test/", "")
    (folder / "atelier.md").write_text(
        f"---\ntitle: Atelier\nurl: {url}\nsection: agenda\n{extra}---\nUn atelier.\n",
        encoding="utf-8",
    )


def _check(project: Path, language: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NEWSLETTER_LANG"}
    if language is not None:
        env["NEWSLETTER_LANG"] = language
    return subprocess.run(
        [sys.executable, "-m", "newsletter", "--config", "schedule.yaml", "check", DAY.isoformat()],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.french
def test_check_speaks_french_by_default(sample_project: Path) -> None:
    _with_mistakes(sample_project, broken=True)
    result = _check(sample_project, None)
    assert result.returncode == 1
    item = f"bulletins/{DAY.isoformat()}/atelier.md"
    assert (
        f"erreur : {item}:3: « url » doit être une adresse complète (reçu 'atelier-climat')"
        in result.stderr
    )
    assert f"erreur : {item}:5: clé « colour » inconnue (clés possibles : " in result.stderr
    assert "attention : schedule.yaml:" in result.stderr
    assert "0 article; 2 erreurs, " in result.stdout
    assert "must be" not in result.stderr + result.stdout


@pytest.mark.french
def test_check_findings_of_the_rendered_issue_are_french(sample_project: Path) -> None:
    _with_mistakes(sample_project, broken=False)
    result = _check(sample_project, None)
    item = f"bulletins/{DAY.isoformat()}/atelier.md ['Atelier']"
    assert f"attention : {item}: le lien n'est pas en https : http://atelier.test/" in result.stderr
    issue_md = f"bulletins/{DAY.isoformat()}/issue.md"
    assert f"attention : {issue_md}: pas de pré-en-tête : les messageries" in result.stderr
    assert " Ko de HTML; 0 erreur, " in result.stdout
    assert result.stdout.startswith(f"{DAY.isoformat()}: 1 article, ")
    assert result.returncode == 0, result.stderr


def test_check_speaks_english_when_told(sample_project: Path) -> None:
    _with_mistakes(sample_project, broken=True)
    result = _check(sample_project, "en")
    assert result.returncode == 1
    item = f"bulletins/{DAY.isoformat()}/atelier.md"
    assert f"error: {item}:3: 'url' must be an absolute URL (got 'atelier-climat')" in result.stderr
    assert f"error: {item}:5: unknown key 'colour' (known: " in result.stderr
    assert "0 items; 2 errors, " in result.stdout
    assert "erreur" not in result.stderr + result.stdout


@pytest.mark.french
def test_new_issue_and_draft_comments_are_french(sample_project: Path) -> None:
    config = load_config(sample_project / "schedule.yaml")
    path, created = new_issue(config, DAY)
    assert created
    text = path.read_text(encoding="utf-8")
    assert "# Réglages du numéro." in text
    assert "# une ligne affichée après l'objet dans la boîte de réception" in text
    assert "Issue settings" not in text
    meta = read_issue_meta(config, DAY)  # the translated file still reads
    assert meta.status.value == "draft"
    assert meta.subject.endswith("jeudi 10 décembre 2026")

    url = "https://example.net/atelier"
    item = Item(key=item_key(url), title="Atelier", url=url, section=config.sections[0].id)
    draft, added = merge_draft(None, [item], config.sections, DAY, ZoneInfo("Europe/Paris"))
    assert added == [item]
    assert draft.startswith("# Ce que « newsletter collect » a trouvé pour le numéro du 2026-12-10")
    assert "Gardez chaque « id »." in draft


def test_new_issue_in_english_when_told(sample_project: Path) -> None:
    config = load_config(sample_project / "schedule.yaml")
    path, _ = new_issue(config, DAY)
    assert "# Issue settings. The editorial is the Markdown" in path.read_text(encoding="utf-8")
    assert read_issue_meta(config, DAY).status.value == "draft"


@pytest.mark.french
def test_init_writes_french_readmes(tmp_path: Path) -> None:
    created, _ = scaffold_project(tmp_path / "projet")
    readme = tmp_path / "projet" / "bulletins" / "README.md"
    assert readme in created
    assert readme.read_text(encoding="utf-8").startswith("# Numéros\n")
