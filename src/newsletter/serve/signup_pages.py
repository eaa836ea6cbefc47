"""The French pages of the sign-up: the form, "check your inbox", the confirmation button,
confirmed, and a link that no longer works. Every value escaped; no script."""

from __future__ import annotations

from html import escape

from newsletter.serve.pages import _contact, _page

#: The honeypot: a field people never see (hidden by CSS, skipped by screen readers and the
#: keyboard) that bots fill in.
HONEYPOT = "site_web"
_FORM_STYLE = (
    "<style>label{display:block;margin:1rem 0 .3rem;font-weight:600}"
    "input[type=email],input[type=text]{font:inherit;width:100%;box-sizing:border-box;"
    "padding:.6rem;border:1px solid #4b5a5f;border-radius:6px}"
    ".consent{display:flex;gap:.6rem;align-items:flex-start;margin:1.2rem 0;font-weight:400}"
    ".consent input{margin-top:.35rem;width:1.2rem;height:1.2rem}"
    ".error{color:#9b1c1c;font-weight:600}.trap{position:absolute;left:-10000px}</style>\n"
)


def subscribe_page(
    newsletter: str,
    consent_text: str,
    *,
    error: str = "",
    email: str = "",
    first_name: str = "",
    contact: str | None = None,
) -> str:
    """The sign-up form: address, first name (optional), the consent checkbox."""
    title = f"S'inscrire à «\u00a0{newsletter}\u00a0»"
    shown_error = (
        f'<p class="error" role="alert" id="erreur">{escape(error)}</p>\n' if error else ""
    )
    described = ' aria-describedby="erreur"' if error else ""
    body = (
        _FORM_STYLE + f"<h1>{escape(title)}</h1>\n"
        "<p>Chaque jeudi, les bonnes nouvelles des alliances dans les territoires.</p>\n"
        + shown_error
        + '<form method="post">\n'
        '<label for="email">Adresse email</label>\n'
        f'<input type="email" id="email" name="email" required autocomplete="email"'
        f' value="{escape(email, quote=True)}"{described}>\n'
        '<label for="prenom">Prénom (facultatif)</label>\n'
        f'<input type="text" id="prenom" name="prenom" autocomplete="given-name" maxlength="100"'
        f' value="{escape(first_name, quote=True)}">\n'
        f'<div class="trap" aria-hidden="true"><label for="{HONEYPOT}">Ne pas remplir</label>'
        f'<input type="text" id="{HONEYPOT}" name="{HONEYPOT}" tabindex="-1" autocomplete="off">'
        "</div>\n"
        '<label class="consent"><input type="checkbox" name="consentement" value="oui" required>'
        f"<span>{escape(consent_text)}</span></label>\n"
        '<button type="submit">Je m\'inscris</button>\n</form>\n' + _contact(contact)
    )
    return _page(title, body)


def check_inbox_page(newsletter: str, contact: str | None = None) -> str:
    """After any sign-up, whatever the address's state: nothing to learn from it."""
    title = "Vérifiez votre boîte de réception"
    body = (
        f"<h1>{escape(title)}</h1>\n"
        "<p>Si cette adresse peut recevoir «\u00a0"
        f"{escape(newsletter)}\u00a0», un message vient de lui être envoyé. Ouvrez le lien qu'il "
        "contient pour confirmer votre inscription&nbsp;: sans cela, vous ne recevrez rien.</p>\n"
        '<p class="muted">Rien reçu dans quelques minutes&nbsp;? Regardez dans les '
        "indésirables.</p>\n" + _contact(contact)
    )
    return _page(title, body)


def confirm_subscription_page(newsletter: str, contact: str | None = None) -> str:
    """Asked on GET: a link opened (or prefetched by a mail scanner) confirms no one."""
    title = f"Confirmer votre inscription à «\u00a0{newsletter}\u00a0»"
    body = (
        f"<h1>{escape(title)}</h1>\n"
        '<form method="post">\n<input type="hidden" name="confirmer" value="oui">\n'
        '<button type="submit">Je confirme mon inscription</button>\n</form>\n' + _contact(contact)
    )
    return _page(title, body)


def confirmed_page(newsletter: str, contact: str | None = None) -> str:
    title = "Inscription confirmée"
    body = (
        f"<h1>{escape(title)}</h1>\n"
        f"<p>Merci&nbsp;! Vous recevrez «\u00a0{escape(newsletter)}\u00a0» dès jeudi. Chaque "
        "message contient un lien pour vous désinscrire.</p>\n" + _contact(contact)
    )
    return _page(title, body)


def link_not_valid_page(newsletter: str, contact: str | None = None) -> str:
    """An expired, forged or no longer usable link: says nothing about the address."""
    title = "Lien de confirmation non valide"
    body = (
        f"<h1>{escape(title)}</h1>\n"
        "<p>Ce lien n'est plus valide (il a expiré, ou a été mal copié). Inscrivez-vous de "
        f"nouveau pour recevoir «\u00a0{escape(newsletter)}\u00a0».</p>\n" + _contact(contact)
    )
    return _page(title, body)


def too_many_page(newsletter: str) -> str:
    title = "Trop de demandes"
    body = (
        f"<h1>{escape(title)}</h1>\n<p>Trop de demandes d'inscription à «\u00a0"
        f"{escape(newsletter)}\u00a0» viennent d'ici. Réessayez dans quelques minutes.</p>"
    )
    return _page(title, body)
