"""What a reader types into a search box, as an SQLite FTS5 expression (PostgreSQL reads it with websearch_to_tsquery)."""

import re

MAX_QUERY_LENGTH = 200

_TERM = re.compile(r'(-?)"([^"]*)"?|(\S+)')
_WORD = re.compile(r"\w+")


def fts5_expression(query: str) -> str | None:
    """``query`` as an FTS5 expression with websearch semantics: every word must match, "a phrase" matches in order,
    ``or`` joins alternatives, ``-word`` leaves a word out. Each term is a quoted string (so no input is FTS syntax);
    None when nothing searchable is left."""
    groups: list[list[str]] = []  # ANDed groups of ORed terms
    excluded: list[str] = []
    join_next = False
    for negated, phrase, bare in _TERM.findall(query[:MAX_QUERY_LENGTH]):
        if bare and bare.lower() == "or":
            join_next = bool(groups)
            continue
        if bare.startswith("-") and len(bare) > 1:
            negated, bare = "-", bare[1:]
        words = _WORD.findall(phrase if phrase else bare)
        if not words:
            continue
        term = '"' + " ".join(words) + '"'
        if negated:
            excluded.append(term)
        elif join_next:
            groups[-1].append(term)
        else:
            groups.append([term])
        join_next = False
    if not groups:
        return None
    expression = " AND ".join("(" + " OR ".join(group) + ")" for group in groups)
    if excluded:
        expression = f"({expression}) NOT ({' OR '.join(excluded)})"
    return expression
