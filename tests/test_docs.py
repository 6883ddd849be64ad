"""The docs hold together: every relative link in README.md and docs/*.md reaches a file (and a heading), the README
stays one screen, and nothing points to a guide outside the repository."""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
README_MOST_LINES = 150
CODE_FOLDERS = ("recommender", "tasks", "config", "benchmarks", "tests")

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`+[^`\n]*`+")
LINK = re.compile(r"\[([^\]\n]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$", re.MULTILINE)
EXTERNAL = ("http://", "https://", "mailto:")


def prose(text: str) -> str:
    """``text`` without fenced code blocks and with each inline code span reduced to a word (links inside code are not
    links; a link whose text is code still is)."""
    return INLINE_CODE.sub("code", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text (code and link syntax dropped) in lower case, punctuation other than
    hyphens and spaces removed (word characters stay), spaces made hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of every heading of ``page``, repeated headings numbered as GitHub numbers them (-1, -2, ...)."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, text in HEADING.findall(FENCE.sub("", page.read_text(encoding="utf-8"))):
        base = slug(text)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(page: Path) -> list[str]:
    """Each relative link of ``page`` whose file is missing or whose ``#anchor`` names no heading there."""
    broken = []
    for text, target in LINK.findall(prose(page.read_text(encoding="utf-8"))):
        if target.lower().startswith(EXTERNAL):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"[{text}]({target}): no file {linked.relative_to(REPO) if linked.is_relative_to(REPO) else linked}")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"[{text}]({target}): no heading with the anchor #{anchor} in {linked.relative_to(REPO)}")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(REPO)) for page in PAGES])
def test_every_relative_link_reaches_a_file_and_a_heading(page):
    assert broken_links(page) == []


def test_the_anchor_of_a_heading_is_githubs():
    assert slug("How a new model earns its place") == "how-a-new-model-earns-its-place"
    assert slug("Interests (facets)") == "interests-facets"
    assert slug("Health: `/healthz` and `/status`") == "health-healthz-and-status"
    assert slug("Offline evaluation: `manage.py evaluate`") == "offline-evaluation-managepy-evaluate"


def test_the_readme_is_one_screen():
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) < README_MOST_LINES, f"README.md has {len(lines)} lines; move detail into docs/"


def test_nothing_points_to_a_guide_outside_the_repository():
    files = [*PAGES, *(path for folder in CODE_FOLDERS for path in sorted((REPO / folder).rglob("*.py")))]
    offenders = []
    for path in files:
        if path == Path(__file__).resolve():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if re.search(r"\bGUIDE\b", line) or re.search(r"design guide", line, re.IGNORECASE):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert offenders == []
