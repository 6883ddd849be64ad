"""Matching pasted references (arXiv ids and links, titles, Paperfeed links, BibTeX) against the catalogue."""

import pytest

from recommender.selectors.references import MAX_REFERENCES, ReferencesTooLong, references_match, references_parse
from tests.factories import PaperFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue(db):
    return {
        "attention": PaperFactory(external_id="1706.03762", title="Attention Is All You Need", url="https://arxiv.org/abs/1706.03762"),
        "lookup": PaperFactory(
            external_id="lookupvit-compressing-visual-information",
            title="LookupViT: Compressing visual information to a limited number of tokens",
            url="https://arxiv.org/abs/2407.12753v1",
        ),
        "old": PaperFactory(external_id="arXiv:hep-th/9901001", title="Strings on a lattice"),
        "schrodinger": PaperFactory(external_id="schrodinger-bert", title="Schrödinger's Cat in BERT: Probing Superposition"),
        "neighbour": PaperFactory(external_id="1706.037620", title="A paper whose id starts like another"),
    }


def titles(result):
    return [p.title for p in result.papers]


def test_arxiv_ids_in_every_form_people_paste(catalogue):
    text = """
    1. arXiv:1706.03762v5
     - https://arxiv.org/pdf/2407.12753v2.pdf
    [3] HEP-TH/9901001v2
    """
    result = references_match(text=text)
    assert result.papers == [catalogue["attention"], catalogue["lookup"], catalogue["old"]]
    assert result.unmatched == []


def test_a_line_of_ids_separated_by_commas_and_semicolons(catalogue):
    result = references_match(text="1706.03762, 2407.12753 ;9999.99999")
    assert result.papers == [catalogue["attention"], catalogue["lookup"]]
    assert result.unmatched == ["9999.99999"]


def test_an_id_is_matched_exactly_not_as_a_prefix(catalogue):
    result = references_match(text="1706.0376")
    assert result.papers == [] and result.unmatched == ["1706.0376"]


def test_titles_match_despite_case_accents_quotes_punctuation_and_a_typo(catalogue):
    text = """"attention is all you need."
    Schrodinger's cat in BERT - probing superposition
    LookupVIT: compresing visual information to a limited number of tokens
    A title nobody has ever written"""
    result = references_match(text=text)
    assert titles(result) == [catalogue["attention"].title, catalogue["schrodinger"].title, catalogue["lookup"].title]
    assert result.unmatched == ["A title nobody has ever written"]


def test_a_title_with_its_arxiv_id_in_brackets(catalogue):
    result = references_match(text="Attention is all you need (arXiv:0000.00000)")
    assert result.papers == [catalogue["attention"]]


def test_paperfeed_links_and_ids(catalogue):
    text = "https://paperfeed.example.org/papers/schrodinger-bert/\nlookupvit-compressing-visual-information"
    assert references_match(text=text).papers == [catalogue["schrodinger"], catalogue["lookup"]]


def test_the_same_paper_twice_counts_once(catalogue):
    result = references_match(text="1706.03762\nAttention Is All You Need\nhttps://arxiv.org/abs/1706.03762v2")
    assert result.papers == [catalogue["attention"]] and result.unmatched == []


MESSY_BIBTEX = r"""
% exported from a reference manager
@article{vaswani2017,
  title   = {Attention Is {All} You Need},
  author  = {Vaswani, Ashish and Shazeer, Noam},
  journal = {arXiv preprint arXiv:1706.03762},
}
@misc{cat, title={Schr{\"o}dinger's Cat in {BERT}: Probing Superposition}, year=2024}
@inproceedings{broken, title = {Never closed
@misc{lookup,
  title={Something else entirely},
  eprint={2407.12753}, archivePrefix={arXiv},
}
@book{unknown, title = {A Book We Do Not Have}}
"""


def test_messy_bibtex(catalogue):
    result = references_match(text=MESSY_BIBTEX)
    assert result.papers == [catalogue["attention"], catalogue["schrodinger"], catalogue["lookup"]]
    assert "A Book We Do Not Have" in result.unmatched
    assert any("@inproceedings{broken" in text for text in result.unmatched)
    assert len(result.unmatched) == 2


def test_bibtex_urls_and_dois_name_arxiv_papers():
    references = references_parse(
        "@misc{a, title={T}, url={https://arxiv.org/abs/2202.00002v3}}\n@misc{b, doi={10.48550/arXiv.2303.00003}}"
    )
    assert [r.arxiv_id for r in references] == ["2202.00002", "2303.00003"]


def test_blank_lines_and_list_markers_are_not_references():
    assert references_parse("\n\n  - \n*   \n") == []


def test_too_much_text_is_refused_with_a_reason():
    with pytest.raises(ReferencesTooLong, match="at most 500 references"):
        references_parse("\n".join(f"2401.{n:05d}" for n in range(MAX_REFERENCES + 1)))
    with pytest.raises(ReferencesTooLong, match="characters"):
        references_parse("x" * 200_001)
