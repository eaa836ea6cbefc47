"""The desk's JSON API against a real server on loopback: reads, If-Match, every write, and
what the files and ``prepare`` (what ``newsletter check`` runs) say afterwards."""

from __future__ import annotations

import difflib
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from newsletter.config import load_config
from newsletter.issue.prepare import PreparedIssue, prepare

from .conftest import DATE, run_cli

ISSUE = f"/api/issues/{DATE}"
LORIENT = "7fa733c54245"  # the first collected entry of 'territoires'
GRENOBLE = "40f7f9e9fec4"
BAROMETRE = "f10f9e759827"


def checked(project: Path) -> PreparedIssue:
    """What ``newsletter check`` sees now."""
    config = load_config(project / "schedule.yaml")
    return prepare(config, date.fromisoformat(DATE))


def section_keys(prepared: PreparedIssue, section_id: str) -> list[str]:
    assert prepared.issue is not None
    section = next(s for s in prepared.issue.sections if s.id == section_id)
    return [item.key for item in section.items]


def read(client: httpx.Client) -> tuple[dict[str, Any], str]:
    response = client.get(ISSUE)
    assert response.status_code == 200, response.text
    return response.json(), response.headers["etag"]


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    """The lines removed from ``before`` and added in ``after``, in order (a line diff)."""
    old, new = before.splitlines(), after.splitlines()
    gone: list[str] = []
    added: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag != "equal":
            gone += old[i1:i2]
            added += new[j1:j2]
    return gone, added


# -- reads ---------------------------------------------------------------------------------


def test_the_issue_list(client: httpx.Client) -> None:
    response = client.get("/api/issues")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    [issue] = response.json()["issues"]
    assert issue["date"] == DATE and issue["number"] == 148
    assert issue["subject"].startswith("Le Jeudi de l'ODD 17 n°148")
    assert issue["status"] == "approved"
    assert issue["counts"]["items"] == 15 and issue["counts"]["errors"] == 0
    assert issue["etag"].startswith('"')


def test_one_issue_with_every_item_in_display_order(client: httpx.Client) -> None:
    data, etag = read(client)

    assert re.fullmatch(r'"[0-9a-f]{32}"', etag), "a strong ETag"
    assert data["etag"] == etag
    assert [s["id"] for s in data["sections"]] == ["territoires", "publications", "agenda"]
    assert data["sections"][0]["title"] == "Bonnes nouvelles des territoires"
    assert data["preheader"].startswith("Une coopérative de mobilité solidaire")
    assert data["editorial"].startswith("Bonjour [[first_name]],")
    items = data["items"]
    assert [i["section"] for i in items] == sorted(
        (i["section"] for i in items), key=["territoires", "publications", "agenda"].index
    )
    first = items[0]  # editor items come first in their section
    assert first["id"] == "atelier-alliances.md" and first["origin"] == "editor"
    assert first["file"] == f"bulletins/{DATE}/atelier-alliances.md"
    lorient = items[1]
    assert lorient["id"] == LORIENT and lorient["origin"] == "collected"
    assert lorient["file"] == f"bulletins/{DATE}/collected.yaml"
    assert lorient["include"] is True
    assert lorient["image_alt"].startswith("Des bénévoles")
    assert set(lorient) >= {"id", "title", "summary", "url", "image", "image_alt", "section"}
    warning = next(f for f in data["findings"] if f["file"].endswith("atelier-alliances.md"))
    assert warning["level"] == "warning" and warning["line"] == 3
    assert warning["item"] == "atelier-alliances.md"


def test_excluded_and_invalid_items_are_listed_too(
    client: httpx.Client, issue_folder: Path
) -> None:
    (issue_folder / "brouillon.md").write_text(
        "---\ntitle: Pas fini\nsection: agenda\n---\nÀ compléter.\n", encoding="utf-8"
    )
    draft = issue_folder / "collected.yaml"
    text = draft.read_text(encoding="utf-8")
    draft.write_text(text.replace("include: true", "include: false", 1), encoding="utf-8")

    data, _ = read(client)

    items = {i["id"]: i for i in data["items"]}
    assert items[LORIENT]["include"] is False
    assert items["brouillon.md"]["title"] == "Pas fini"
    error = next(f for f in data["findings"] if f["item"] == "brouillon.md")
    assert error["level"] == "error" and "url" in error["message"]
    assert data["counts"]["included"] == data["counts"]["items"] - 1


def test_unknown_things_are_404_json(client: httpx.Client) -> None:
    for path in ("/api/issues/2026-12-10", "/api/issues/demain", "/api/nothing"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"] == "not_found" and response.json()["message"]
    _, etag = read(client)
    response = client.patch(
        f"{ISSUE}/items/nope", json={"include": False}, headers={"If-Match": etag}
    )
    assert response.status_code == 404
    assert "nope" in response.json()["message"]


def test_the_preview_pages_are_still_served(client: httpx.Client) -> None:
    assert client.get("/").status_code == 200
    assert client.get(f"/{DATE}/").status_code == 200
    assert "<html" in client.get(f"/{DATE}/email.html").text.lower()
    assert client.get(f"/{DATE}/email.txt").status_code == 200
    assert client.get("/version").text and client.get(f"/{DATE}/version").text


# -- If-Match ------------------------------------------------------------------------------


def test_a_write_without_if_match_is_428(client: httpx.Client, issue_folder: Path) -> None:
    before = (issue_folder / "issue.md").read_bytes()

    response = client.patch(ISSUE, json={"subject": "Autre"})

    assert response.status_code == 428
    assert response.json()["error"] == "if_match_required"
    assert (issue_folder / "issue.md").read_bytes() == before


@pytest.mark.french
def test_a_file_changed_on_disk_makes_the_save_412(
    client: httpx.Client, issue_folder: Path
) -> None:
    _, etag = read(client)
    item = issue_folder / "rencontres-odd17.md"
    item.write_text(item.read_text(encoding="utf-8") + "\nAjouté dans un éditeur.\n", "utf-8")
    on_disk = {p.name: p.read_bytes() for p in issue_folder.iterdir() if p.is_file()}

    response = client.patch(ISSUE, json={"subject": "Autre"}, headers={"If-Match": etag})

    assert response.status_code == 412
    body = response.json()
    assert body["error"] == "stale"
    assert body["message"].startswith("Ce numéro a changé depuis que vous l'avez ouvert")
    assert body["issue"]["etag"] == response.headers["etag"] != etag
    ours = next(i for i in body["issue"]["items"] if i["id"] == "rencontres-odd17.md")
    assert "Ajouté dans un éditeur." in ours["summary"]
    assert {p.name: p.read_bytes() for p in issue_folder.iterdir() if p.is_file()} == on_disk


def test_two_editors_the_second_save_is_refused(project: Path, client: httpx.Client) -> None:
    _, seen_by_both = read(client)

    first = client.patch(
        f"{ISSUE}/items/{LORIENT}",
        json={"title": "Titre de Camille"},
        headers={"If-Match": seen_by_both},
    )
    second = client.patch(
        f"{ISSUE}/items/{LORIENT}",
        json={"title": "Titre de Dominique"},
        headers={"If-Match": seen_by_both},
    )

    assert first.status_code == 200 and second.status_code == 412
    item = next(i for i in second.json()["issue"]["items"] if i["id"] == LORIENT)
    assert item["title"] == "Titre de Camille"
    retried = client.patch(
        f"{ISSUE}/items/{LORIENT}",
        json={"title": "Titre de Dominique"},
        headers={"If-Match": second.headers["etag"]},
    )
    assert retried.status_code == 200
    assert "title: Titre de Dominique\n" in (
        project / "bulletins" / DATE / "collected.yaml"
    ).read_text("utf-8")


# -- writes --------------------------------------------------------------------------------


def test_patch_issue_changes_only_what_it_touches(
    project: Path, client: httpx.Client, issue_folder: Path
) -> None:
    path = issue_folder / "issue.md"
    path.write_text(
        path.read_text("utf-8").replace("theme:", "# le thème de la semaine\ntheme:"), "utf-8"
    )
    before = path.read_text("utf-8")
    _, etag = read(client)

    response = client.patch(
        ISSUE,
        json={
            "subject": "Sujet : « nouveau »",
            "editorial": "Bonjour [[first_name]],\n\nNouvel édito.",
        },
        headers={"If-Match": etag},
    )

    assert response.status_code == 200, response.text
    assert response.json()["subject"] == "Sujet : « nouveau »"
    assert response.headers["etag"] == response.json()["etag"] != etag
    after = path.read_text("utf-8")
    gone, added = changed_lines(before, after)
    assert added == ['subject: "Sujet : « nouveau »"', "Nouvel édito."]
    assert gone[0].startswith("subject:") and all(not g.startswith(("number", "#")) for g in gone)
    assert "# le thème de la semaine\ntheme:" in after
    prepared = checked(project)
    assert prepared.issue is not None and prepared.issue.subject == "Sujet : « nouveau »"
    assert prepared.issue.editorial_md.endswith("Nouvel édito.")


def test_patch_collected_item_touches_only_its_entry(
    project: Path, client: httpx.Client, issue_folder: Path
) -> None:
    draft = issue_folder / "collected.yaml"
    before = draft.read_text("utf-8")
    _, etag = read(client)

    response = client.patch(
        f"{ISSUE}/items/{LORIENT}",
        json={"include": False, "title": "Lorient : l'atelier vélo", "summary": "Un.\n\nDeux."},
        headers={"If-Match": etag},
    )

    assert response.status_code == 200, response.text
    item = next(i for i in response.json()["items"] if i["id"] == LORIENT)
    assert (item["include"], item["title"], item["summary"]) == (
        False,
        "Lorient : l'atelier vélo",
        "Un.\n\nDeux.",
    )
    after = draft.read_text("utf-8")
    gone, added = changed_lines(before, after)
    assert [line.split(":")[0].strip() for line in gone] == ["include", "title", "summary"]
    assert added == [
        "      include: false",
        '      title: "Lorient : l\'atelier vélo"',
        "      summary: |-",
        "        Un.",
        "",
        "        Deux.",
    ]
    # Every other byte is where it was: the file is the old one with only those lines replaced.
    lines_before = before.splitlines(keepends=True)
    start = next(n for n, line in enumerate(lines_before) if "include: true" in line)
    assert after.startswith("".join(lines_before[:start]))
    assert after.endswith("".join(lines_before[start + 4 :]))
    assert (issue_folder / "collected.yaml.bak").read_text("utf-8") == before
    assert LORIENT not in section_keys(checked(project), "territoires")


def test_patch_editor_item_front_matter_and_summary(
    project: Path, client: httpx.Client, issue_folder: Path
) -> None:
    path = issue_folder / "atelier-alliances.md"
    before = path.read_text("utf-8")
    _, etag = read(client)

    response = client.patch(
        f"{ISSUE}/items/atelier-alliances.md",
        json={"title": "Atelier : inscriptions ouvertes", "summary": "Le 10 décembre, à Lyon."},
        headers={"If-Match": etag},
    )

    assert response.status_code == 200, response.text
    after = path.read_text("utf-8")
    gone, added = changed_lines(before, after)
    assert added == ['title: "Atelier : inscriptions ouvertes"', "Le 10 décembre, à Lyon."]
    assert gone[0] == before.splitlines()[1] and gone[1].startswith("Le 10 décembre à Lyon")
    assert after.split("\n---\n")[0].splitlines()[2:] == before.split("\n---\n")[0].splitlines()[2:]
    assert after.endswith("---\nLe 10 décembre, à Lyon.\n")
    prepared = checked(project)
    assert prepared.issue is not None
    titles = [i.title for i in prepared.issue.items]
    assert "Atelier : inscriptions ouvertes" in titles

    etag = response.headers["etag"]
    excluded = client.patch(
        f"{ISSUE}/items/atelier-alliances.md", json={"include": False}, headers={"If-Match": etag}
    )
    assert excluded.status_code == 200
    assert "include: false\n" in path.read_text("utf-8")
    prepared = checked(project)
    assert prepared.issue is not None
    assert "Atelier : inscriptions ouvertes" not in [i.title for i in prepared.issue.items]
    assert not prepared.errors


def test_bad_requests_name_the_field(client: httpx.Client) -> None:
    _, etag = read(client)
    headers = {"If-Match": etag, "Content-Type": "application/json"}

    not_json = client.patch(ISSUE, content=b"{nope", headers=headers)
    unknown = client.patch(ISSUE, json={"sujet": "x"}, headers=headers)
    not_bool = client.patch(f"{ISSUE}/items/{LORIENT}", json={"include": "non"}, headers=headers)
    bad_section = client.patch(
        f"{ISSUE}/items/{LORIENT}", json={"section": "sport"}, headers=headers
    )
    two_lines = client.patch(ISSUE, json={"subject": "un\ndeux"}, headers=headers)

    assert not_json.status_code == 400 and not_json.json()["error"] == "invalid_json"
    assert unknown.status_code == 422 and unknown.json()["field"] == "sujet"
    assert not_bool.status_code == 422 and not_bool.json()["field"] == "include"
    assert bad_section.status_code == 422 and bad_section.json()["field"] == "section"
    assert "sport" in bad_section.json()["message"]
    assert two_lines.status_code == 422 and two_lines.json()["field"] == "subject"
    assert read(client)[1] == etag, "nothing was written"


def test_order_and_move_to_another_section(
    project: Path, client: httpx.Client, issue_folder: Path
) -> None:
    _, etag = read(client)

    response = client.put(
        f"{ISSUE}/order",
        json={
            "sections": {"territoires": [BAROMETRE, "atelier-alliances.md"], "agenda": [GRENOBLE]}
        },
        headers={"If-Match": etag},
    )

    assert response.status_code == 200, response.text
    items = response.json()["items"]
    territoires = [i["id"] for i in items if i["section"] == "territoires"]
    assert territoires[:3] == [BAROMETRE, "atelier-alliances.md", LORIENT]
    agenda = [i["id"] for i in items if i["section"] == "agenda"]
    assert agenda[0] == GRENOBLE
    issue_md = (issue_folder / "issue.md").read_text("utf-8")
    assert f"order:\n  territoires: [{BAROMETRE}, atelier-alliances.md]\n" in issue_md
    assert 'agenda: ["40f7f9e9fec4"]' in issue_md
    draft = (issue_folder / "collected.yaml").read_text("utf-8")
    assert re.search(r'- id: "40f7f9e9fec4"\n(      .*\n)*      section: agenda\n', draft)
    prepared = checked(project)
    assert section_keys(prepared, "agenda")[0] == GRENOBLE
    territoires_keys = section_keys(prepared, "territoires")
    assert territoires_keys[0] == BAROMETRE and territoires_keys[2] == LORIENT
    assert not prepared.errors

    unknown = client.put(
        f"{ISSUE}/order",
        json={"sections": {"agenda": ["nope"]}},
        headers={"If-Match": response.headers["etag"]},
    )
    assert unknown.status_code == 422 and "nope" in unknown.json()["message"]


def test_new_items_get_a_file_of_their_own(
    project: Path, client: httpx.Client, issue_folder: Path
) -> None:
    _, etag = read(client)
    item = {
        "title": "Café des alliances à Rennes",
        "url": "https://alliances.example.net/rennes",
        "section": "agenda",
        "summary": "Un **café** pour se rencontrer.",
    }

    first = client.post(f"{ISSUE}/items", json=item, headers={"If-Match": etag})
    second = client.post(f"{ISSUE}/items", json=item, headers={"If-Match": first.headers["etag"]})

    assert first.status_code == 200 and second.status_code == 200, second.text
    assert first.json()["created"] == "cafe-des-alliances-a-rennes.md"
    assert second.json()["created"] == "cafe-des-alliances-a-rennes-2.md"
    text = (issue_folder / "cafe-des-alliances-a-rennes.md").read_text("utf-8")
    assert text == (
        "---\ntitle: Café des alliances à Rennes\nurl: https://alliances.example.net/rennes\n"
        "section: agenda\n---\nUn **café** pour se rencontrer.\n"
    )
    listed = next(i for i in second.json()["items"] if i["id"] == "cafe-des-alliances-a-rennes.md")
    assert listed["origin"] == "editor" and listed["section"] == "agenda"
    prepared = checked(project)
    assert prepared.issue is not None
    assert "Café des alliances à Rennes" in [i.title for i in prepared.issue.items]

    etag = second.headers["etag"]
    no_title = client.post(f"{ISSUE}/items", json={**item, "title": ""}, headers={"If-Match": etag})
    bad_url = client.post(
        f"{ISSUE}/items", json={**item, "url": "ftp://x"}, headers={"If-Match": etag}
    )
    assert no_title.status_code == 422 and no_title.json()["field"] == "title"
    assert bad_url.status_code == 422 and bad_url.json()["field"] == "url"


@pytest.mark.french
def test_an_item_from_a_link_alone_reads_the_page_and_says_why_it_cannot(
    client: httpx.Client,
) -> None:
    _, etag = read(client)

    response = client.post(
        f"{ISSUE}/items", json={"url": "https://example.invalid/a"}, headers={"If-Match": etag}
    )

    # desk.media_routes reads the page; an address that does not answer is refused in French
    # and nothing is written.
    assert response.status_code == 422
    assert response.json()["field"] == "url"
    assert "adresse" in response.json()["message"].lower()
    assert read(client)[1] == etag


def test_a_test_send_lands_in_the_outbox(project: Path, client: httpx.Client) -> None:
    _, etag = read(client)

    response = client.post(f"{ISSUE}/test", headers={"If-Match": etag})

    assert response.status_code == 200, response.text
    test = response.json()["test"]
    assert test["recipients"] == ["redaction@example.org"] and test["left"] == 0
    messages = list((project / ".newsletter" / "outbox" / "test" / DATE).rglob("*.eml"))
    assert len(messages) == 1
    head = messages[0].read_text("utf-8", errors="replace").split("\n\n", 1)[0]
    assert "[TEST]" in head and "redaction@example.org" in head
    assert response.headers["etag"] == etag, "a test send changes no file of the issue"


def test_a_sent_issue_says_when(project: Path, client: httpx.Client) -> None:
    assert read(client)[0]["sent_at"] is None
    run_cli(project, "send", DATE, "--yes")

    data, _ = read(client)
    listed = client.get("/api/issues").json()["issues"][0]

    assert data["sent_at"] and datetime.fromisoformat(data["sent_at"])
    assert listed["sent_at"] == data["sent_at"]


@pytest.mark.french
def test_approve_is_refused_with_the_findings_while_check_has_errors(
    project: Path, client: httpx.Client, issue_folder: Path
) -> None:
    path = issue_folder / "issue.md"
    path.write_text(path.read_text("utf-8").replace("status: approved", "status: draft"), "utf-8")
    item = issue_folder / "rencontres-odd17.md"
    good = item.read_text("utf-8")
    item.write_text(good.replace('url: "https://', 'url: "htps//'), "utf-8")
    _, etag = read(client)

    refused = client.post(f"{ISSUE}/approve", headers={"If-Match": etag})

    assert refused.status_code == 409
    body = refused.json()
    assert body["error"] == "check_failed" and "erreur" in body["message"]
    error = next(f for f in body["findings"] if f["level"] == "error")
    assert error["item"] == "rencontres-odd17.md" and error["line"] == 3
    assert "status: draft" in path.read_text("utf-8")

    item.write_text(good, "utf-8")
    _, etag = read(client)
    approved = client.post(f"{ISSUE}/approve", headers={"If-Match": etag})

    assert approved.status_code == 200, approved.text
    data = approved.json()
    assert data["status"] == "approved" and data["approved_by"] == "desk"
    when = datetime.fromisoformat(data["approved_at"])
    assert when.utcoffset() is not None
    text = path.read_text("utf-8")
    assert "status: approved\n" in text and "approved_by: desk\n" in text
    assert f'approved_at: "{data["approved_at"]}"' in text
    prepared = checked(project)
    assert prepared.issue is not None and prepared.issue.status.value == "approved"


def test_a_broken_issue_md_is_still_shown_and_cannot_be_approved(
    client: httpx.Client, issue_folder: Path
) -> None:
    path = issue_folder / "issue.md"
    path.write_text(path.read_text("utf-8").replace("status: approved", "status: prêt"), "utf-8")

    data, etag = read(client)

    assert data["subject"].startswith("Le Jeudi de l'ODD 17") and data["status"] == "prêt"
    assert len(data["items"]) == 15
    error = next(f for f in data["findings"] if f["level"] == "error")
    assert error["file"] == f"bulletins/{DATE}/issue.md" and error["line"] == 5
    refused = client.post(f"{ISSUE}/approve", headers={"If-Match": etag})
    assert refused.status_code == 409
    assert "status: prêt" in path.read_text("utf-8")
