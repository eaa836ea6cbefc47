"""The desk's API errors speak the editors' language: French by default (the sample config's
``language: fr``), English with ``NEWSLETTER_LANG=en`` or ``language: en`` in schedule.yaml;
so do the refusals of a pasted link (collect.page_meta)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from newsletter import i18n
from newsletter.collect.page_meta import address_refusal
from newsletter.desk import DeskServer

from .conftest import DATE

ISSUE = f"/api/issues/{DATE}"


def stale_and_missing(client: httpx.Client, issue_folder: Path) -> tuple[str, str]:
    """The messages of a save on a stale issue (412) and of a save without If-Match (428)."""
    etag = client.get(ISSUE).headers["etag"]
    item = issue_folder / "rencontres-odd17.md"
    item.write_text(item.read_text(encoding="utf-8") + "\nAjouté ailleurs.\n", "utf-8")
    stale = client.patch(ISSUE, json={"subject": "Autre"}, headers={"If-Match": etag})
    missing = client.patch(ISSUE, json={"subject": "Autre"})
    assert (stale.status_code, missing.status_code) == (412, 428)
    return stale.json()["message"], missing.json()["message"]


@pytest.mark.french
def test_desk_errors_are_french_by_default(client: httpx.Client, issue_folder: Path) -> None:
    stale, missing = stale_and_missing(client, issue_folder)

    assert stale == (
        "Ce numéro a changé depuis que vous l'avez ouvert (dans le bureau ou dans un fichier) : "
        "rechargez-le pour voir la dernière version, puis refaites votre modification. "
        "Rien n'a été enregistré."
    )
    assert missing.startswith("Chaque modification doit envoyer l'en-tête If-Match")
    bad = client.patch(
        ISSUE, json={"nope": "x"}, headers={"If-Match": client.get(ISSUE).headers["etag"]}
    )
    assert bad.json()["message"].startswith("champ inconnu « nope » (champs possibles : ")


def test_desk_errors_are_english_with_newsletter_lang_en(
    client: httpx.Client, issue_folder: Path
) -> None:
    # the suite's autouse fixture sets NEWSLETTER_LANG=en for this unmarked test
    stale, missing = stale_and_missing(client, issue_folder)

    assert stale.startswith("This issue changed since you opened it")
    assert "Nothing was saved." in stale
    assert missing.startswith("Every change must send the If-Match header")


@pytest.mark.french
def test_desk_errors_follow_the_config_language(project: Path, issue_folder: Path) -> None:
    config = project / "schedule.yaml"
    config.write_text(
        config.read_text(encoding="utf-8").replace("language: fr", "language: en"), "utf-8"
    )
    with (
        DeskServer(config, port=0) as desk,
        httpx.Client(base_url=desk.url.rstrip("/"), timeout=60) as client,
    ):
        stale, _missing = stale_and_missing(client, issue_folder)

    assert stale.startswith("This issue changed since you opened it")


def test_link_refusals_follow_the_language(monkeypatch: pytest.MonkeyPatch) -> None:
    # English under the suite's NEWSLETTER_LANG=en, French when it says fr
    assert address_refusal("10.0.0.1") == (
        "Private address refused: 10.0.0.1 is an address of a private network."
    )
    monkeypatch.setenv(i18n.LANG_ENV, "fr")
    assert address_refusal("10.0.0.1") == (
        "Adresse privée refusée : 10.0.0.1 est une adresse d'un réseau privé."
    )
