"""A realistic sample issue built in code: for golden files, browser proofs and benchmarks.

It needs no feed and no issue folder, so the templates can be tried on a fresh project.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from newsletter.model import Issue, IssueSection, IssueStatus, Item, Origin, Section, item_key

SAMPLE_DATE = date(2026, 12, 3)

_TERRITORIES = (
    "Auvergne-Rhône-Alpes",
    "Hauts-de-France",
    "Nouvelle-Aquitaine",
    "Occitanie",
    "Bretagne",
    "Grand Est",
    "Île-de-France",
    "Normandie",
)
_SUBJECTS = (
    ("Une coopérative de mobilité solidaire relie quatre villages", "mobilite"),
    ("Un tiers-lieu nourricier ouvre ses portes au cœur du quartier", "tiers-lieu"),
    ("Entreprises et associations s'allient pour l'emploi des jeunes", "emploi-jeunes"),
    ("La communauté de communes mise sur la rénovation partagée", "renovation"),
    ("Des fondations mettent leurs données en commun", "donnees"),
    ("Un collectif d'habitants reprend l'épicerie du village", "epicerie"),
    ("Le lycée agricole et les éleveurs réinventent la cantine", "cantine"),
    ("Une alliance locale pour l'accès au numérique des aînés", "numerique"),
)
_SUMMARY = (
    "<p>Portée par <strong>{who}</strong>, cette initiative réunit élus, associations et "
    "entreprises autour d'un objectif commun. Après dix-huit mois d'expérimentation, "
    "{n} partenaires s'engagent pour trois ans et partagent leurs méthodes.</p>"
)
_WHO = (
    "une entreprise d'insertion",
    "un réseau d'associations",
    "une collectivité",
    "des habitants",
)


def sample_issue(
    sections: Sequence[Section] = (),
    *,
    items: int = 14,
    issue_date: date = SAMPLE_DATE,
    editorial: bool = True,
) -> Issue:
    """An issue of ``items`` items spread over ``sections`` (the last one as an agenda).

    Deterministic: the same arguments always give the same issue.
    """
    sections = tuple(sections) or (
        Section("territoires", "Bonnes nouvelles des territoires"),
        Section("publications", "Publications"),
        Section("agenda", "Agenda"),
    )
    agenda = sections[-1] if len(sections) > 1 else None
    regular = sections[:-1] if agenda else sections
    n_agenda = max(1, items // 5) if agenda else 0
    buckets: dict[str, list[Item]] = {s.id: [] for s in sections}
    published = datetime(issue_date.year, issue_date.month, issue_date.day, 8, 0)
    for index in range(items - n_agenda):
        section = regular[0] if index < (items - n_agenda) * 2 // 3 else regular[-1]
        title, slug = _SUBJECTS[index % len(_SUBJECTS)]
        if index >= len(_SUBJECTS):
            title = f"{title} ({index // len(_SUBJECTS) + 1})"
        url = f"https://example.org/actualites/{slug}-{index + 1}"
        territory = _TERRITORIES[index % len(_TERRITORIES)]
        who = _WHO[index % len(_WHO)]
        summary = _SUMMARY.format(who=who, n=3 + index % 7)
        with_image = index % 3 != 2
        buckets[section.id].append(
            Item(
                key=item_key(url),
                title=title,
                url=url,
                section=section.id,
                summary_html=summary,
                published=published - timedelta(hours=7 * index + 5),
                image=f"https://example.org/images/{slug}.jpg" if with_image else None,
                image_alt=f"Illustration : {title.lower()}" if with_image else "",
                territory=territory,
                sources=("Observatoire des partenariats",),
                origin=Origin.FEED,
                origin_ref="Observatoire des partenariats",
            )
        )
    for index in range(n_agenda):
        url = f"https://example.org/agenda/rencontre-{index + 1}"
        title = f"Rencontre des alliances territoriales n°{index + 1}"
        buckets[agenda.id if agenda else sections[0].id].append(
            Item(
                key=item_key(url),
                title=title,
                url=url,
                section=agenda.id if agenda else sections[0].id,
                summary_html=(
                    "<p>Une journée d'échanges entre acteurs publics, associatifs et économiques. "
                    "Inscription gratuite, places limitées.</p>"
                ),
                territory=_TERRITORIES[index % len(_TERRITORIES)],
                event_date=issue_date + timedelta(days=7 + 7 * index),
                origin=Origin.FEED,
                origin_ref="Agenda des alliances",
            )
        )
    editorial_md = (
        "Bonjour [[first_name]],\n\n"
        "Cette semaine, nous sommes allés voir celles et ceux qui **font alliance** pour "
        "l'emploi local : une entreprise d'insertion, des associations et des agriculteurs, des "
        "fondations qui mettent leurs données en commun.\n\n"
        "Leur point commun ? Aucun n'aurait réussi seul. C'est tout le sens de "
        "[l'ODD 17](https://example.org/odd17).\n\n*La rédaction*"
    )
    return Issue(
        date=issue_date,
        subject="Le Jeudi de l'ODD 17 n°148 : les alliances qui font bouger les territoires",
        preheader="Une coopérative de mobilité solidaire, un tiers-lieu nourricier et l'agenda.",
        number=148,
        status=IssueStatus.DRAFT,
        editorial_md=editorial_md if editorial else "",
        theme="Coopérer pour l'emploi local",
        sections=tuple(IssueSection(s.id, s.title, tuple(buckets[s.id])) for s in sections),
    )
