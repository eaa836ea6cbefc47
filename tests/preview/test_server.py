"""The preview server on a real loopback socket: pages, rendered parts, edits, errors, recovery."""

from __future__ import annotations

import html
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import httpx

from newsletter.config import load_config
from newsletter.issue.folder import new_issue
from newsletter.preview import PreviewServer

from .helpers import DATE, edit

SUBJECT = "Le Jeudi de l'ODD 17 n°148 : les alliances qui font bouger les territoires"
PREHEADER = (
    "Une coopérative de mobilité solidaire, un tiers-lieu nourricier et l'agenda de décembre."
)


def issue_md(project: Path) -> Path:
    return project / "bulletins" / DATE / "issue.md"


def test_index_lists_issues_newest_first_with_subject_and_status(
    project: Path, client: httpx.Client
) -> None:
    new_issue(load_config(project / "schedule.yaml"), date(2026, 12, 10))
    broken = project / "bulletins" / "2026-11-26"
    broken.mkdir()
    (broken / "issue.md").write_text("---\nstatus: someday\n---\nBonjour\n", encoding="utf-8")
    (project / "bulletins" / "notes").mkdir()

    page = client.get("/")

    assert page.status_code == 200
    text = page.text
    assert text.index("/2026-12-10/") < text.index(f"/{DATE}/") < text.index("/2026-11-26/")
    assert html.escape(SUBJECT) in text
    assert ">approved<" in text and ">draft<" in text and ">invalid<" in text
    assert "bulletins/2026-11-26/issue.md:2: &#x27;status&#x27; must be" in text
    assert "notes" not in text


def test_issue_page_shows_subject_preheader_and_both_widths(client: httpx.Client) -> None:
    page = client.get(f"/{DATE}/")

    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert html.escape(SUBJECT) in page.text
    assert html.escape(PREHEADER) in page.text
    assert 'id="desktop"' in page.text and "width:662px" in page.text
    assert 'id="mobile"' in page.text and "width:377px" in page.text
    assert page.text.count(f'src="/{DATE}/email.html"') == 2
    version = client.get(f"/{DATE}/version").text
    assert f'data-version="{version}"' in page.text
    assert "Traceback" not in page.text


def test_email_parts_are_filled_in_for_the_sample_recipient(client: httpx.Client) -> None:
    email_html = client.get(f"/{DATE}/email.html")
    email_text = client.get(f"/{DATE}/email.txt")

    assert email_html.status_code == 200
    assert email_html.text.lstrip().lower().startswith("<!doctype html")
    assert "Camille" in email_html.text
    assert "[[" not in email_html.text
    assert email_text.status_code == 200
    assert email_text.headers["content-type"] == "text/plain; charset=utf-8"
    assert "Bonjour Camille" in email_text.text
    assert "[[" not in email_text.text


def test_nothing_changed_means_same_version_and_no_new_render(
    server: PreviewServer, client: httpx.Client
) -> None:
    version = client.get(f"/{DATE}/version").text
    client.get(f"/{DATE}/")
    client.get(f"/{DATE}/email.html")
    renders = server.app.renders

    for _ in range(5):
        assert client.get(f"/{DATE}/version").text == version
    client.get(f"/{DATE}/")
    client.get(f"/{DATE}/email.html")
    client.get(f"/{DATE}/email.txt")

    assert server.app.renders == renders == 1


def test_a_page_and_its_two_frames_at_once_render_once(
    server: PreviewServer, client: httpx.Client
) -> None:
    paths = [f"/{DATE}/", f"/{DATE}/email.html", f"/{DATE}/email.html", f"/{DATE}/email.txt"]
    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(lambda path: client.get(path).status_code, paths))

    assert statuses == [200, 200, 200, 200]
    assert server.app.renders == 1


def test_an_edit_changes_the_version_and_the_content_served(
    project: Path, client: httpx.Client
) -> None:
    before = client.get(f"/{DATE}/version").text
    assert "Notre surprise du jour" not in client.get(f"/{DATE}/email.html").text

    edit(issue_md(project), lambda t: t.replace("Leur point commun ?", "Notre surprise du jour ?"))
    edit(issue_md(project), lambda t: t.replace("font bouger", "changent"))

    after = client.get(f"/{DATE}/version").text
    assert after != before
    assert "Notre surprise du jour" in client.get(f"/{DATE}/email.html").text
    assert "Notre surprise du jour" in client.get(f"/{DATE}/email.txt").text
    assert "les alliances qui changent les territoires" in client.get(f"/{DATE}/").text


def test_a_new_item_file_appears_in_the_issue(project: Path, client: httpx.Client) -> None:
    before = client.get(f"/{DATE}/version").text
    (project / "bulletins" / DATE / "repair-cafe.md").write_text(
        "---\n"
        'title: "Un repair café intercommunal ouvre à Figeac"\n'
        'url: "https://example.org/territoires/repair-cafe-figeac"\n'
        "section: territoires\n"
        "---\n"
        "Bénévoles, artisans et collectivité réparent ensemble.\n",
        encoding="utf-8",
    )

    assert client.get(f"/{DATE}/version").text != before
    assert "Un repair café intercommunal" in client.get(f"/{DATE}/email.html").text


def test_editing_project_templates_or_config_changes_the_version(
    project: Path, client: httpx.Client
) -> None:
    first = client.get(f"/{DATE}/version").text
    (project / "templates").mkdir()
    second = client.get(f"/{DATE}/version").text
    (project / "templates" / "notes.txt").write_text("brouillon\n", encoding="utf-8")
    third = client.get(f"/{DATE}/version").text
    index_before = client.get("/version").text
    edit(
        project / "schedule.yaml", lambda t: t.replace('title: "Le Jeudi de', 'title: "Le Mardi de')
    )

    assert len({first, second, third, client.get(f"/{DATE}/version").text}) == 4
    assert client.get("/version").text != index_before
    assert "<h1>Le Mardi de l&#x27;ODD 17</h1>" in client.get("/").text


def test_a_broken_issue_shows_its_lines_and_recovers(project: Path, client: httpx.Client) -> None:
    good = issue_md(project).read_text(encoding="utf-8")
    edit(issue_md(project), lambda t: t.replace("status: approved", "status: someday"))

    page = client.get(f"/{DATE}/")
    frame = client.get(f"/{DATE}/email.html")
    text_part = client.get(f"/{DATE}/email.txt")

    line = "bulletins/2026-12-03/issue.md:5: &#x27;status&#x27; must be &#x27;draft&#x27;"
    assert page.status_code == 200
    assert line in page.text
    assert 'id="desktop"' not in page.text
    assert frame.status_code == 422 and line in frame.text
    assert text_part.status_code == 422
    assert "bulletins/2026-12-03/issue.md:5: 'status' must be" in text_part.text
    for response in (page, frame, text_part):
        assert "Traceback" not in response.text

    issue_md(project).write_text(good, encoding="utf-8")

    assert client.get(f"/{DATE}/email.html").status_code == 200
    page = client.get(f"/{DATE}/")
    assert "issue.md:5" not in page.text and 'id="desktop"' in page.text


def test_unreadable_front_matter_names_the_file(project: Path, client: httpx.Client) -> None:
    issue_md(project).write_text("---\nsubject: [oops\n---\nBonjour\n", encoding="utf-8")

    page = client.get(f"/{DATE}/")

    assert page.status_code == 200
    assert "bulletins/2026-12-03/issue.md:" in page.text
    assert "Traceback" not in page.text


def test_a_template_error_names_the_template_and_line(project: Path, client: httpx.Client) -> None:
    partial = project / "templates" / "partials" / "footer.mjml.j2"
    partial.parent.mkdir(parents=True)
    partial.write_text("<mj-section>\n{% if %}\n</mj-section>\n", encoding="utf-8")

    page = client.get(f"/{DATE}/")

    assert page.status_code == 200
    assert "templates/partials/footer.mjml.j2:2:" in page.text
    assert "Traceback" not in page.text

    partial.unlink()
    assert client.get(f"/{DATE}/email.html").status_code == 200


def test_a_config_broken_while_running_shows_its_line_and_recovers(
    project: Path, client: httpx.Client
) -> None:
    config = project / "schedule.yaml"
    good = config.read_text(encoding="utf-8")
    edit(config, lambda t: t.replace("timezone: Europe/Paris", "timezone: Europe/Lutece"))

    for path in ("/", f"/{DATE}/"):
        page = client.get(path)
        assert "schedule.yaml:8: newsletter.timezone: unknown time zone" in page.text
        assert "Traceback" not in page.text

    config.write_text(good, encoding="utf-8")
    assert client.get(f"/{DATE}/email.html").status_code == 200


def test_missing_issue_unknown_paths_and_redirect(client: httpx.Client) -> None:
    missing = client.get("/2026-12-10/")
    assert missing.status_code == 404
    assert "newsletter new 2026-12-10" in missing.text
    assert client.get("/2026-12-10/email.html").status_code == 404
    assert client.get("/2026-13-45/").status_code == 404
    assert client.get("/../schedule.yaml").status_code == 404
    assert client.get("/nothing/here").status_code == 404
    moved = client.get(f"/{DATE}")
    assert moved.status_code == 301
    assert moved.headers["location"] == f"/{DATE}/"


def test_creating_the_missing_issue_changes_its_version(
    project: Path, client: httpx.Client
) -> None:
    before = client.get("/2026-12-10/version").text
    new_issue(load_config(project / "schedule.yaml"), date(2026, 12, 10))

    assert client.get("/2026-12-10/version").text != before
    assert client.get("/2026-12-10/").status_code == 200


def test_check_findings_are_listed_with_their_file(project: Path, client: httpx.Client) -> None:
    # The project's own addresses, not the samples of 'newsletter init' (each a warning).
    for path in (project / "schedule.yaml", *(project / "bulletins" / DATE).glob("*.md")):
        text = path.read_text(encoding="utf-8").replace("example.org", "jeudi-odd17.fr")
        path.write_text(text.replace("1 rue de l'Exemple", "5 rue des Alliances"), "utf-8")
    (project / "bulletins" / DATE / "jardin.md").write_text(
        "---\n"
        'title: "Un jardin partagé entre un collège et un Ehpad"\n'
        'url: "https://jeudi-odd17.fr/territoires/jardin-partage"\n'
        "section: territoires\n"
        'image: "https://jeudi-odd17.fr/images/jardin.jpg"\n'
        "---\n"
        "Élèves et résidents cultivent ensemble.\n",
        encoding="utf-8",
    )

    page = client.get(f"/{DATE}/")

    assert page.status_code == 200
    assert "Check: 0 errors, 1 warning" in page.text
    assert "warning: bulletins/2026-12-03/jardin.md" in page.text
    assert "alt text" in page.text
    assert 'id="desktop"' in page.text
