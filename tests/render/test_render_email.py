"""render_issue on the sample issue: what readers and the delivery layer rely on."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from render_helpers import REPO, make_issue, make_item

from newsletter.config import Config, load_config
from newsletter.errors import RenderError
from newsletter.model import PLACEHOLDERS, Issue
from newsletter.render import render_issue, render_text
from newsletter.render.sample import sample_issue


def test_html_is_french_responsive_and_carries_the_issue(issue: Issue, config: Config) -> None:
    html = render_issue(issue, config).html
    assert html.startswith("<!doctype html>")
    assert '<html lang="fr"' in html
    assert '<meta name="color-scheme" content="light dark"' in html
    assert "prefers-color-scheme: dark" in html
    assert "Jeudi 3 décembre 2026" in html
    assert "N° 148" in html
    assert "Coopérer pour l'emploi local" in html
    for section in ("Bonnes nouvelles des territoires", "Publications", "Agenda"):
        assert section in html
    for item in issue.items:
        assert f'href="{item.url}"' in html
    assert "https://example.org/jeudi/2026-12-03/" in html
    assert "[[unsubscribe_url]]" in html
    assert len(html.encode()) < 80 * 1024


def test_preheader_is_hidden_at_the_top_of_the_body(issue: Issue, config: Config) -> None:
    html = render_issue(issue, config).html
    body = html[html.index("<body") :]
    hidden = re.search(r'<div style="display:none;[^"]*">([^<]*)</div>', body)
    assert hidden is not None and hidden.group(1).startswith("Une coopérative")
    assert body.index(hidden.group(0)) < body.index("<h1")


def test_images_have_alt_width_and_height(issue: Issue, config: Config) -> None:
    html = render_issue(issue, config).html
    images = re.findall(r"<img [^>]*>", html)
    assert images
    for tag in images:
        assert re.search(r'alt="[^"]*"', tag), tag
        assert re.search(r'width="\d+"', tag) and re.search(r'height="\d+"', tag), tag
        assert 'src="https://' in tag


def test_text_part_has_every_item_wrapped_at_72_columns(issue: Issue, config: Config) -> None:
    text = render_issue(issue, config).text
    assert text.startswith("LE JEUDI DE L'ODD 17\n")
    assert "Voir dans le navigateur : https://example.org/jeudi/2026-12-03/" in text
    assert "Bonjour [[first_name]]," in text
    assert "Se désinscrire : [[unsubscribe_url]]" in text
    for item in issue.items:
        assert item.title in text.replace("\n  ", " ")
        assert f"  {item.url}\n" in text
    for line in text.splitlines():
        assert len(line) <= 72 or " " not in line.strip(), line
    assert "<" not in text and "&amp;" not in text


def test_placeholders_are_the_documented_set(issue: Issue, config: Config) -> None:
    rendered = render_issue(issue, config)
    found = set(re.findall(r"\[\[(\w+)\]\]", rendered.html + rendered.text))
    assert found <= set(PLACEHOLDERS)
    assert {"first_name", "unsubscribe_url"} <= found


def test_agenda_items_show_their_date(issue: Issue, config: Config) -> None:
    rendered = render_issue(issue, config)
    assert "Jeudi 10 décembre 2026" in rendered.text
    assert re.search(r">10</span><br\s*/?><span[^>]*>déc\.</span>", rendered.html)


def test_sections_follow_the_config_and_empty_ones_are_left_out(config: Config) -> None:
    issue = make_issue(make_item(section="publications"))
    html = render_issue(issue, config).html
    assert "Publications" in html
    assert "Bonnes nouvelles des territoires" not in html
    assert "Agenda" not in html


def test_content_is_escaped_and_summaries_are_sanitized(config: Config) -> None:
    item = make_item(
        title="<script>alert(1)</script> & co",
        summary_html='<p onclick="x()">Texte <script>alert(2)</script><b>gras</b></p>',
        territory="Nord & Pas-de-Calais",
    )
    rendered = render_issue(make_issue(item), config)
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in rendered.html
    assert "onclick" not in rendered.html
    assert "<b>gras</b>" in rendered.html
    assert "Nord &amp; Pas-de-Calais" in rendered.html
    assert "<script>alert(1)</script> & co" in rendered.text


def test_theme_colours_logo_and_footer_come_from_the_config(project: Path) -> None:
    path = project / "schedule.yaml"
    text = path.read_text(encoding="utf-8").replace(
        "theme:\n",
        'theme:\n  primary_color: "#123456"\n  logo_url: "https://example.org/logo.png"\n',
    )
    path.write_text(text, encoding="utf-8")
    config = load_config(path)
    rendered = render_issue(sample_issue(config.section_list), config)
    assert "#123456" in rendered.html
    assert 'src="https://example.org/logo.png"' in rendered.html
    assert "Le RAMEAU, 1 rue de l'Exemple, 75000 Paris" in rendered.html
    assert "Le RAMEAU, 1 rue de l'Exemple, 75000 Paris" in rendered.text


def test_project_templates_override_the_defaults(project: Path, config: Config) -> None:
    partials = project / "templates" / "partials"
    partials.mkdir(parents=True)
    (partials / "footer.mjml.j2").write_text(
        '<mj-section><mj-column><mj-text>Pied maison <a href="{{ unsubscribe_url }}">'
        "désinscription</a></mj-text></mj-column></mj-section>\n",
        encoding="utf-8",
    )
    (project / "templates" / "text.txt.j2").write_text(
        "{{ title }} / {{ sections | length }} sections\n{{ unsubscribe_url }}\n",
        encoding="utf-8",
    )
    rendered = render_issue(sample_issue(config.section_list), config)
    assert "Pied maison" in rendered.html
    assert "Voir dans le navigateur" not in rendered.html
    assert "Bonnes nouvelles des territoires" in rendered.html  # the rest is the default
    assert rendered.text == "Le Jeudi de l'ODD 17 / 3 sections\n[[unsubscribe_url]]\n"


def _override(project: Path, name: str, text: str) -> None:
    path = project / "templates" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_template_syntax_error_names_file_and_line(project: Path, config: Config) -> None:
    _override(project, "partials/footer.mjml.j2", "<mj-section>\n{% if x %}\n</mj-section>\n")
    with pytest.raises(RenderError) as caught:
        render_issue(sample_issue(config.section_list), config)
    message = str(caught.value)
    assert message.startswith("templates/partials/footer.mjml.j2:")
    assert "template syntax error" in message


def test_undefined_variable_names_file_and_line(project: Path, config: Config) -> None:
    _override(project, "text.txt.j2", "{{ title }}\n\n{{ no_such_thing }}\n")
    with pytest.raises(RenderError) as caught:
        render_issue(sample_issue(config.section_list), config)
    assert str(caught.value).startswith("templates/text.txt.j2:3: template error:")
    assert "no_such_thing" in str(caught.value)


def test_unknown_placeholder_in_a_template_is_an_error(project: Path, config: Config) -> None:
    _override(project, "text.txt.j2", "{{ placeholder('prenom') }}\n")
    with pytest.raises(RenderError, match=r"text\.txt\.j2:1: .*unknown placeholder 'prenom'"):
        render_text(sample_issue(config.section_list), config)


def test_mjml_error_names_the_line(project: Path, config: Config) -> None:
    _override(
        project,
        "partials/footer.mjml.j2",
        "    <mj-section>\n      <mj-column>\n        <mj-text>x</mj-text>\n    </mj-section>\n",
    )
    with pytest.raises(RenderError) as caught:
        render_issue(sample_issue(config.section_list), config)
    message = str(caught.value)
    assert "MJML error" in message
    assert message.startswith(
        "templates/partials/footer.mjml.j2:2: MJML error: <mj-column> is closed by </mj-section>"
    )
    assert re.search(r"\(line \d+ of the rendered MJML\)$", message)
    assert "Traceback" not in message


def test_render_is_deterministic_and_needs_no_issue_folder(config: Config) -> None:
    one = render_issue(sample_issue(config.section_list), config)
    two = render_issue(sample_issue(config.section_list), config)
    assert one == two
    other = render_issue(sample_issue(config.section_list, issue_date=date(2027, 1, 7)), config)
    assert "Jeudi 7 janvier 2027" in other.html


def test_an_issue_without_editorial_or_number_renders(config: Config) -> None:
    issue = replace(make_issue(make_item()), number=None, editorial_md="", theme="")
    rendered = render_issue(issue, config)
    assert "N°" not in rendered.text and "Édito" not in rendered.html
    assert "Thème de la semaine" not in rendered.text


def test_mjml_error_in_the_main_template_names_its_line(project: Path, config: Config) -> None:
    _override(
        project,
        "email.mjml.j2",
        "<mjml>\n  <mj-body>\n    <mj-section>\n      <mj-column>\n"
        "        <mj-text>{{ title }}</mj-text>\n    </mj-section>\n  </mj-body>\n</mjml>\n",
    )
    with pytest.raises(RenderError) as caught:
        render_issue(sample_issue(config.section_list), config)
    assert str(caught.value).startswith(
        "templates/email.mjml.j2:4: MJML error: <mj-column> is closed by </mj-section>"
    )


def test_no_template_marker_leaks_into_the_output(issue: Issue, config: Config) -> None:
    rendered = render_issue(issue, config)
    assert "tpl:" not in rendered.mjml and "tpl:" not in rendered.html


def test_an_override_dropped_in_later_is_picked_up(project: Path, config: Config) -> None:
    issue = sample_issue(config.section_list)
    assert "Voir dans le navigateur" in render_issue(issue, config).html
    _override(
        project,
        "partials/footer.mjml.j2",
        "<mj-section><mj-column><mj-text>Pied tardif</mj-text></mj-column></mj-section>\n",
    )
    assert "Pied tardif" in render_issue(issue, config).html
    (project / "templates" / "partials" / "footer.mjml.j2").unlink()
    assert "Voir dans le navigateur" in render_issue(issue, config).html


def test_any_error_raised_by_a_template_names_file_and_line(project: Path, config: Config) -> None:
    _override(project, "text.txt.j2", "{{ title }}\n{{ 1 / 0 }}\n")
    with pytest.raises(RenderError) as caught:
        render_issue(sample_issue(config.section_list), config)
    assert str(caught.value) == (
        "templates/text.txt.j2:2: template error: ZeroDivisionError: division by zero"
    )


def test_an_override_that_is_not_utf8_is_named(project: Path, config: Config) -> None:
    path = project / "templates" / "partials" / "header.mjml.j2"
    path.parent.mkdir(parents=True)
    path.write_bytes("<mj-section>É</mj-section>\n".encode("latin-1"))
    with pytest.raises(RenderError) as caught:
        render_issue(sample_issue(config.section_list), config)
    assert str(caught.value).startswith("templates/partials/header.mjml.j2: not UTF-8 text")


def test_an_unknown_mjml_tag_is_an_error_not_a_silent_loss(project: Path, config: Config) -> None:
    # mjml-python drops an unknown tag and all it holds: here the unsubscribe link.
    footer = (REPO / "templates" / "partials" / "footer.mjml.j2").read_text(encoding="utf-8")
    _override(project, "partials/footer.mjml.j2", footer.replace("mj-text", "mj-txt"))
    with pytest.raises(RenderError) as caught:
        render_issue(sample_issue(config.section_list), config)
    assert str(caught.value).startswith(
        "templates/partials/footer.mjml.j2:3: MJML error: unknown MJML tag <mj-txt>"
    )


@pytest.mark.parametrize(
    ("partial", "before", "after", "line"),
    [
        ("partials/footer.mjml.j2", "<p>Vous recevez", "<p Vous recevez", 7),
        ("partials/item_text.mjml.j2", "</a></h3>", "</a</h3>", 2),
    ],
)
def test_broken_html_in_a_text_block_names_the_template_line(
    project: Path, config: Config, partial: str, before: str, after: str, line: int
) -> None:
    # mjml-python only says "unable to parse next template", with no position at all.
    source = (REPO / "templates" / partial).read_text(encoding="utf-8")
    assert before in source
    _override(project, partial, source.replace(before, after))
    with pytest.raises(RenderError) as caught:
        render_issue(sample_issue(config.section_list), config)
    message = str(caught.value)
    assert message.startswith(f"templates/{partial}:{line}: MJML error: a '<' that does not")
    assert " at '<" in message  # the text at the fault, not only the start of its line


def test_french_punctuation_never_starts_a_line_in_the_html(config: Config) -> None:
    item = make_item(
        title="Atelier « Faire alliance » : inscriptions ouvertes !",
        summary_html="<p>Qui ? « Tous » ; port :8080 et https://example.org/?q=1</p>",
    )
    rendered = render_issue(make_issue(item), config)
    nbsp = "\N{NO-BREAK SPACE}"
    assert f"Atelier «{nbsp}Faire alliance{nbsp}»{nbsp}: inscriptions ouvertes{nbsp}!" in (
        rendered.html
    )
    assert f"Qui{nbsp}? «{nbsp}Tous{nbsp}»{nbsp}; port :8080 et https://example.org/?q=1" in (
        rendered.html
    )
    # The text part keeps ordinary spaces where it does not wrap.
    assert "* Atelier « Faire alliance » : inscriptions ouvertes !" in rendered.text
