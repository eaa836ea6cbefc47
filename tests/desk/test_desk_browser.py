"""The desk in a real browser: an editor logs in and prepares the issue in Debian's Chromium
(Playwright), against the real desk server on loopback; the files on disk, ``prepare`` and
``newsletter check`` then say what the editor did, and a re-collect keeps it.

Needs /usr/bin/chromium (skipped when it is missing, except under CI). Screenshots are kept
under test-artifacts/desk/.
"""

from __future__ import annotations

import email
import email.policy
import io
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from newsletter.collect.page_meta import ALLOW_LOOPBACK_ENV
from newsletter.config import load_config
from newsletter.desk import DeskContext, DeskServer
from newsletter.desk.auth import DeskAuth
from newsletter.desk.editors import load_editors
from newsletter.httpserver import BackgroundServer
from newsletter.issue.curate import item_id
from newsletter.issue.draft import draft_path, read_draft
from newsletter.issue.folder import read_issue_meta
from newsletter.issue.prepare import prepare

#: Everything the editor reads is French: the config's language speaks, not the suite's English.
pytestmark = pytest.mark.french

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "desk"
AXE = Path(str(files("axe_playwright_python") / "axe.min.js"))
DATE = "2026-12-03"
DAY = date.fromisoformat(DATE)
EMAIL = "camille@example.org"
PASSWORD = "une phrase de passe assez longue"  # noqa: S105 (a test editor)
WAIT_MS = 30_000  # a ceiling for slow shared machines, not a speed requirement
API = f"/api/issues/{DATE}"
#: A time as the desk writes it: "jeudi 3 décembre 2026 à 09:20" (whatever the day the test runs).
FRENCH_MOMENT = (
    r"(lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche) \d{1,2} \S+ \d{4} à \d\d:\d\d"
)


def run_cli(project: Path, *args: str) -> str:
    """``newsletter --config PROJECT/schedule.yaml ARGS`` in its own process (Playwright's
    event loop runs in this one); its output, exit status 0."""
    command = [sys.executable, "-m", "newsletter", "--config", str(project / "schedule.yaml")]
    done = subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def collected_sample(tmp_path_factory: pytest.TempPathFactory, collected_template: Path) -> Path:
    """The sample project, its issue a draft, after one collect of the local sample feeds."""
    root = tmp_path_factory.mktemp("desk-ui") / "project"
    shutil.copytree(collected_template, root)
    issue_md = root / "bulletins" / DATE / "issue.md"
    issue_md.write_text(
        issue_md.read_text(encoding="utf-8").replace("status: approved", "status: draft"),
        encoding="utf-8",
    )
    return root


@pytest.fixture
def ui_project(tmp_path: Path, collected_sample: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(collected_sample, root, symlinks=True)
    config = load_config(root / "schedule.yaml")
    load_editors(config).add(EMAIL, PASSWORD, name="Camille")
    return root


@pytest.fixture
def ui_desk(ui_project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DeskServer]:
    """The desk with its login (one editor exists, so everyone logs in); links to loopback
    pages are allowed, for the page served by this test."""
    monkeypatch.setenv(ALLOW_LOOPBACK_ENV, "1")
    config_file = ui_project / "schedule.yaml"
    auth = DeskAuth.for_server(load_config(config_file), "127.0.0.1")
    context = DeskContext(config_file)
    server = DeskServer(
        config_file,
        port=0,
        context=context,
        extra_routes=auth.routes(),
        middleware=auth.middleware(),
    )
    with server as running:
        yield running


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


# -- a page to add from a link: OpenGraph tags, served on loopback -----------------------

ARTICLE_TITLE = "Une ressourcerie solidaire ouvre à Tulle"
IMAGE_ALT = "La façade de la ressourcerie, vitrine verte"
ARTICLE = """<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8">
<title>Titre HTML de secours</title>
<meta property="og:title" content="Une ressourcerie solidaire ouvre à Tulle">
<meta property="og:description" content="Réemploi, insertion et ateliers de réparation :
la ressourcerie rassemble la commune, deux associations et une entreprise locale.">
<meta property="og:image" content="{origin}/photo.png">
<meta property="og:image:alt" content="La façade de la ressourcerie">
</head><body><h1>Une ressourcerie solidaire ouvre à Tulle</h1></body></html>
"""


def png_bytes(width: int = 800, height: int = 500) -> bytes:
    """A real PNG picture (Pillow), big enough to be resized to the template's widths."""
    picture = Image.new("RGB", (width, height), (10, 102, 81))
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


PNG = png_bytes()


class ArticleServer(BackgroundServer):
    thread_name = "desk-ui-article"

    def __init__(self) -> None:
        async def article(request: Request) -> Response:
            origin = f"{request.url.scheme}://{request.url.netloc}"
            return HTMLResponse(ARTICLE.format(origin=origin))

        async def photo(request: Request) -> Response:
            return Response(PNG, media_type="image/png")

        app = Starlette(routes=[Route("/ressourcerie", article), Route("/photo.png", photo)])
        super().__init__(app, host="127.0.0.1", port=0)


# -- browser helpers ------------------------------------------------------------------------


def loopback_only(route: Any) -> None:
    """The email's images point at example.org: nothing leaves the machine."""
    if urlsplit(route.request.url).hostname == "127.0.0.1":
        route.continue_()
    else:
        route.abort()


def new_page(
    browser: Any, width: int = 1400, height: int = 1000, *, axe: bool = False
) -> tuple[Any, Any]:
    """A page under the desk's Content-Security-Policy (no inline script or style), which
    only the axe checks bypass, to inject axe-core."""
    context = browser.new_context(viewport={"width": width, "height": height}, bypass_csp=axe)
    context.route("**/*", loopback_only)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    return context, page


def log_in(page: Any, desk: DeskServer, path: str = f"/{DATE}/") -> None:
    page.goto(desk.url.rstrip("/") + path)
    page.wait_for_url(re.compile(r"/connexion"))
    page.get_by_label("Adresse e-mail").fill(EMAIL)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(re.compile(re.escape(path) + "$"))


def item(page: Any, item_id: str) -> Any:
    return page.locator(f'li.item[data-item-id="{item_id}"]')


def section_ids(page: Any, section: str) -> list[str]:
    return page.eval_on_selector_all(
        f'ol.items[data-section="{section}"] > li.item',
        "items => items.map(li => li.dataset.itemId)",
    )


def saved(page: Any, method: str, suffix: str) -> Any:
    """Wait for the API answer to a write (``with saved(...) as answer``)."""

    def matches(response: Any) -> bool:
        request = response.request
        return request.method == method and urlsplit(response.url).path == API + suffix

    return page.expect_response(matches, timeout=WAIT_MS)


def serious_violations(page: Any) -> list[str]:
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate(
        "async () => (await axe.run(document, {iframes: false, resultTypes: ['violations']}))"
        ".violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 3).map(n => n.html.slice(0, 160))}))"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} {v['nodes']}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]


def add_from_link_with_image(page: Any, project: Path, artifacts: Path) -> str:
    """Add an item from a loopback page with OpenGraph tags, then upload its image; the id
    (file name) of the new item."""
    from playwright.sync_api import expect

    before = set(section_ids(page, "territoires"))
    with ArticleServer() as article:
        page.get_by_label("Adresse de la page (URL)").fill(
            article.url.rstrip("/") + "/ressourcerie"
        )
        with saved(page, "POST", "/items") as answer:
            page.get_by_role("button", name="Ajouter l'article").click()
        assert answer.value.status == 200, answer.value.text()
        page.wait_for_load_state("load")
        added_items = page.locator("li.item", has=page.locator(f'input[value="{ARTICLE_TITLE}"]'))
        expect(added_items).to_have_count(1)
    added = added_items.get_attribute("data-item-id")
    assert added is not None and added.endswith(".md") and added not in before
    # The page scrolled to the new item and put the focus in its title.
    expect(item(page, added).get_by_label("Titre")).to_be_focused()
    expect(item(page, added).get_by_label("Résumé")).to_have_value(re.compile("^Réemploi"))
    page.screenshot(path=str(artifacts / "item-added.png"))

    picture = project / "facade.png"
    picture.write_bytes(PNG)
    row = item(page, added)
    row.locator("details.image summary").click()
    row.get_by_label(re.compile("^Fichier image")).set_input_files(str(picture))
    row.get_by_label(re.compile("^Texte alternatif")).fill(IMAGE_ALT)
    with saved(page, "POST", "/images") as answer:
        row.get_by_role("button", name="Envoyer l'image").click()
    assert answer.value.status == 200, answer.value.text()
    page.wait_for_load_state("load")
    expect(item(page, added).locator("details.image summary")).to_contain_text("images/")
    return added


# -- what the files say -------------------------------------------------------------------


@dataclass(frozen=True)
class Edits:
    """What the editor did in the browser, to find again on disk."""

    excluded: str
    moved: str
    moved_above: str
    dragged: str
    dragged_above: str
    retitled: str
    title: str
    editorial: str
    added: str
    resectioned: str


def draft_entry(project: Path, wanted: str) -> Any:
    config = load_config(project / "schedule.yaml")
    path = draft_path(config, DAY)
    doc = read_draft(path, path.name)
    assert doc is not None
    for entries in doc["sections"].values():
        for entry in entries:
            if str(entry.get("id")) == wanted:
                return entry
    raise AssertionError(f"{wanted} is not in collected.yaml")


def assert_files_say(project: Path, edits: Edits) -> None:
    """collected.yaml, issue.md, prepare() and `newsletter check` all agree with the desk."""
    assert draft_entry(project, edits.excluded)["include"] is False
    assert draft_entry(project, edits.retitled)["title"] == edits.title
    assert draft_entry(project, edits.resectioned)["section"] == "agenda"
    config = load_config(project / "schedule.yaml")
    meta = read_issue_meta(config, DAY)
    assert meta.editorial_md == edits.editorial
    assert meta.status.value == "approved"
    assert meta.approved_by == EMAIL
    assert meta.approved_at.startswith(DATE[:4])
    territoires = list(meta.item_order["territoires"])
    assert territoires.index(edits.moved) < territoires.index(edits.moved_above)
    publications = list(meta.item_order["publications"])
    assert publications.index(edits.dragged) < publications.index(edits.dragged_above)

    prepared = prepare(config, DAY)
    assert prepared.errors == (), [str(f) for f in prepared.errors]
    assert prepared.issue is not None and prepared.rendered is not None
    assert prepared.issue.editorial_md == edits.editorial
    ids = {item_id(i) for i in prepared.issue.items}
    assert edits.excluded not in ids
    by_section = {s.id: [item_id(i) for i in s.items] for s in prepared.issue.sections}
    shown = by_section["territoires"]
    assert shown.index(edits.moved) < shown.index(edits.moved_above)
    assert edits.resectioned in by_section["agenda"]
    assert edits.resectioned not in by_section["territoires"]
    shown = by_section["publications"]
    assert shown.index(edits.dragged) < shown.index(edits.dragged_above)
    titles = {item_id(i): i.title for i in prepared.issue.items}
    assert titles[edits.retitled] == edits.title
    # The item added from the link, with its uploaded image and alt text.
    added = next(i for i in prepared.issue.items if item_id(i) == edits.added)
    assert added.title == ARTICLE_TITLE
    assert added.image_alt == IMAGE_ALT
    front = (project / "bulletins" / DATE / edits.added).read_text(encoding="utf-8")
    assert f"title: {ARTICLE_TITLE}" in front or f'title: "{ARTICLE_TITLE}"' in front
    image = re.search(r"^image: ['\"]?(images/[^'\"\n]+)", front, re.MULTILINE)
    assert image is not None, front
    assert (project / "bulletins" / DATE / image.group(1)).is_file()
    assert IMAGE_ALT in prepared.rendered.html
    assert edits.title in prepared.rendered.html
    assert "Notre édito écrit dans la rédaction" in prepared.rendered.text
    output = run_cli(project, "check", DATE)
    assert "0 errors" in output or "0 erreur" in output, output


# -- the tests ------------------------------------------------------------------------------


@pytest.mark.browser
def test_an_editor_prepares_the_issue_in_the_desk(
    ui_project: Path, ui_desk: DeskServer, browser: Any, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    context, page = new_page(browser)
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text else None)
    log_in(page, ui_desk)
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    csp = page.evaluate("fetch(location.href).then(r => r.headers.get('content-security-policy'))")
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    expect(page.locator("#desktop")).to_be_visible()
    page.screenshot(path=str(artifacts / "issue-opened.png"))

    territoires = section_ids(page, "territoires")
    collected = [i for i in territoires if not i.endswith(".md")]
    publications = section_ids(page, "publications")
    assert len(collected) >= 5 and len(publications) >= 3, (territoires, publications)

    # Exclude an item: a real checkbox with its label.
    excluded = collected[0]
    with saved(page, "PATCH", f"/items/{excluded}") as answer:
        item(page, excluded).get_by_label("Inclure dans le numéro").uncheck()
    assert answer.value.status == 200
    expect(item(page, excluded)).to_have_class(re.compile(r"\bexcluded\b"))

    # Move one item above another with the keyboard's button.
    moved, moved_above = collected[2], collected[1]
    with saved(page, "PUT", "/order") as answer:
        item(page, moved).get_by_role("button", name=re.compile("^Monter")).click()
    assert answer.value.status == 200
    now = section_ids(page, "territoires")
    assert now.index(moved) == now.index(moved_above) - 1
    expect(page.locator("#etat")).to_contain_text("déplacé en position")

    # And another one by drag and drop (HTML5), in Publications: the last above the one
    # before it (both in sight: the mouse drags, the page does not scroll meanwhile).
    dragged, dragged_above = publications[-1], publications[-2]
    grip = item(page, dragged).locator(".grip")
    grip.scroll_into_view_if_needed()
    with saved(page, "PUT", "/order") as answer:
        grip.drag_to(item(page, dragged_above), target_position={"x": 40, "y": 5})
    assert answer.value.status == 200
    now = section_ids(page, "publications")
    assert now.index(dragged) == now.index(dragged_above) - 1

    # Edit a title inline: saved when the field is left.
    retitled = collected[3]
    title = "Un titre revu par la rédaction"
    field = item(page, retitled).get_by_label("Titre")
    with saved(page, "PATCH", f"/items/{retitled}") as answer:
        field.fill(title)
        field.press("Tab")
    assert answer.value.status == 200

    # Move an item to another section with its section picker.
    resectioned = collected[-1]
    with saved(page, "PATCH", f"/items/{resectioned}") as answer:
        item(page, resectioned).get_by_label("Rubrique").select_option(label="Agenda")
    assert answer.value.status == 200
    assert resectioned in section_ids(page, "agenda")

    # Write the editorial, with its live preview.
    editorial = (
        "Bonjour [[first_name]],\n\n**Notre édito écrit dans la rédaction**, avec un "
        "[lien](https://example.org/jeudi).\n\n*La rédaction*"
    )
    box = page.get_by_label(re.compile("^Édito, en Markdown"))
    box.fill(editorial)
    expect(page.locator("#edito-apercu strong")).to_have_text("Notre édito écrit dans la rédaction")
    with saved(page, "PATCH", "") as answer:
        box.press("Tab")
    assert answer.value.status == 200

    # Add an item from a link, and give it an image.
    added = add_from_link_with_image(page, ui_project, artifacts)

    # The preview follows: the new title shows in the email once the editor stops typing.
    desktop = page.frame_locator("#desktop").locator("body")
    expect(desktop).to_contain_text(title, timeout=WAIT_MS)
    expect(desktop).to_contain_text("Notre édito écrit dans la rédaction", timeout=WAIT_MS)
    mobile = page.frame_locator("#mobile").locator("body")
    expect(mobile).to_contain_text(title, timeout=WAIT_MS)
    page.screenshot(path=str(artifacts / "issue-edited.png"), full_page=True)

    # Send a test: it lands in the outbox.
    with saved(page, "POST", "/test") as answer:
        page.get_by_role("button", name="Envoyer un test").click()
    assert answer.value.status == 200
    expect(page.locator("#etat")).to_contain_text("Test envoyé à redaction@example.org")
    sent = list((ui_project / ".newsletter" / "outbox" / "test").rglob("*.eml"))
    assert sent, "the test send wrote nothing to the outbox"
    message = email.message_from_bytes(sent[0].read_bytes(), policy=email.policy.default)
    assert str(message["Subject"]).startswith("[TEST]")
    assert message["To"] == "redaction@example.org"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and title in body.get_content()

    # Approve.
    with saved(page, "POST", "/approve") as answer:
        page.get_by_role("button", name="Approuver").click()
    assert answer.value.status == 200
    expect(page.locator("#statut")).to_have_text("approuvé")
    expect(page.locator("#approbation")).to_contain_text(
        re.compile(f"approuvé par {re.escape(EMAIL)} le {FRENCH_MOMENT}")
    )
    page.screenshot(path=str(artifacts / "issue-approved.png"))
    assert refused == [], refused
    context.close()

    edits = Edits(
        excluded=excluded,
        moved=moved,
        moved_above=moved_above,
        dragged=dragged,
        dragged_above=dragged_above,
        retitled=retitled,
        title=title,
        editorial=editorial,
        added=added,
        resectioned=resectioned,
    )
    assert_files_say(ui_project, edits)

    # A re-collect adds what is new and keeps every edit of the desk.
    run_cli(ui_project, "collect", DATE)
    assert_files_say(ui_project, edits)

    # Once sent, the list says when, in French.
    run_cli(ui_project, "send", DATE, "--yes")
    context, page = new_page(browser)
    log_in(page, ui_desk, "/")
    row = page.locator("tr.issue-row")
    expect(row).to_contain_text(re.compile(f"envoyé le {FRENCH_MOMENT}"))
    expect(row).to_contain_text("inclus sur")
    page.screenshot(path=str(artifacts / "list-sent.png"))
    context.close()


@pytest.mark.browser
def test_a_file_changed_on_disk_refuses_the_next_save_and_loses_nothing(
    ui_project: Path, ui_desk: DeskServer, browser: Any, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    issue_md = ui_project / "bulletins" / DATE / "issue.md"
    context, page = new_page(browser)
    log_in(page, ui_desk)
    page.evaluate("window.notReloaded = true")

    subject = page.get_by_label("Objet", exact=True)
    typed = subject.input_value() + " (relu)"
    subject.click()
    subject.press("End")
    subject.type(" (relu)")

    # Meanwhile someone edits issue.md in a text editor.
    text = issue_md.read_text(encoding="utf-8")
    changed = text.replace("Une coopérative de mobilité solidaire", "Une coopérative changée")
    assert changed != text
    issue_md.write_text(changed, encoding="utf-8")
    page.wait_for_timeout(2000)  # several polls: none may reload while the editor types
    assert page.evaluate("window.notReloaded === true"), "the page reloaded under the editor"

    with saved(page, "PATCH", "") as answer:
        subject.press("Tab")
    assert answer.value.status == 412
    alert = page.locator("#erreurs")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("modifié ailleurs")
    expect(alert).to_contain_text("rechargez")
    assert subject.input_value() == typed, "the typed text was lost"
    on_disk = issue_md.read_text(encoding="utf-8")
    assert "(relu)" not in on_disk and "Une coopérative changée" in on_disk
    page.screenshot(path=str(artifacts / "conflict.png"))

    # Reloading shows the current version and puts the typed text back in its field.
    page.get_by_role("button", name="Recharger la page").click()
    page.wait_for_load_state("load")
    expect(page.get_by_label("Objet", exact=True)).to_have_value(typed)
    expect(page.get_by_label(re.compile("^Pré-en-tête"))).to_have_value(
        re.compile("^Une coopérative changée")
    )
    with saved(page, "PATCH", "") as answer:
        page.get_by_label("Objet", exact=True).focus()
        page.get_by_label("Objet", exact=True).press("Tab")
    assert answer.value.status == 200
    on_disk = issue_md.read_text(encoding="utf-8")
    assert typed in on_disk and "Une coopérative changée" in on_disk

    # Nobody typing: a change on disk reloads the page by itself, as the preview did.
    page.evaluate("window.notReloaded = true")
    page.wait_for_timeout(3500)  # past the typing pause of the last keystroke
    text = issue_md.read_text(encoding="utf-8")
    issue_md.write_text(text.replace("Une coopérative changée", "Une coopérative revue"), "utf-8")
    expect(page.get_by_label(re.compile("^Pré-en-tête"))).to_have_value(
        re.compile("^Une coopérative revue")
    )
    assert page.evaluate("window.notReloaded === undefined")
    context.close()


@pytest.mark.browser
def test_the_pages_fit_a_phone_and_pass_axe(
    ui_desk: DeskServer, browser: Any, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    context, page = new_page(browser, width=390, height=844, axe=True)
    log_in(page, ui_desk, "/")
    expect(page.locator("tr.issue-row")).to_have_count(1)
    row = page.locator("tr.issue-row")
    expect(row).to_contain_text("brouillon")
    expect(row).to_contain_text("inclus sur")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert serious_violations(page) == []
    page.screenshot(path=str(artifacts / "list-390.png"), full_page=True)

    page.get_by_role("link", name=re.compile("3 décembre 2026")).click()
    expect(page.locator("#desktop")).to_be_visible()
    page.wait_for_load_state("load")  # the stylesheet and both email frames are in
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, page.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right"
        " > 390).slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className)"
    )
    assert serious_violations(page) == []
    page.screenshot(path=str(artifacts / "issue-390.png"), full_page=True)

    page.set_viewport_size({"width": 1600, "height": 1000})
    assert serious_violations(page) == []
    context.close()


@pytest.mark.browser
def test_an_error_links_to_its_item_and_blocks_the_approval(
    ui_project: Path, ui_desk: DeskServer, browser: Any, artifacts: Path
) -> None:
    from playwright.sync_api import expect

    item_file = ui_project / "bulletins" / DATE / "atelier-alliances.md"
    text = item_file.read_text(encoding="utf-8")
    item_file.write_text(
        text.replace(
            'url: "https://example.org/jeudi/ateliers/faire-alliance-2026"', 'url: "www.exemple"'
        ),
        encoding="utf-8",
    )
    context, page = new_page(browser)
    log_in(page, ui_desk)
    link = page.locator("#constats-liste li.error a[data-focus]").first
    expect(link).to_be_visible()
    target = link.get_attribute("data-focus")
    assert page.locator(f"#{target}").get_attribute("data-item-id") == "atelier-alliances.md"
    link.click()
    expect(page.locator(f"#{target} [data-field=title]")).to_be_focused()

    with saved(page, "POST", "/approve") as answer:
        page.get_by_role("button", name="Approuver").click()
    assert answer.value.status == 409
    alert = page.locator("#erreurs")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("atelier-alliances.md")
    expect(page.locator("#statut")).to_have_text("brouillon")
    assert "status: draft" in (ui_project / "bulletins" / DATE / "issue.md").read_text("utf-8")
    page.screenshot(path=str(artifacts / "approval-refused.png"))
    context.close()


@pytest.mark.browser
def test_without_javascript_the_pages_stay_readable(ui_desk: DeskServer, browser: Any) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(java_script_enabled=False)
    context.route("**/*", loopback_only)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    log_in(page, ui_desk)
    expect(page.locator("p.notice")).to_contain_text("Sans JavaScript")
    expect(page.get_by_label("Objet", exact=True)).to_have_value(re.compile("^Le Jeudi"))
    expect(page.locator("li.item")).to_have_count(15)
    expect(page.locator("#edito-apercu strong")).to_have_text("font alliance")
    expect(page.locator("#texte")).to_contain_text("Bonjour Camille")
    context.close()


def test_every_text_of_the_desk_has_its_french_translation() -> None:
    """Every message of the pages and the script, extracted as pybabel does, is in the
    compiled French catalog (desk.mo) with a translation."""
    from babel.messages.extract import extract_from_dir
    from babel.messages.mofile import read_mo

    desk = REPO / "src" / "newsletter" / "desk"
    templates = "**/templates/**.j2"
    options = {templates: {"extensions": "jinja2.ext.i18n"}}
    method_map = [("**/pages.py", "python"), (templates, "jinja2")]
    ids = {
        message if isinstance(message, str) else message[0]
        for _file, _line, message, _comments, _context in extract_from_dir(
            desk, method_map, options
        )
    }
    assert len(ids) > 80
    for language in ("fr", "en"):
        with (desk / "locale" / language / "LC_MESSAGES" / "desk.mo").open("rb") as mo:
            catalog = read_mo(mo)
        missing = sorted(i for i in ids if not (catalog.get(i) and catalog.get(i).string))
        assert missing == [], f"{language}: run pybabel (see desk/locale/babel.cfg): {missing}"
    with (desk / "locale" / "fr" / "LC_MESSAGES" / "desk.mo").open("rb") as mo:
        french = read_mo(mo)
    assert french.get("Send a test").string == "Envoyer un test"
