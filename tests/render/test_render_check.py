"""check_issue: every error and warning of `newsletter check`, each naming where it comes from."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from render_helpers import make_issue, make_item

from newsletter.config import Config, load_config
from newsletter.model import Issue, RenderedEmail
from newsletter.render import render_issue
from newsletter.render.check import (
    Finding,
    Level,
    audience_columns,
    check_issue,
    contrast_ratio,
    errors,
    render_and_check,
    warnings,
)


def messages(findings: list[Finding], level: Level) -> list[str]:
    return [str(f) for f in findings if f.level is level]


def test_the_sample_issue_is_clean(issue: Issue, config: Config) -> None:
    rendered, findings = render_and_check(issue, config)
    assert rendered is not None
    assert findings == []


def test_no_subject_and_no_items_are_errors(config: Config) -> None:
    findings = check_issue(make_issue(subject=""), None, config)
    found = messages(findings, Level.ERROR)
    assert any(m.startswith("bulletins/2026-12-03/issue.md: no subject") for m in found)
    assert any("has no items" in m for m in found)


def test_item_without_title_and_bad_links_name_the_item(config: Config) -> None:
    bad = make_item(title="", url="/relative/page")
    worse = make_item(
        title="Lien javascript",
        url="javascript:alert(1)",
        image="photo.jpg",  # images/photo.jpg is a file of the issue folder (test_images)
        image_alt="Une photo",
    )
    found = messages(check_issue(make_issue(bad, worse), None, config), Level.ERROR)
    assert "bulletins/2026-12-03/nouvelle.md ['/relative/page']: the item has no title" in (
        " ".join(found)
    )
    assert any(
        "['Lien javascript']: link must be an absolute http(s) URL (got 'javascript:alert(1)')" in m
        for m in found
    )
    assert any("image must be an absolute http(s) URL (got 'photo.jpg')" in m for m in found)


def test_relative_link_in_a_summary_is_an_error(config: Config) -> None:
    item = make_item(summary_html='<p>Voir <a href="../page.html">ici</a></p>')
    found = messages(check_issue(make_issue(item), None, config), Level.ERROR)
    assert found == [
        "bulletins/2026-12-03/nouvelle.md ['Une bonne nouvelle']: link in the summary must be "
        "an absolute http(s) URL (got '../page.html')"
    ]


def test_warnings_for_subject_preheader_alt_long_summary_duplicates(config: Config) -> None:
    long_summary = "<p>" + " ".join(["mot"] * 200) + "</p>"
    one = make_item(image="https://example.org/a.jpg", image_alt="")
    two = make_item(title="Doublon", url="https://example.org/nouvelle/", summary_html=long_summary)
    three = make_item(title="En clair", url="http://example.org/clair")
    issue = make_issue(one, two, three, subject="S" * 90, preheader="")
    findings = check_issue(issue, None, config)
    assert errors(findings) == []
    found = messages(findings, Level.WARNING)
    assert any("the subject has 90 characters" in m for m in found)
    assert any("no preheader" in m for m in found)
    assert any("['Une bonne nouvelle']: the image has no alt text" in m for m in found)
    assert any("['Doublon']: very long summary (200 words" in m for m in found)
    assert any("['Doublon']: same link as" in m for m in found)
    assert any("['En clair']: link is not https: http://example.org/clair" in m for m in found)


def test_html_size_limits(issue: Issue, config: Config) -> None:
    rendered = render_issue(issue, config)
    padding = "x" * (90 * 1024 - len(rendered.html.encode()))
    big = replace(rendered, html=rendered.html.replace("</body>", f"<p>{padding}</p></body>"))
    assert any(
        "close to Gmail's 102 KB" in str(f) for f in warnings(check_issue(issue, big, config))
    )
    assert errors(check_issue(issue, big, config)) == []
    huge = replace(big, html=big.html.replace(padding, padding + "x" * 20 * 1024))
    found = [str(f) for f in errors(check_issue(issue, huge, config))]
    assert any(f.startswith("email.html: the HTML is") and "Gmail clips" in f for f in found)


def test_unresolved_template_syntax_and_unknown_placeholders(issue: Issue, config: Config) -> None:
    rendered = render_issue(issue, config)
    broken = replace(
        rendered,
        html=rendered.html.replace("</body>", "<p>{{ prenom }} [[prenom]]</p></body>"),
        text=rendered.text + "{% if x %}\n",
    )
    found = [str(f) for f in errors(check_issue(issue, broken, config))]
    assert "email.html: unresolved template syntax '{{ prenom }}'" in found
    assert any(f.startswith("email.html: unknown placeholder '[[prenom]]'") for f in found)
    assert "email.txt: unresolved template syntax '{% if x %}'" in found


def test_editorial_placeholder_typo_is_reported_against_issue_md(config: Config) -> None:
    issue = make_issue(
        make_item(), editorial_md="Bonjour [[prénom]] [[ name ]],\n\nVoir [ceci](page.html)."
    )
    found = [str(f) for f in errors(check_issue(issue, None, config))]
    assert any(
        f.startswith("bulletins/2026-12-03/issue.md (editorial): unknown placeholder")
        for f in found
    )
    assert any("(got 'page.html')" in f for f in found)
    assert any("write the placeholder '[[ name ]]' as '[[name]]'" in f for f in found)


def test_template_links_and_images_in_the_output_are_checked(issue: Issue, config: Config) -> None:
    rendered = render_issue(issue, config)
    extra = '<a href="/archives">archives</a><img src="https://example.org/x.png"></body>'
    broken = RenderedEmail(
        rendered.date,
        rendered.subject,
        rendered.preheader,
        rendered.html.replace("</body>", extra),
        rendered.text,
    )
    findings = check_issue(issue, broken, config)
    assert "email.html (templates): link must be an absolute http(s) URL (got '/archives')" in [
        str(f) for f in errors(findings)
    ]
    found = [str(f) for f in warnings(findings)]
    assert "email.html: image without alt: https://example.org/x.png" in found
    assert any(f.startswith("email.html: image without width and height") for f in found)


def test_render_failure_becomes_an_error_finding(config: Config, issue: Issue) -> None:
    (config.templates_dir).mkdir(parents=True, exist_ok=True)
    (config.templates_dir / "text.txt.j2").write_text("{{ nope }}\n", encoding="utf-8")
    rendered, findings = render_and_check(issue, config)
    assert rendered is None
    assert [str(f) for f in errors(findings)] == [
        "templates/text.txt.j2:1: template error: 'nope' is undefined"
    ]


def test_low_contrast_theme_is_a_warning(config: Config, issue: Issue) -> None:
    pale = config.model_copy(
        update={"theme": config.theme.model_copy(update={"text_color": "#aaaaaa"})}
    )
    found = [str(f) for f in warnings(check_issue(issue, None, pale))]
    assert any("theme.text_color #aaaaaa" in f and "below 4.5:1" in f for f in found)
    assert round(contrast_ratio("#000", "#fff") or 0, 1) == 21.0
    assert contrast_ratio("red", "#fff") is None


def test_audience_columns_are_placeholders_and_a_typo_is_reported_once(
    config: Config,
) -> None:
    # samples/subscribers.csv has a 'ville' column: delivery fills [[ville]], so check accepts it.
    good = replace(make_issue(make_item()), editorial_md="Bonjour [[first_name]] de [[ville]] !")
    assert check_issue(good, render_issue(good, config), config) == []

    typo = replace(good, editorial_md="Bonjour [[prenom]] !")
    found = messages(check_issue(typo, render_issue(typo, config), config), Level.ERROR)
    assert found == [
        "bulletins/2026-12-03/issue.md (editorial): unknown placeholder '[[prenom]]' (known: "
        "[[first_name]], [[name]], [[email]], [[unsubscribe_url]]; audience columns: [[ville]])"
    ]


def test_with_a_provider_list_an_unknown_placeholder_is_a_warning(project: Path) -> None:
    path = project / "schedule.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "audience: {csv: samples/subscribers.csv}", 'audience: {list_id: "12"}'
        ),
        encoding="utf-8",
    )
    config = load_config(path)
    issue = replace(make_issue(make_item()), editorial_md="Bonjour de [[ville]] !")
    findings = check_issue(issue, render_issue(issue, config), config)
    assert errors(findings) == []
    assert messages(findings, Level.WARNING) == [
        "bulletins/2026-12-03/issue.md (editorial): [[ville]] is not a standard placeholder "
        "([[first_name]], [[name]], [[email]], [[unsubscribe_url]]); it is filled only if the "
        "provider's list has that attribute"
    ]


def test_a_theme_set_by_the_user_is_checked_with_its_line(project: Path, issue: Issue) -> None:
    path = project / "schedule.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "theme:\n",
            'theme:\n  primary_color: "#0a6e5c"\n  background_color: "#3a3f3d"\n'
            "  text_color: darkslategray\n",
        ),
        encoding="utf-8",
    )
    line = path.read_text(encoding="utf-8").splitlines().index("theme:") + 1
    config = load_config(path)
    found = [str(f) for f in warnings(check_issue(issue, None, config))]
    assert found == [
        f"schedule.yaml:{line + 3}: theme.text_color 'darkslategray' is not a #rrggbb colour: "
        "its contrast cannot be checked (write it as #rrggbb)",
        f"schedule.yaml:{line + 2}: theme.background_color #3a3f3d: contrast of the footer's "
        "grey text (#4b5a5f) on it is 1.5:1, below 4.5:1 (choose a lighter colour)",
    ]


def test_an_email_without_unsubscribe_link_is_an_error(config: Config, issue: Issue) -> None:
    partials = config.templates_dir / "partials"
    partials.mkdir(parents=True)
    (partials / "footer.mjml.j2").write_text(
        "<mj-section><mj-column><mj-text>Pied sans lien</mj-text></mj-column></mj-section>\n",
        encoding="utf-8",
    )
    (config.templates_dir / "text.txt.j2").write_text("{{ title }}\n", encoding="utf-8")
    _, findings = render_and_check(issue, config)
    assert [str(f.where) for f in errors(findings) if "no unsubscribe link" in f.message] == [
        "email.html",
        "email.txt",
    ]


def test_images_in_summaries_and_editorial_are_reported_where_they_come_from(
    config: Config,
) -> None:
    item = make_item(
        summary_html='<p>Voir <img src="https://example.org/carte.png" alt="Carte"></p>'
    )
    issue = replace(make_issue(item), editorial_md="![](https://example.org/edito.jpg)")
    found = messages(check_issue(issue, render_issue(issue, config), config), Level.WARNING)
    assert found == [
        "bulletins/2026-12-03/nouvelle.md ['Une bonne nouvelle']: image in the summary has no "
        "width and height (Outlook may show it at full size): https://example.org/carte.png",
        "bulletins/2026-12-03/issue.md (editorial): image in the editorial has no alt text "
        "(screen readers read it; in Markdown: ![description](URL)): https://example.org/edito.jpg",
        "bulletins/2026-12-03/issue.md (editorial): image in the editorial has no width and "
        "height (Outlook may show it at full size): https://example.org/edito.jpg",
    ]


def test_audience_columns_are_the_names_delivery_can_fill(tmp_path: Path) -> None:
    csv_file = tmp_path / "abonnes.csv"
    csv_file.write_text("\ufeffEmail;Prénom;Ville;code_postal\n", encoding="utf-8")
    assert audience_columns(csv_file) == {"email", "ville", "code_postal"}
    assert audience_columns(tmp_path / "absent.csv") == frozenset()


def test_template_syntax_in_the_editorial_is_reported_once(tmp_path: Path) -> None:
    import shutil

    from click.testing import CliRunner

    from newsletter.cli import app

    repo = Path(__file__).resolve().parents[2]
    shutil.copyfile(repo / "schedule.yaml", tmp_path / "schedule.yaml")
    shutil.copytree(repo / "samples", tmp_path / "samples")
    shutil.copytree(
        repo / "bulletins", tmp_path / "bulletins", ignore=shutil.ignore_patterns("collected*")
    )
    issue_md = tmp_path / "bulletins" / "2026-12-03" / "issue.md"
    issue_md.write_text(
        issue_md.read_text(encoding="utf-8").replace("Bonne lecture", "{{ x }} Bonne lecture"),
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        app, ["check", "2026-12-03", "--config", f"{tmp_path}/schedule.yaml"]
    )
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if "unresolved template syntax" in line]
    assert len(lines) == 1 and "issue.md (editorial)" in lines[0]
