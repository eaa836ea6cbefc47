"""The plain-text helpers: wrapping at 72 columns, HTML to paragraphs, MJML error location."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from newsletter.render.compile import unbalanced_tag
from newsletter.render.text import html_to_plain, reflow, wrap_text

words = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=90,
)
lines = st.lists(words, max_size=40).map(" ".join)


@given(st.lists(lines, max_size=8).map("\n".join))
def test_wrap_never_loses_a_word_and_only_long_words_pass_72(text: str) -> None:
    wrapped = wrap_text(text)
    assert wrapped.split() == text.split()
    for line in wrapped.splitlines():
        assert len(line) <= 72 or " " not in line.strip()


def test_wrap_never_starts_a_line_with_french_closing_punctuation() -> None:
    text = (
        "Rapport : « Les alliances stratégiques, un levier pour la transition » : "
        "un rapport qui compte ! Vraiment ? Oui ; et « Territoires d'alliances » aussi."
    )
    for width in range(20, 72):
        lines = wrap_text(text, width).splitlines()
        assert not any(line.lstrip().startswith((":", ";", "!", "?", "»")) for line in lines)
        assert not any(line.rstrip().endswith("«") for line in lines)
        assert " ".join(lines).split() == text.split()


def test_wrap_keeps_hanging_indent_and_urls_whole() -> None:
    url = "https://example.org/" + "a" * 80
    text = "* " + "mot " * 30 + "\n  " + url + "\n\n\n\nfin"
    wrapped = wrap_text(text)
    first, second, *_ = wrapped.splitlines()
    assert first.startswith("* mot") and second.startswith("  mot")
    assert f"  {url}" in wrapped.splitlines()
    assert wrapped.endswith("\n\nfin\n")


@given(st.text(max_size=300))
def test_html_to_plain_never_raises(fragment: str) -> None:
    html_to_plain(fragment)


def test_html_to_plain_keeps_paragraphs_lists_and_links() -> None:
    html = (
        "<p>Un premier\nparagraphe <strong>gras</strong>.</p><ul><li>un</li><li>deux</li></ul>"
        '<p>Voir <a href="https://example.org/x">le rapport</a> et '
        '<a href="https://example.org/y">https://example.org/y</a>.<br>Ligne.</p>'
    )
    assert html_to_plain(html) == (
        "Un premier paragraphe gras.\n\n- un\n- deux\n\n"
        "Voir le rapport (https://example.org/x) et https://example.org/y.\nLigne."
    )


def test_reflow_joins_soft_breaks_but_not_lists() -> None:
    assert reflow("un\ndeux\n\n- a\n- b") == "un deux\n\n- a\n- b"


def test_unbalanced_tag_finds_the_line() -> None:
    source = (
        "<mjml>\n<mj-body>\n<mj-section>\n<mj-column>\n<mj-text>a <b>b</b></mj-text>\n"
        "</mj-section>\n</mj-body>\n</mjml>"
    )
    assert unbalanced_tag(source) == (4, "<mj-column> is closed by </mj-section>")
    assert unbalanced_tag("<mjml><mj-body><mj-image src='x' /></mj-body></mjml>") is None
    assert unbalanced_tag("<mjml><mj-body>") == (1, "<mj-body> is never closed")
