"""A reader's own data, to take away: all their feedback as JSON, their library as BibTeX."""

import re
import unicodedata

from django.utils import timezone

from accounts.models import User
from recommender.models import Interaction, Paper

_BIBTEX_SPECIAL = re.compile(r"([{}\\\\])")


def my_data(*, user: User) -> dict:
    """Everything Paperfeed knows of the reader's taste, in one JSON-ready dict."""
    rows = Interaction.objects.filter(user=user).select_related("paper").order_by("created", "id")
    return {
        "user": user.username,
        "email": user.email,
        "weekly_digest": user.weekly_digest,
        "share_feedback": user.share_feedback,
        "exported_at": timezone.now().isoformat(),
        "feedback": [
            {"paper": r.paper.external_id, "title": r.paper.title, "kind": r.kind, "stars": r.value, "at": r.created.isoformat()}
            for r in rows
        ],
    }


def library_bibtex(*, user: User) -> str:
    """BibTeX entries for the papers the reader liked or saved."""
    papers = Paper.objects.filter(interactions__user=user, interactions__kind__in=["like", "save"]).distinct().order_by("title")
    return papers_bibtex(papers)


def papers_bibtex(papers) -> str:
    """One BibTeX entry (@misc) per paper, in the order given."""
    return "\n".join(_entry(paper) for paper in papers)


def _entry(paper: Paper) -> str:
    fields = {"title": "{" + _escape(paper.title) + "}"}
    if paper.authors:
        fields["author"] = "{" + " and ".join(_escape(a) for a in paper.authors) + "}"
    if paper.published:
        fields["year"] = str(paper.published.year)
    if paper.url:
        fields["url"] = "{" + _url(paper.url) + "}"
    fields["note"] = "{Paperfeed id: " + _escape(paper.external_id) + "}"
    body = ",\n".join(f"  {name} = {value}" for name, value in fields.items())
    return f"@misc{{{_key(paper)},\n{body}\n}}\n"


def _escape(text: str) -> str:
    return _BIBTEX_SPECIAL.sub(r"\\\1", text)


def _url(url: str) -> str:
    """A URL with its braces and backslashes percent-encoded (the same address), so it cannot close the field early."""
    return url.replace("\\", "%5C").replace("{", "%7B").replace("}", "%7D")


def _key(paper: Paper) -> str:
    ascii_id = unicodedata.normalize("NFKD", paper.external_id).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9:._-]+", "_", ascii_id)[:60] or f"paper{paper.pk}"
