"""The French pages that ``newsletter serve`` shows to readers: confirm, done, invalid link.

Self-contained (inline style, no external asset, no script), every value escaped.
"""

from __future__ import annotations

from html import escape

_STYLE = (
    "body{margin:0;background:#f4f5f2;color:#1f2a2e;font:17px/1.5 system-ui,-apple-system,"
    "'Segoe UI',Roboto,Arial,sans-serif}"
    "main{max-width:34rem;margin:3rem auto;padding:2rem;background:#fff;border-radius:8px}"
    "h1{font-size:1.4rem;line-height:1.3;margin-top:0}"
    "button{font:inherit;font-weight:600;padding:.7rem 1.4rem;border:0;border-radius:6px;"
    "background:#0a6e5c;color:#fff;cursor:pointer}"
    "button:focus{outline:3px solid #f2a900;outline-offset:2px}"
    ".muted{color:#4b5a5f;font-size:.9rem}"
    "@media (prefers-color-scheme:dark){body{background:#111;color:#eee}main{background:#1d2326}"
    ".muted{color:#b8c2c5}}"
)


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="fr">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="robots" content="noindex, nofollow">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def _contact(contact: str | None) -> str:
    if not contact:
        return ""
    shown = escape(contact)
    return (
        '<p class="muted">Une question&nbsp;? Écrivez-nous à '
        f'<a href="mailto:{escape(contact, quote=True)}">{shown}</a>.</p>'
    )


def confirm_page(newsletter: str, email: str, contact: str | None = None) -> str:
    """Asked on GET: a link opened (or prefetched by a mail scanner) unsubscribes no one."""
    title = f"Se désinscrire de «\u00a0{newsletter}\u00a0»"
    body = (
        f"<h1>{escape(title)}</h1>\n"
        f"<p>Vous ne recevrez plus «\u00a0{escape(newsletter)}\u00a0» à l'adresse "
        f"<strong>{escape(email)}</strong>.</p>\n"
        '<form method="post">\n'
        '<input type="hidden" name="confirmer" value="oui">\n'
        '<button type="submit">Me désinscrire</button>\n</form>\n' + _contact(contact)
    )
    return _page(title, body)


def done_page(newsletter: str, email: str, contact: str | None = None) -> str:
    """After the unsubscription (new or already done: the reader sees the same)."""
    title = "Vous êtes désinscrit·e"
    body = (
        f"<h1>{escape(title)}</h1>\n"
        f"<p>L'adresse <strong>{escape(email)}</strong> ne recevra plus "
        f"«\u00a0{escape(newsletter)}\u00a0».</p>\n"
        "<p>Vous pouvez fermer cette page.</p>\n" + _contact(contact)
    )
    return _page(title, body)


def invalid_page(newsletter: str, contact: str | None = None) -> str:
    """A malformed, truncated or forged link: says nothing about why."""
    title = "Lien de désinscription non valide"
    body = (
        f"<h1>{escape(title)}</h1>\n"
        "<p>Ce lien n'est pas valide&nbsp;: il a peut-être été coupé ou mal copié. Utilisez le "
        f"lien «\u00a0Se désinscrire\u00a0» en bas d'un message de «\u00a0{escape(newsletter)}"
        "\u00a0» que vous avez reçu.</p>\n" + _contact(contact)
    )
    return _page(title, body)


def busy_page(newsletter: str, contact: str | None = None) -> str:
    """The unsubscription could not be recorded right now (the reader should try again)."""
    title = "Désinscription momentanément impossible"
    body = (
        f"<h1>{escape(title)}</h1>\n"
        "<p>Votre demande n'a pas pu être enregistrée pour l'instant. Réessayez dans quelques "
        f"minutes avec le même lien&nbsp;: vous ne recevrez plus «\u00a0{escape(newsletter)}"
        "\u00a0» ensuite.</p>\n" + _contact(contact)
    )
    return _page(title, body)


def not_found_page() -> str:
    return _page("Page introuvable", "<h1>Page introuvable</h1>")
