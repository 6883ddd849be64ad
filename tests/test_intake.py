"""Papers arriving from arXiv (OAI-PMH and the API) and the daily trending list, against a local HTTP server that
answers in the shape the real services send (tests/data/intake)."""

import time
from datetime import date
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from werkzeug import Response

from recommender.models import IntakeRun, Interaction, Paper
from recommender.services.intake import intake_arxiv, intake_trending, papers_fetch_by_ids
from recommender.sources import SourceError
from recommender.sources.arxiv_oai import parse_page
from recommender.sources.records import PoliteClient
from tests.factories import PaperFactory

pytestmark = pytest.mark.django_db
DATA = Path(__file__).parent / "data" / "intake"
Status = IntakeRun.Status
FIRST = {"verb": "ListRecords", "metadataPrefix": "arXiv", "set": "cs", "from": "2026-11-26", "until": "2026-11-27"}
NEXT = {"verb": "ListRecords", "resumptionToken": "6961947|1001"}


def xml(name: str) -> Response:
    return Response((DATA / name).read_bytes(), content_type="text/xml; charset=utf-8")


def client(**options) -> PoliteClient:
    waits = []
    polite = PoliteClient(user_agent="Paperfeed-tests/1.0 (+http://testserver)", min_interval=0, sleep=waits.append, **options)
    polite.waits = waits
    return polite


def harvest(**options):
    return intake_arxiv(from_day=date(2026, 11, 26), until_day=date(2026, 11, 27), **options)


def test_a_harvest_follows_resumption_tokens_and_stores_every_field(arxiv):
    gone = PaperFactory(external_id="2610.00042", title="A paper arXiv no longer lists", source=Paper.Source.ARXIV)
    arxiv.expect_ordered_request("/oai", query_string=FIRST).respond_with_response(xml("oai_page1.xml"))
    arxiv.expect_ordered_request("/oai", query_string=NEXT).respond_with_response(xml("oai_page2.xml"))
    (run,) = harvest()
    assert run.status == Status.SUCCEEDED and run.pages == 2 and run.cursor == ""
    assert (run.created, run.updated, run.deleted) == (4, 0, 1)
    paper = Paper.objects.get(external_id="2611.01234")
    assert paper.title == "Sparse Attention with $O(n \\log n)$ Complexity: Scaling Transformers to Long Documents"
    assert paper.authors == ["María José García-López", "John A. Smith Jr", "Wei Chen"]  # affiliations left out, suffix kept
    assert paper.categories == ["cs.LG", "cs.CL", "stat.ML"] and paper.primary_category == "cs.LG"
    assert (paper.published, paper.updated) == (date(2026, 11, 25), date(2026, 11, 25))
    assert paper.doi == "10.48550/arXiv.2611.01234" and paper.license == "http://creativecommons.org/licenses/by/4.0/"
    assert paper.comments == "12 pages, 4 figures; accepted at ICLR 2027" and paper.source == Paper.Source.ARXIV
    assert paper.abstract_url == "https://arxiv.org/abs/2611.01234" and paper.pdf_url == "https://arxiv.org/pdf/2611.01234"
    gone.refresh_from_db()
    assert gone.withdrawn_at is not None  # deleted at the source: kept (with its feedback), no longer recommended
    assert Paper.objects.filter(external_id__startswith="2611.").count() == 4
    agent = arxiv.log[0][0].headers["User-Agent"]
    assert agent.startswith("Paperfeed/1.0") and "+" in agent


def test_a_new_version_updates_the_paper_in_place_and_an_old_one_never_overwrites_it(arxiv):
    arxiv.expect_ordered_request("/oai", query_string=FIRST).respond_with_response(xml("oai_page1.xml"))
    arxiv.expect_ordered_request("/oai", query_string=NEXT).respond_with_response(xml("oai_page2.xml"))
    harvest()
    pk = Paper.objects.get(external_id="2611.01234").pk
    next_day = {"verb": "ListRecords", "metadataPrefix": "arXiv", "set": "cs", "from": "2026-11-27"}
    arxiv.expect_ordered_request("/oai", query_string=next_day).respond_with_response(xml("oai_next_day.xml"))
    (run,) = intake_arxiv(from_day=date(2026, 11, 27))
    assert (run.created, run.updated) == (0, 1)
    paper = Paper.objects.get(external_id="2611.01234")
    assert paper.pk == pk and paper.title == "Sparse Attention in $O(n \\log n)$: Scaling Transformers to Long Documents"
    assert paper.authors[-1] == "Petra Novak" and paper.updated == date(2026, 11, 27) and "camera-ready" in paper.comments
    arxiv.expect_ordered_request("/oai", query_string=FIRST).respond_with_response(xml("oai_page1.xml"))  # yesterday's again
    arxiv.expect_ordered_request("/oai", query_string=NEXT).respond_with_response(xml("oai_page2.xml"))
    harvest()
    assert Paper.objects.get(pk=pk).title == paper.title


def test_line_breaks_and_double_spaces_are_tidied_and_latex_kept():
    page = parse_page((DATA / "oai_page1.xml").read_bytes())
    first = page.records[0]
    assert first.title == "Sparse Attention with $O(n \\log n)$ Complexity: Scaling Transformers to Long Documents"
    assert first.abstract.startswith("We introduce a sparse attention mechanism whose cost grows as $O(n \\log n)$ in the")
    assert "  " not in first.abstract and "\n" not in first.abstract
    assert page.token == "6961947|1001" and page.complete_size == 5


def test_running_the_same_harvest_twice_changes_nothing(arxiv):
    for _ in range(2):
        arxiv.expect_ordered_request("/oai", query_string=FIRST).respond_with_response(xml("oai_page1.xml"))
        arxiv.expect_ordered_request("/oai", query_string=NEXT).respond_with_response(xml("oai_page2.xml"))
    harvest()
    before = list(Paper.objects.order_by("pk").values())
    (again,) = harvest()
    assert again.status == Status.SUCCEEDED and (again.created, again.updated, again.deleted) == (0, 0, 0)
    assert list(Paper.objects.order_by("pk").values()) == before


def test_503_with_retry_after_is_waited_out(arxiv):
    arxiv.expect_ordered_request("/oai", query_string=FIRST).respond_with_response(
        Response("Retry later", status=503, headers={"Retry-After": "7"})
    )
    arxiv.expect_ordered_request("/oai", query_string=FIRST).respond_with_response(xml("oai_page1.xml"))
    arxiv.expect_ordered_request("/oai", query_string=NEXT).respond_with_response(xml("oai_page2.xml"))
    polite = client()
    (run,) = harvest(client=polite)
    assert run.status == Status.SUCCEEDED and polite.waits == [7.0] and polite.requests == 3


def test_requests_are_spaced_out_as_arxiv_asks(arxiv):
    arxiv.expect_ordered_request("/oai", query_string=FIRST).respond_with_response(xml("oai_page1.xml"))
    arxiv.expect_ordered_request("/oai", query_string=NEXT).respond_with_response(xml("oai_page2.xml"))
    polite = client()
    polite.min_interval = 3.0
    harvest(client=polite)
    assert len(polite.waits) == 1 and 2.5 < polite.waits[0] <= 3.0  # before the second page; the first goes at once


def test_a_malformed_page_stops_the_run_keeps_what_was_stored_and_the_next_run_resumes_there(arxiv, settings):
    arxiv.expect_ordered_request("/oai", query_string=FIRST).respond_with_response(xml("oai_page1.xml"))
    arxiv.expect_ordered_request("/oai", query_string=NEXT).respond_with_response(xml("oai_malformed.xml"))
    (failed,) = harvest()
    assert failed.status == Status.FAILED and failed.pages == 1 and failed.cursor == "6961947|1001"
    assert "page 2 is not readable XML" in failed.errors and "takes up from this page" in failed.errors
    assert Paper.objects.filter(external_id__in=["2611.01234", "2611.05678", "2611.09999"]).count() == 3  # page 1 stays
    arxiv.expect_ordered_request("/oai", query_string=NEXT).respond_with_response(xml("oai_malformed.xml"))  # still broken
    with pytest.raises(CommandError, match="did not finish"):
        call_command("fetch_papers", "arxiv", "--from", "2026-11-26", "--until", "2026-11-27")
    arxiv.expect_ordered_request("/oai", query_string=NEXT).respond_with_response(xml("oai_page2.xml"))
    (resumed,) = harvest()
    assert resumed.status == Status.SUCCEEDED and resumed.resumed_from is not None and resumed.pages == 2
    assert len(arxiv.log) == 4 and all("resumptionToken" in request.args for request, _ in arxiv.log[1:])  # page 1 not asked again
    assert Paper.objects.filter(external_id="2611.04321").exists()


def test_an_empty_day_is_a_successful_run_with_nothing_in_it(arxiv):
    arxiv.expect_ordered_request("/oai", query_string=FIRST).respond_with_response(xml("oai_no_records.xml"))
    (run,) = harvest()
    assert run.status == Status.SUCCEEDED and (run.pages, run.created, run.errors) == (1, 0, "")


def test_a_timeout_fails_the_run_cleanly(arxiv):
    def slow(request):
        time.sleep(1.5)
        return xml("oai_page1.xml")

    arxiv.expect_ordered_request("/oai", query_string=FIRST).respond_with_handler(slow)
    (run,) = harvest(client=client(timeout=0.3))
    assert run.status == Status.FAILED and "no answer within 0.3 seconds" in run.errors and not run.in_progress


def test_without_network_the_command_fails_with_a_clear_message_and_stores_nothing(db, settings):
    settings.ARXIV_OAI_URL, settings.INTAKE_REQUEST_INTERVAL = "http://127.0.0.1:9/oai", 0  # nothing listens on port 9
    with pytest.raises(CommandError, match="did not finish"):
        call_command("fetch_papers", "arxiv", "--from", "2026-11-26")
    run = IntakeRun.objects.get()
    assert run.status == Status.FAILED and "cannot be reached" in run.errors and not Paper.objects.exists()


def test_only_the_chosen_categories_are_kept(arxiv, settings):
    settings.INTAKE_ARXIV_CATEGORIES = ["cs.CL", "cs.PL"]
    arxiv.expect_ordered_request("/oai", query_string=FIRST).respond_with_response(xml("oai_page1.xml"))
    arxiv.expect_ordered_request("/oai", query_string=NEXT).respond_with_response(xml("oai_page2.xml"))
    (run,) = harvest()
    assert set(Paper.objects.values_list("external_id", flat=True)) == {"2611.01234", "2611.09999", "2611.04321"}
    assert run.skipped == 1  # the protein paper (q-bio.BM, cs.LG)


def test_the_next_harvest_starts_a_day_before_the_last_one_ended(arxiv):
    arxiv.expect_ordered_request("/oai", query_string=FIRST).respond_with_response(xml("oai_page1.xml"))
    arxiv.expect_ordered_request("/oai", query_string=NEXT).respond_with_response(xml("oai_page2.xml"))
    harvest()
    arxiv.expect_ordered_request(
        "/oai", query_string={"verb": "ListRecords", "metadataPrefix": "arXiv", "set": "cs", "from": "2026-11-26"}
    ).respond_with_response(xml("oai_no_records.xml"))
    (run,) = intake_arxiv()
    assert run.window_from == date(2026, 11, 26) and run.status == Status.SUCCEEDED


def test_one_harvest_at_a_time_per_source(arxiv):
    IntakeRun.objects.create(source=IntakeRun.Source.ARXIV, in_progress=True, claimed_by="another-host:1", heartbeat_at=time_now())
    with pytest.raises(CommandError, match="already running"):
        call_command("fetch_papers", "arxiv")
    assert IntakeRun.objects.count() == 1


def time_now():
    from django.utils import timezone

    return timezone.now()


def test_the_trending_list_adds_papers_and_keeps_their_upvotes_without_erasing_arxiv_fields(arxiv):
    arxiv.expect_ordered_request("/oai", query_string=FIRST).respond_with_response(xml("oai_page1.xml"))
    arxiv.expect_ordered_request("/oai", query_string=NEXT).respond_with_response(xml("oai_page2.xml"))
    harvest()
    arxiv.expect_request("/api/daily_papers", query_string={"date": "2026-11-27"}).respond_with_data(
        (DATA / "hf_daily.json").read_bytes(), content_type="application/json"
    )
    run = intake_trending(day=date(2026, 11, 27))
    assert run.status == Status.SUCCEEDED and (run.created, run.updated) == (1, 1)
    known = Paper.objects.get(external_id="2611.01234")
    assert known.upvotes == 87 and known.trending_on == date(2026, 11, 27) and known.categories == ["cs.LG", "cs.CL", "stat.ML"]
    new = Paper.objects.get(external_id="2611.08888")
    assert new.title == "Video World Models from Unlabelled Clips" and new.upvotes == 12 and new.source == Paper.Source.TRENDING
    assert new.authors == ["Kenji Watanabe"] and new.published == date(2026, 11, 26)


def test_papers_by_id_come_from_the_arxiv_api(arxiv):
    arxiv.expect_request("/api/query").respond_with_response(xml("api_feed.xml"))
    papers = papers_fetch_by_ids(["2611.07777", "1706.03762"])
    assert [p.external_id for p in papers] == ["2611.07777", "1706.03762"]
    weather = papers[0]
    assert weather.title == "Diffusion Models for Weather Forecasting" and weather.version == 3
    assert weather.categories == ["physics.ao-ph", "cs.LG"] and weather.doi == "10.1000/xyz123" and weather.comments == "20 pages"
    assert weather.authors == ["Ana Souza", "Tom Becker"] and weather.published == date(2026, 11, 3)
    assert arxiv.log[0][0].args["id_list"] == "1706.03762,2611.07777"
    assert papers_fetch_by_ids(["2611.07777"]) == [weather] and len(arxiv.log) == 1  # known now: arXiv is not asked again


def test_pasting_unknown_arxiv_ids_at_onboarding_fetches_and_likes_them(arxiv, alice, alice_client):
    arxiv.expect_request("/api/query").respond_with_response(xml("api_feed.xml"))
    response = alice_client.post("/accounts/welcome/", {"references": "arXiv:2611.07777v3\nhttps://arxiv.org/abs/1706.03762\n2611.99999"})
    page = response.content.decode()
    assert response.status_code == 200 and "Found 2 papers (2 just taken in from arXiv)" in page and "1 not found" in page
    assert set(Interaction.objects.filter(user=alice, kind="like").values_list("paper__external_id", flat=True)) == {
        "2611.07777",
        "1706.03762",
    }


def test_when_arxiv_is_slow_onboarding_answers_at_once_and_says_the_papers_will_follow(arxiv, alice, alice_client, settings):
    settings.INTAKE_PASTE_WAIT_SECONDS = 0.3

    def slow(request):
        time.sleep(1.5)
        return xml("api_feed.xml")

    arxiv.expect_request("/api/query").respond_with_handler(slow)
    started = time.monotonic()
    response = alice_client.post("/accounts/welcome/", {"references": "2611.07777"})
    assert time.monotonic() - started < 1.2
    assert "will be added to your picks in a minute" in response.content.decode() and "2611.07777" in response.content.decode()
    assert IntakeRun.objects.get(source=IntakeRun.Source.IDS).status == Status.FAILED


def test_a_bad_answer_from_the_api_is_a_clear_error(arxiv):
    arxiv.expect_request("/api/query").respond_with_data("Rate exceeded.", status=429, headers={"Retry-After": "1"})
    with pytest.raises(SourceError, match="429"):
        papers_fetch_by_ids(["2611.07777"], client=client(max_retries=0))


def test_import_papers_reads_the_arxiv_metadata_snapshot(db, capsys):
    call_command("import_papers", str(DATA / "snapshot.jsonl"))
    assert "3 papers created" in capsys.readouterr().out
    first = Paper.objects.get(external_id="0704.0001")
    assert first.title == "Calculation of prompt diphoton production cross sections at Tevatron and LHC energies"
    assert first.authors == ["C. Balázs", "E. L. Berger", "P. M. Nadolsky", "C. -P. Yuan"] and first.categories == ["hep-ph"]
    assert (first.published, first.updated, first.version) == (date(2007, 4, 2), date(2008, 11, 13), 2)
    assert first.doi == "10.1103/PhysRevD.76.013009" and first.abstract.startswith("A fully differential calculation")
    old = Paper.objects.get(external_id="hep-th/9901001")
    assert old.authors == ["A. Author", "B. Writer Jr."] and old.primary_category == "hep-th"
    assert Paper.objects.get(external_id="2611.01234").version == 3
    call_command("import_papers", str(DATA / "snapshot.jsonl"))
    assert "0 papers created, 0 updated, 3 unchanged" in capsys.readouterr().out


def test_a_bad_snapshot_line_names_the_line_and_imports_nothing(db, tmp_path):
    lines = (DATA / "snapshot.jsonl").read_text().splitlines()
    broken = tmp_path / "snapshot.jsonl"
    broken.write_text(
        "\n".join([lines[0], lines[1], '{"id": "2611.0", "title": "x", "versions": [], "authors_parsed": []}', lines[2]]) + "\n"
    )
    with pytest.raises(CommandError, match=r"snapshot.jsonl, line 3: 'id' is not an arXiv id"):
        call_command("import_papers", str(broken))
    assert not Paper.objects.exists()
