"""Papers read by meaning: the packaged sentence encoder, its float16 vectors kept with the model and in the database,
a new paper embedded at intake and ranked before any retrain, the backfill, hybrid search and the off switch."""

import json

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from recommender.engine.blend import SIDES, BlendParams, blend_signals
from recommender.engine.meaning import SentenceEncoder, nearest_by_meaning, reciprocal_rank_fusion
from recommender.model_store import store
from recommender.models import Paper, PaperEmbedding, TrainingRun
from recommender.selectors.feed import feed_for_user, taste_scores
from recommender.selectors.neighbours import paper_neighbours
from recommender.selectors.search import papers_search
from recommender.services.feedback import feedback_set
from recommender.services.meaning import catalogue_meaning, encoder
from recommender.services.training import retrain
from tasks.intake import embed_new_papers
from tests.arrays import memory_mapped
from tests.factories import PaperFactory, UserFactory

pytestmark = pytest.mark.django_db

# A new paper on the astro readers' subject that shares no word with the astro papers' texts (TOPIC_WORDS in conftest):
# only its meaning can tell where it belongs.
NEBULA = ("Imaging faraway nebulae from an orbiting observatory", "We photograph distant interstellar clouds with a space-based mirror.")
MOLECULES = ("Molecular machines that fold amino-acid chains", "How ribosomes and chaperones shape polypeptides inside living tissue.")


@pytest.fixture(scope="module")
def sentence_encoder():
    return SentenceEncoder(device="cpu")


def test_the_encoder_gives_unit_float16_vectors_that_put_paraphrases_together(sentence_encoder):
    texts = [
        "Sparse attention for long documents",
        "Efficient transformers that read very long sequences",
        "Protein folding in yeast cells",
        "",
    ]
    vectors = sentence_encoder.transform(texts)
    assert vectors.dtype == np.float16 and vectors.shape == (4, 384)
    assert np.allclose(np.linalg.norm(vectors[:3].astype(np.float32), axis=1), 1.0, atol=2e-3)
    cosine = vectors.astype(np.float32) @ vectors.astype(np.float32).T
    assert cosine[0, 1] > 0.3 > 0.1 > cosine[0, 2]  # the paraphrase is near, the other subject far
    assert cosine[0, 1] > cosine[1, 2] + 0.25
    # Known answers (all-MiniLM-L6-v2 at 128 word pieces, as measured when the encoder was chosen): a change of
    # model, pooling or truncation moves them.
    assert cosine[0, 1] == pytest.approx(0.375, abs=0.01) and cosine[0, 2] == pytest.approx(0.061, abs=0.01)
    assert np.allclose(vectors[0, :4].astype(np.float32), [0.0126, 0.0250, -0.0086, 0.0356], atol=2e-3)
    again = sentence_encoder.transform(texts[:1])  # the same text, the same vector: keyed storage can trust it
    assert np.allclose(again[0].astype(np.float32), vectors[0].astype(np.float32), atol=1e-3)


def test_reciprocal_rank_fusion_rewards_agreement():
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 4]])
    assert [item for item, _ in fused][0] == 3  # second and first: found by both
    assert {item for item, _ in fused} == {1, 2, 3, 4}
    assert fused[0][1] == pytest.approx(1 / 63 + 1 / 61)


def test_the_blend_gives_the_meaning_its_share_of_the_content_side():
    z_als, z_content, z_meaning = np.array([0.0, 0.0]), np.array([1.0, -1.0]), np.array([-1.0, 3.0])
    known = np.array([True, True])
    blend = BlendParams(cf_weight=0.0, meaning_share=0.75, recency_boost=0.0)
    scored = blend_signals(z_als, z_content, None, known=known, wanted=5.0, blend=blend, z_meaning=z_meaning)
    assert np.allclose(scored.blended, 0.25 * z_content + 0.75 * z_meaning)
    sides = scored.sides(np.array([0, 1]))
    assert [SIDES[i] for i in np.argmax(sides, axis=0)] == ["content", "meaning"]
    without = blend_signals(z_als, z_content, None, known=known, wanted=5.0, blend=blend)
    assert np.allclose(without.blended, z_content)  # no meaning vectors: TF-IDF has the whole content side
    # A paper without a vector of its own yet (it holds the mean vector) is read by its words alone, and its reason is
    # never its meaning.
    waiting = blend_signals(
        z_als, z_content, None, known=known, wanted=5.0, blend=blend, z_meaning=z_meaning, meaning_missing=np.array([False, True])
    )
    assert np.allclose(waiting.blended, [0.25 * z_content[0] + 0.75 * z_meaning[0], z_content[1]])
    assert np.isneginf(waiting.sides(np.array([1]))[SIDES.index("meaning"), 0])


def test_a_retrain_keeps_float16_vectors_memory_mapped_with_the_model_and_in_the_database(community, meaning_on):
    run = retrain()
    assert run.is_active
    folder = meaning_on.MODEL_DIR / run.artifact
    params = json.loads((folder / "params.json").read_text())
    assert params["meaning"] == {"model": "all-minilm-l6-v2", "dimension": 384, "max_tokens": 128}
    served = store.current()
    meaning = served.model.meaning
    assert meaning.dtype == np.float16 and meaning.shape == (Paper.objects.count(), 384) and memory_mapped(meaning)
    assert (folder / "meaning.faiss").exists()
    assert PaperEmbedding.objects.count() == Paper.objects.count()
    stored = PaperEmbedding.objects.get(paper__external_id="astro-0")
    column = served.column_of[stored.paper_id]
    assert np.array_equal(np.frombuffer(bytes(stored.vector), dtype="<f2"), meaning[column])
    assert "meaning" in run.timings


def test_the_next_retrain_embeds_only_new_and_changed_papers(community, meaning_on):
    retrain()
    before = dict(PaperEmbedding.objects.values_list("paper_id", "embedded_at"))
    changed = Paper.objects.get(external_id="bio-0")
    changed.abstract = "A wholly new abstract about enzymes."
    changed.save()
    new = PaperFactory(external_id="astro-new", title=NEBULA[0], abstract=NEBULA[1])
    retrain()
    after = dict(PaperEmbedding.objects.values_list("paper_id", "embedded_at"))
    remade = {pk for pk in before if after[pk] != before[pk]}
    assert remade == {changed.pk}
    assert new.pk in after


def test_a_new_paper_embedded_at_intake_is_ranked_by_meaning_before_any_retrain(community, meaning_on):
    papers, _ = community
    reader = UserFactory(username="stargazer")
    for paper in papers["astro"][:4]:
        feedback_set(user=reader, paper=paper, kind="like", on=True)
    retrain()
    runs = TrainingRun.objects.count()
    near = PaperFactory(external_id="astro-new", title=NEBULA[0], abstract=NEBULA[1])
    far = PaperFactory(external_id="bio-new", title=MOLECULES[0], abstract=MOLECULES[1])
    waiting = taste_scores(user=reader, paper_pks=[near.pk, far.pk])  # served, no vectors yet: no word of theirs is known
    assert waiting[near.pk] == pytest.approx(waiting[far.pk], abs=1e-6)
    served = store.current()
    waiting_columns = np.array([served.column_of[near.pk], served.column_of[far.pk]])
    assert served.catalogue.meaning_missing(waiting_columns).all()
    by_words = np.asarray(served.catalogue.vectors(waiting_columns) @ served.model.words_map)  # their factors: from words alone
    assert np.allclose(served.catalogue.factors(waiting_columns), by_words, atol=1e-5)
    assert embed_new_papers() == 2  # the task after a harvest
    embedded = taste_scores(user=reader, paper_pks=[near.pk, far.pk])
    assert embedded[near.pk] > embedded[far.pk] + 0.3
    served = store.current()
    assert not served.catalogue.meaning_missing(waiting_columns).any()
    assert not np.allclose(served.catalogue.factors(waiting_columns), by_words, atol=1e-5)  # now mapped from their meaning too
    items = feed_for_user(user=reader, limit=5)
    ours = [item for item in items if item.paper == near]
    assert ours and ours[0].source == "meaning" and ours[0].reason.startswith("Close in meaning to “Astro study")
    assert far not in [item.paper for item in items]
    assert TrainingRun.objects.count() == runs  # no retrain did it


def test_similar_papers_follow_meaning_where_words_differ(community, meaning_on):
    retrain()
    new = PaperFactory(external_id="astro-new", title=NEBULA[0], abstract=NEBULA[1])
    embed_new_papers()
    store.expire()
    similar = paper_neighbours(paper=new, limit=3).similar
    assert similar and all(paper.external_id.startswith("astro") for paper in similar)


def test_hybrid_search_finds_a_paper_by_a_paraphrase_that_full_text_misses(community, meaning_on):
    retrain()
    target = PaperFactory(external_id="quantum", title="Error correction codes for superconducting qubits", abstract="Surface codes.")
    embed_new_papers()
    store.expire()
    paraphrase = "protecting quantum computers from noise"
    meaning_on.CONTENT_EMBEDDINGS = False
    assert papers_search(query=paraphrase).papers == []  # full-text alone: no word in common
    meaning_on.CONTENT_EMBEDDINGS = True
    store.clear()
    results = papers_search(query=paraphrase)
    assert results.papers[0] == target and results.hits[0].by_meaning
    exact = papers_search(query="superconducting qubits")  # a query in its words: found by both, first, not marked
    assert exact.papers[0] == target and not exact.hits[0].by_meaning
    meaning_on.SEARCH_BY_MEANING = False  # a web host that leaves the encoder out: full-text search, meaning in the feed
    assert papers_search(query=paraphrase).papers == [] and store.current().model.meaning is not None


def test_the_backfill_embeds_every_paper_once_and_resumes(community, meaning_on, capsys):
    last = Paper.objects.order_by("id").values_list("id", flat=True)[10]
    call_command("embed_papers", "--after", str(last))
    assert PaperEmbedding.objects.count() == Paper.objects.filter(id__gt=last).count()
    call_command("embed_papers")
    assert PaperEmbedding.objects.count() == Paper.objects.count()
    assert "embedded 11 of 24 papers" in capsys.readouterr().out
    call_command("embed_papers")
    assert "embedded 0 of 24 papers" in capsys.readouterr().out


def test_with_embeddings_off_nothing_is_embedded_and_the_feed_works(community, settings):
    assert settings.CONTENT_EMBEDDINGS is False
    papers, readers = community
    run = retrain()
    assert encoder() is None and catalogue_meaning([(1, "a", "b")]) is None
    assert not (settings.MODEL_DIR / run.artifact / "meaning.npy").exists()
    assert json.loads((settings.MODEL_DIR / run.artifact / "params.json").read_text())["meaning"] is None
    assert store.current().model.meaning is None and not PaperEmbedding.objects.exists()
    assert {item.paper.external_id.split("-")[0] for item in feed_for_user(user=readers["astro0"], limit=3)} == {"astro"}
    assert embed_new_papers() == 0
    with pytest.raises(CommandError, match="CONTENT_EMBEDDINGS is off"):
        call_command("embed_papers")


def test_a_retrain_embeds_at_most_its_limit_newest_first_and_says_what_waits(community, meaning_on):
    meaning_on.EMBEDDING_RETRAIN_LIMIT = 5
    run = retrain()
    newest = list(Paper.objects.order_by("-id").values_list("id", flat=True)[:5])
    assert sorted(PaperEmbedding.objects.values_list("paper_id", flat=True)) == sorted(newest)
    assert run.sizes["embedded"] == 5 and run.sizes["without_meaning"] == 19
    assert "19 papers have no meaning vector yet" in run.message and run.is_active
    served = store.current()
    waiting = [served.column_of[pk] for pk in Paper.objects.exclude(id__in=newest).values_list("id", flat=True)]
    rows = np.asarray(served.model.meaning[waiting], dtype=np.float32)
    assert np.allclose(rows, rows[0], atol=1e-3)  # the mean vector, marked: those papers are read by their words alone
    columns = np.arange(served.n_items)
    assert sorted(columns[served.catalogue.meaning_missing(columns)]) == sorted(waiting)
    query = np.asarray(served.model.meaning[waiting[:1]], dtype=np.float32)  # nothing is near the mean vector's holders
    assert not np.isin(nearest_by_meaning(served.catalogue.index.meaning_ann, query, 5)[0][0], waiting).any()
    from recommender.selectors.search import SearchFilters, papers_nearest_in_meaning

    assert set(papers_nearest_in_meaning("telescope images of galaxies", SearchFilters(), 50)) <= set(newest)  # only real vectors
    assert served.model.words_map is not None  # the waiting papers' factors: from their words
    call_command("embed_papers")
    assert PaperEmbedding.objects.count() == Paper.objects.count()
    retrain()
    assert not store.current().catalogue.meaning_missing(columns).any()


def test_an_abstract_pasted_at_onboarding_lists_the_papers_closest_to_it_and_each_can_be_picked(community, meaning_on):
    from tests.test_feed import client_for

    retrain()
    charlie = UserFactory(username="charlie")
    client = client_for(charlie)
    # About the astro readers' subject in other words than their papers' (as NEBULA): found by its meaning.
    about = "We take pictures of remote gas clouds between the stars with a mirror in orbit around the Earth."
    response = client.post("/accounts/welcome/", {"about": about})
    assert response.status_code == 302 and response["Location"] == "/accounts/welcome/?about=1#about"
    page = client.get("/accounts/welcome/", {"about": "1"}).content.decode()
    listed = page[page.index('class="papers compact close-to-about"') :]
    titles = [line.split("</form>")[-1].strip() for line in listed.split("<li>")[1:4]]
    assert all(title.startswith("Astro study") for title in titles), titles
    assert about in page  # the text stays in its box while the reader picks
    response = client.post("/accounts/welcome/", {"pick": "astro-1", "back": "about"})
    assert response["Location"] == "/accounts/welcome/?about=1#about"
    assert "✓ picked" in client.get("/accounts/welcome/", {"about": "1"}).content.decode()
    assert feedback_count(charlie) == 1
    # Bad input: a clear 400, nothing kept.
    for text, says in (("  ", "Paste an abstract"), ("x" * 5001, "paste at most 5,000")):
        response = client.post("/accounts/welcome/", {"about": text})
        assert response.status_code == 400 and says in response.content.decode()
    meaning_on.CONTENT_EMBEDDINGS = False  # a site without the model: the same box reads the words alone
    store.clear()
    page = client.get("/accounts/welcome/", {"about": "1"}).content.decode()
    assert "No paper in the catalogue is close to it yet" in page  # no astro word in the text
    client.post("/accounts/welcome/", {"about": "galaxy telescope orbit stars"})
    page = client.get("/accounts/welcome/", {"about": "1"}).content.decode()
    listed = page[page.index('class="papers compact close-to-about"') :]
    assert listed.split("<li>")[1].split("</form>")[-1].strip().startswith("Astro study")


def feedback_count(user) -> int:
    from recommender.models import Interaction

    return Interaction.objects.filter(user=user, kind="like").count()


def test_a_placeholder_counts_for_nothing_in_a_reader_s_meaning_profile():
    from scipy import sparse

    from recommender.engine.meaning import meaning_profiles

    meaning = np.eye(3, dtype=np.float16)
    weights = sparse.csr_matrix(np.array([[1.0, 2.0, 0.0]], dtype=np.float32))
    assert np.allclose(meaning_profiles(meaning, weights), [[1.0, 2.0, 0.0]])
    assert np.allclose(meaning_profiles(meaning, weights, lambda columns: columns == 1), [[1.0, 0.0, 0.0]])  # paper 1 waits
