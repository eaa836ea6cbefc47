"""The preview's HTML pages: the issue list, one issue at two widths, and error pages.

Pure functions from views to HTML text; every value is escaped. Each page carries the version
it was made from and a small script that reloads it when the server reports another version.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from newsletter.dates import french_date
from newsletter.preview.app import IssueSummary, IssueView

DESKTOP_WIDTH = 660
MOBILE_WIDTH = 375
POLL_MS = 700

_STYLE = """
:root { color-scheme: light; --ink: #1f2a2e; --muted: #5b6770; --line: #d9dedb;
  --ok: #0a6e5c; --warn: #8a5a00; --bad: #a3242b; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); background: #eef1ee; }
header.bar { display: flex; gap: 1rem; align-items: baseline; flex-wrap: wrap;
  padding: .6rem 1.2rem; background: #fff; border-bottom: 1px solid var(--line); }
header.bar a { color: var(--ok); text-decoration: none; }
main { padding: 1rem 1.2rem 2rem; }
h1 { font-size: 1.25rem; margin: 0 0 .2rem; }
.muted { color: var(--muted); }
.badge { display: inline-block; padding: 0 .5rem; border-radius: 1rem; font-size: .8rem;
  border: 1px solid currentColor; }
.badge.approved { color: var(--ok); } .badge.draft { color: var(--warn); }
.badge.invalid { color: var(--bad); }
#live { margin-left: auto; font-size: .8rem; }
#live.off { color: var(--bad); }
.panel { background: #fff; border: 1px solid var(--line); border-radius: 6px;
  padding: .8rem 1rem; margin-bottom: 1rem; max-width: 1100px; }
.errors { border-color: var(--bad); }
.errors h2 { color: var(--bad); }
h2 { font-size: 1rem; margin: 0 0 .4rem; }
details > summary { cursor: pointer; }
details > summary h2 { display: inline; }
ul.lines { margin: 0; padding-left: 1.2rem; }
ul.lines li { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .85rem;
  white-space: pre-wrap; word-break: break-word; }
li.error { color: var(--bad); } li.warning { color: var(--warn); }
.frames { display: flex; gap: 1.5rem; align-items: flex-start; flex-wrap: wrap; }
.frame figcaption { font-size: .85rem; color: var(--muted); margin-bottom: .3rem; }
.frame { margin: 0; }
.frame iframe { display: block; background: #fff; border: 1px solid var(--line);
  height: 80vh; min-height: 480px; }
table.issues { border-collapse: collapse; background: #fff; min-width: 60%; }
table.issues td, table.issues th { padding: .45rem .8rem; border-bottom: 1px solid var(--line);
  text-align: left; vertical-align: top; }
pre.text { white-space: pre-wrap; font-size: .85rem; max-width: 75ch; }
"""

# Polls the version endpoint; when the version differs from the one this page was made from,
# it keeps the iframes' scroll positions and reloads. Failures mark the page as disconnected
# and polling goes on, so a restarted server is picked up again.
_SCRIPT = """
(function () {
  var body = document.body, version = body.dataset.version, url = body.dataset.versionUrl;
  var pollMs = Number(body.dataset.poll) || 700;
  var key = "newsletter-preview-scroll:" + location.pathname;
  var live = document.getElementById("live");
  function frames() { return Array.prototype.slice.call(document.querySelectorAll("iframe")); }
  function save() {
    var positions = { page: window.scrollY };
    frames().forEach(function (f) {
      try { positions[f.id] = f.contentWindow.scrollY; } catch (e) {}
    });
    try { sessionStorage.setItem(key, JSON.stringify(positions)); } catch (e) {}
  }
  var saved = {};
  try { saved = JSON.parse(sessionStorage.getItem(key) || "{}"); } catch (e) {}
  if (saved.page) { window.scrollTo(0, saved.page); }
  frames().forEach(function (f) {
    f.addEventListener("load", function () {
      try { if (saved[f.id]) { f.contentWindow.scrollTo(0, saved[f.id]); } } catch (e) {}
    });
  });
  function show(text, ok) {
    if (live) { live.textContent = text; live.className = ok ? "" : "off"; }
  }
  function poll() {
    fetch(url, { cache: "no-store" }).then(function (r) {
      if (!r.ok) { throw new Error(String(r.status)); }
      return r.text();
    }).then(function (seen) {
      if (seen.trim() !== version) { save(); location.reload(); return; }
      show("\\u25cf live reload", true);
      setTimeout(poll, pollMs);
    }).catch(function () {
      show("\\u25cb preview server unreachable, retrying", false);
      setTimeout(poll, pollMs * 3);
    });
  }
  setTimeout(poll, pollMs);
})();
"""


def layout(title: str, body: str, *, version: str, version_url: str, crumbs: str = "") -> str:
    """A whole page: the bar, the body, and the live-reload script."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{_STYLE}</style>
</head>
<body data-version="{escape(version)}" data-version-url="{escape(version_url)}"
 data-poll="{POLL_MS}">
<header class="bar"><a href="/">newsletter preview</a>{crumbs}
<span id="live" class="muted">live reload</span></header>
<main>
{body}
</main>
<script>{_SCRIPT}</script>
</body>
</html>
"""


def lines_block(title: str, lines: Sequence[str], css_class: str = "errors") -> str:
    items = "\n".join(f'<li class="error">{escape(line)}</li>' for line in lines)
    return (
        f'<section class="panel {css_class}"><h2>{escape(title)}</h2>'
        f'<ul class="lines">{items}</ul></section>'
    )


def index_page(
    title: str, issues: Sequence[IssueSummary], errors: Sequence[str], *, version: str
) -> str:
    """The list of issues, newest first, each with its subject and status."""
    parts = [f"<h1>{escape(title)}</h1>"]
    if errors:
        parts.append(lines_block("The preview cannot list the issues", errors))
    if issues:
        rows = "\n".join(_issue_row(summary) for summary in issues)
        parts.append(
            '<table class="issues"><thead><tr><th>Issue</th><th>No.</th><th>Subject</th>'
            f"<th>Status</th></tr></thead><tbody>\n{rows}\n</tbody></table>"
        )
    elif not errors:
        parts.append(
            '<p class="muted">No issue yet. Create one with <code>newsletter new</code>; '
            "it appears here by itself.</p>"
        )
    return layout(f"{title}: preview", "\n".join(parts), version=version, version_url="/version")


def _issue_row(summary: IssueSummary) -> str:
    day = summary.date.isoformat()
    link = f'<a href="/{day}/">{day}</a><br><span class="muted">{_long_date(summary)}</span>'
    number = "" if summary.number is None else str(summary.number)
    if summary.problem is not None:
        subject = f'<span class="muted">{escape(summary.problem)}</span>'
        status = '<span class="badge invalid">invalid</span>'
    else:
        subject = escape(summary.subject) or '<span class="muted">(no subject)</span>'
        status = f'<span class="badge {escape(summary.status)}">{escape(summary.status)}</span>'
    return f"<tr><td>{link}</td><td>{number}</td><td>{subject}</td><td>{status}</td></tr>"


def _long_date(summary: IssueSummary) -> str:
    return escape(french_date(summary.date))


def issue_page(title: str, view: IssueView) -> str:
    """One issue: subject and preheader, errors and findings, desktop and mobile iframes."""
    day = view.date.isoformat()
    parts = [_issue_head(view)]
    if view.errors:
        parts.append(lines_block("Errors: the issue cannot be shown as it is", view.errors))
    if view.findings:
        items = "\n".join(
            f'<li class="{escape(f.level)}">{escape(f.level)}: {escape(f.text)}</li>'
            for f in view.findings
        )
        parts.append(
            f'<details class="panel findings"{_open_if_errors(view)}><summary><h2>'
            f"Check: {_count_findings(view)}</h2></summary>"
            f'<ul class="lines">{items}</ul></details>'
        )
    elif view.rendered:
        parts.append('<p class="muted">Check: no findings.</p>')
    if view.rendered:
        parts.append(
            '<div class="frames">'
            + _frame("desktop", f"Desktop, {DESKTOP_WIDTH} px", DESKTOP_WIDTH, day)
            + _frame("mobile", f"Mobile, {MOBILE_WIDTH} px", MOBILE_WIDTH, day)
            + "</div>"
        )
        parts.append(
            f'<p class="muted">Rendered in {view.elapsed_ms:.0f} ms for the sample recipient. '
            f'<a href="/{day}/email.html" target="_blank">email.html</a> · '
            f'<a href="/{day}/email.txt" target="_blank">email.txt</a></p>'
        )
        parts.append(
            '<details class="panel"><summary>Text part</summary>'
            f'<pre class="text">{escape(view.text or "")}</pre></details>'
        )
    crumbs = f" <span>/ {day}</span>"
    return layout(
        f"{day}: {view.subject or title}",
        "\n".join(parts),
        version=view.version,
        version_url=f"/{day}/version",
        crumbs=crumbs,
    )


def _count_findings(view: IssueView) -> str:
    errors = sum(1 for f in view.findings if f.level == "error")
    warnings = len(view.findings) - errors
    return (
        f"{errors} error{'s' if errors != 1 else ''}, "
        f"{warnings} warning{'s' if warnings != 1 else ''}"
    )


def _open_if_errors(view: IssueView) -> str:
    """Warnings fold away so the email stays in sight; errors stay open."""
    return " open" if any(f.level == "error" for f in view.findings) else ""


def _issue_head(view: IssueView) -> str:
    status = escape(view.status or "invalid")
    number = f"n°{view.number} · " if view.number is not None else ""
    subject = escape(view.subject) if view.subject else '<span class="muted">(no subject)</span>'
    preheader = (
        escape(view.preheader) if view.preheader else '<span class="muted">(no preheader)</span>'
    )
    theme = f" · theme: {escape(view.theme)}" if view.theme else ""
    return (
        '<section class="panel head">'
        f'<h1 id="subject">{subject}</h1>'
        f'<p id="preheader" style="margin:.2rem 0">{preheader}</p>'
        f'<p class="muted" style="margin:0">{number}{escape(french_date(view.date))}{theme} '
        f'<span class="badge {status}">{status}</span></p>'
        "</section>"
    )


def _frame(name: str, caption: str, width: int, day: str) -> str:
    return (
        f'<figure class="frame"><figcaption>{escape(caption)}</figcaption>'
        f'<iframe id="{name}" title="{escape(caption)}" src="/{day}/email.html" '
        f'style="width:{width + 2}px"></iframe></figure>'
    )


def message_page(
    title: str, heading: str, lines: Sequence[str], *, version: str, version_url: str
) -> str:
    """A page that only says something went wrong (or is missing), and still live-reloads."""
    body = f"<h1>{escape(heading)}</h1>" + (lines_block("Details", lines) if lines else "")
    return layout(title, body, version=version, version_url=version_url)


def email_error_page(view: IssueView) -> str:
    """What an iframe shows while the issue does not render: the same readable lines."""
    items = "\n".join(f"<li>{escape(line)}</li>" for line in view.errors)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Not rendered</title></head>
<body style="font:14px/1.4 system-ui,sans-serif;color:#a3242b;padding:1rem">
<p><strong>The issue of {escape(view.date.isoformat())} does not render:</strong></p>
<ul style="font-family:monospace;white-space:pre-wrap">{items}</ul>
<p style="color:#555">Fix the file; this view reloads by itself.</p>
</body></html>
"""
