"""Clients and parsers of outside paper sources: arXiv OAI-PMH, the arXiv API, the daily trending list and the
arXiv metadata snapshot. No Django here: each yields exchange-format ``PaperRecord``s (``engine.exchange``),
and the services in ``recommender.services.intake`` store them.

Every network source takes its endpoint as an argument (the settings ``ARXIV_OAI_URL``, ``ARXIV_API_URL`` and
``HF_PAPERS_URL``), so a mirror or a test server can stand in, and raises :class:`SourceError` with a message
a person can act on when the service cannot be reached or answers something unreadable.
"""


class SourceError(Exception):
    """A source could not be read: unreachable, timed out, refused, or answered something unreadable."""


class SourceTimeout(SourceError):
    """The source did not answer in time (it may well answer later)."""
