"""What no source can do to the site: hostile stand-ins for arXiv's OAI-PMH endpoint, its API and the trending list,
served on loopback by pytest-httpserver, one shape each (issue 23's table, row by row). Every run ends, with a status
and a reason; a bad record is refused and counted, never written half, and never stops the records after it."""

import gzip
import threading
import time
from datetime import date
from pathlib import Path

import pytest
from django.urls import reverse
from werkzeug import Request, Response

from config.ratelimit import rate_limit_hit
from recommender.models import IntakeRun, Paper
from recommender.services.intake import intake_arxiv, intake_trending, papers_fetch_by_ids
from recommender.services.onboarding import pasted_references_like
from recommender.sources import SourceError, SourceTimeout
from recommender.sources.arxiv_oai import parse_page
from recommender.sources.records import PoliteClient, arxiv_id_normalised
from tests.factories import PaperFactory
from tests.test_intake import FIRST, xml

pytestmark = pytest.mark.django_db
Status = IntakeRun.Status
WINDOW = {"from_day": date(2026, 11, 26), "until_day": date(2026, 11, 27)}


def oai_page(*records: str, token: str = "", size: str = "") -> Response:
    resumption = f'<resumptionToken cursor="0"{f" completeListSize={size!r}" if size else ""}>{token}</resumptionToken>'
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords>'
        + "".join(records)
        + (resumption if token or size else "")
        + "</ListRecords></OAI-PMH>"
    )
    return Response(body.encode(), content_type="text/xml")


def record(arxiv_id: str, title: str = "A fine title", *, version: str = "", categories: str = "cs.LG", doi: str = "") -> str:
    return (
        f"<record><header><identifier>oai:arXiv.org:{arxiv_id}</identifier></header><metadata>"
        f'<arXiv xmlns="http://arxiv.org/OAI/arXiv/"><id>{arxiv_id}{version}</id><created>2026-11-25</created>'
        f"<authors><author><keyname>Okafor</keyname><forenames>Chidi</forenames></author></authors><title>{title}</title>"
        f"<categories>{categories}</categories><doi>{doi}</doi><abstract>An abstract.</abstract></arXiv></metadata></record>"
    )


def polite(**options) -> PoliteClient:
    return PoliteClient(user_agent="Paperfeed-tests/1.0", min_interval=0, **options)


# 1 -- over-long fields and impossible versions are refused or cut, and the harvest moves on


def test_over_long_fields_are_cut_or_refused_and_the_records_after_them_are_stored(arxiv):
    arxiv.expect_ordered_request("/oai", query_string=FIRST).respond_with_response(
        oai_page(
            record("2611.00001", "T" * 100_010),
            record("2611.00002", version="v99999"),
            record("2611.00003", categories="cs.LG " + "x" * 300),
            record("2611.00004", doi="10." + "9" * 500),
            record("2611." + "1" * 200),
            record("2611.00005", "The one after them all"),
        )
    )
    (run,) = intake_arxiv(**WINDOW)
    assert run.status == Status.SUCCEEDED and not run.in_progress
    assert run.created == 4 and run.rejected == 2  # the version and the id were refused; the rest were cut to fit
    assert len(Paper.objects.get(external_id="2611.00001").title) == 500
    assert Paper.objects.get(external_id="2611.00003").categories == ["cs.LG"]
    assert len(Paper.objects.get(external_id="2611.00004").doi) == 200
    assert Paper.objects.filter(external_id="2611.00005").exists()
    assert "version 99999 is out of range" in run.errors and "title cut from 100,010 to 500 characters" in run.errors


# 2 -- an answer that trickles in is cut off by the request's deadline, not held until the worker dies


def trickle(request: Request) -> Response:
    def body():
        for _ in range(50):
            time.sleep(0.2)
            yield b" "

    return Response(body(), content_type="text/xml")


def test_a_trickling_answer_is_cut_off_at_the_whole_requests_deadline(arxiv):
    arxiv.expect_request("/api/query").respond_with_handler(trickle)
    clock = time.monotonic()
    with pytest.raises(SourceTimeout, match="whole answer"):
        papers_fetch_by_ids(["2611.01234"], timeout=1.0)
    assert time.monotonic() - clock < 3  # a per-read timeout alone would have waited 10 s
    assert IntakeRun.objects.get(source=IntakeRun.Source.IDS).status == Status.FAILED


def test_a_harvest_ends_at_its_runs_deadline(arxiv, settings):
    settings.INTAKE_RUN_DEADLINE_SECONDS = 1.0
    settings.INTAKE_TIMEOUT_SECONDS = 30.0
    arxiv.expect_request("/oai").respond_with_handler(trickle)
    clock = time.monotonic()
    (run,) = intake_arxiv(**WINDOW)
    assert time.monotonic() - clock < 3 and run.status == Status.FAILED and not run.in_progress


# 3 -- one reader cannot flood arXiv: one pace for the process, and a few fetches a minute per reader


def test_pastes_keep_arxivs_pace_and_a_reader_is_limited_per_minute(arxiv, settings, alice):
    settings.INTAKE_REQUEST_INTERVAL = 0.3
    settings.INTAKE_PASTE_FETCHES_PER_MINUTE = 2
    settings.ARXIV_API_URL = f"http://127.0.0.1:{arxiv.port}/api/query"  # (localhost may try ::1 first, delaying one arrival)
    arrived = []

    def answer(request: Request) -> Response:
        arrived.append(time.monotonic())
        return xml("api_feed.xml")

    arxiv.expect_request("/api/query").respond_with_handler(answer)
    clock = time.monotonic()
    for n in range(2):
        pasted_references_like(user=alice, text="\n".join(f"2612.{n}{k:04d}" for k in range(3)))
    assert time.monotonic() - clock >= 0.3  # the second request started arXiv's pause after the first
    for n in range(2, 4):
        pasted_references_like(user=alice, text="\n".join(f"2612.{n}{k:04d}" for k in range(3)))
    assert len(arrived) == 2  # the third and fourth pastes of the minute did not ask arXiv
    told = pasted_references_like(user=alice, text="2612.09999")
    assert "in a minute" in told.source_error


def test_the_pace_is_one_for_the_whole_process(arxiv):
    arrived = []
    arxiv.expect_request("/oai").respond_with_handler(lambda request: arrived.append(time.monotonic()) or Response("ok"))
    url = f"http://127.0.0.1:{arxiv.port}/oai"
    clients = [PoliteClient(user_agent="t", min_interval=0.3) for _ in range(3)]
    threads = [threading.Thread(target=c.get, args=(url,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(arrived) == 3 and max(arrived) - min(arrived) >= 0.4  # three starts 0.3 s apart: 0.6 s from first to last


# 4 -- a paste whose answer has a 10,000-character title: no 500, nothing left running


def test_a_huge_title_from_the_api_is_cut_and_the_run_ends(arxiv):
    feed = (xml("api_feed.xml").get_data()).replace(b"<title>", b"<title>" + b"W" * 10_000, 1)
    arxiv.expect_request("/api/query").respond_with_data(feed, content_type="application/atom+xml")
    papers_fetch_by_ids(["2611.01234"])
    run = IntakeRun.objects.get(source=IntakeRun.Source.IDS)
    assert run.status == Status.SUCCEEDED and all(len(p.title) <= 500 for p in Paper.objects.all())


# 5 -- no answer may be larger than we read, as sent or inflated


def test_a_huge_answer_and_a_gzip_bomb_are_refused_at_the_cap(arxiv):
    arxiv.expect_request("/big").respond_with_data(b"x" * (3 * 2**20))
    bomb = gzip.compress(b"\0" * (40 * 2**20))
    assert len(bomb) < 100_000
    arxiv.expect_request("/bomb").respond_with_data(bomb, headers={"Content-Encoding": "gzip"})
    client = polite(max_bytes=2**20)
    for path in ("/big", "/bomb"):
        with pytest.raises(SourceError, match="larger than|more than"):
            client.get(arxiv.url_for(path))


# 6 -- a resumption token that never changes ends the run


def test_a_resumption_token_seen_twice_ends_the_run(arxiv):
    arxiv.expect_request("/oai").respond_with_response(oai_page(record("2611.00001"), token="same|1001"))
    (run,) = intake_arxiv(**WINDOW)
    assert run.status == Status.FAILED and "a second time" in run.errors and run.cursor == "" and run.pages == 1
    assert len(arxiv.log) == 2


# 7 -- no id makes a path outside /papers/ and /feedback/


def test_an_id_that_climbs_out_of_its_route_is_refused_and_never_a_link_that_does(arxiv, client, alice_client):
    arxiv.expect_request("/oai").respond_with_response(oai_page(record("../accounts/settings/reset-taste/"), record("2611.00007")))
    (run,) = intake_arxiv(**WINDOW)
    assert run.rejected == 1 and not Paper.objects.filter(external_id__contains="..").exists()
    stored_before = PaperFactory(external_id="../accounts/settings/reset-taste")  # as one might have been before the check
    assert stored_before.feedback_url == "/feedback/..%2Faccounts%2Fsettings%2Freset-taste"  # one segment, never ".."
    response = alice_client.post(stored_before.feedback_url, {"kind": "like"})
    assert response.status_code in (200, 302) and stored_before.interactions.count() == 1  # a like of that paper, no reset
    with pytest.raises(Exception, match="address"):
        from recommender.engine.exchange import _paper_from_object

        _paper_from_object("papers.jsonl", 1, {"id": "a/../b", "title": "t"})


# 8 -- an entity bomb or an external entity ends the run with its reason


@pytest.mark.parametrize(
    "xml_text",
    [
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><OAI-PMH>&lol2;</OAI-PMH>',
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><OAI-PMH>&xxe;</OAI-PMH>',
    ],
)
def test_an_entity_bomb_or_xxe_fails_the_run_with_a_reason(arxiv, xml_text):
    arxiv.expect_request("/oai").respond_with_data(xml_text, content_type="text/xml")
    (run,) = intake_arxiv(**WINDOW)
    assert run.status == Status.FAILED and not run.in_progress and "refuse to read" in run.errors


# 9 -- the trending list: bad items are left out, good ones kept, the run ends


def test_a_hostile_trending_list_keeps_its_good_items(arxiv):
    items = [
        {"paper": {"id": "2611.00011", "title": "Lone \ud800 surrogate", "upvotes": 3}},
        {"paper": {"id": "2611.00012", "title": 123, "authors": "not a list", "upvotes": "9"}},
        {"paper": {"id": "2611.00013", "title": "Huge upvotes", "upvotes": 10**30}},
        {"paper": {"id": ["2611.00014"], "title": "An id that is a list"}},
        {"paper": {"id": "2611.00015", "title": "Good", "authors": [{"name": 5}, {"name": "Ada"}], "upvotes": True}},
    ]
    arxiv.expect_request("/api/daily_papers").respond_with_json(items)
    run = intake_trending(day=date(2026, 11, 27))
    assert run.status == Status.SUCCEEDED and not run.in_progress
    assert set(Paper.objects.values_list("external_id", flat=True)) == {"2611.00013", "2611.00015"}
    assert run.rejected == 1 and "surrogate" in run.errors
    assert Paper.objects.get(external_id="2611.00013").upvotes == 10**6
    good = Paper.objects.get(external_id="2611.00015")
    assert good.authors == ["Ada"] and good.upvotes == 0


# 10 -- "²" is a digit to Python, not a number


def test_superscript_digits_in_counts_and_retry_after_are_not_numbers(arxiv):
    page = parse_page(oai_page(record("2611.00001"), token="t|1", size="²").get_data())
    assert page.complete_size is None and page.token == "t|1"
    arxiv.expect_ordered_request("/busy").respond_with_response(Response("busy", status=503, headers={"Retry-After": "²"}))
    arxiv.expect_ordered_request("/busy").respond_with_data("ok")
    waits = []
    client = PoliteClient(user_agent="t", min_interval=0, sleep=waits.append)
    assert client.get(arxiv.url_for("/busy")).content == b"ok" and waits == [10.0]


# 11 -- the newest version wins whatever the order; one spelling per id; arXiv owns the metadata


def test_the_newest_version_wins_in_any_order_and_old_style_ids_have_one_spelling(arxiv):
    arxiv.expect_request("/oai").respond_with_response(
        oai_page(
            record("2611.00020", "Third version", version="v3"),
            record("2611.00020", "Second version", version="v2"),
            record("HEP-TH/9901001", "Old style, upper case"),
        )
    )
    intake_arxiv(**WINDOW)
    assert Paper.objects.get(external_id="2611.00020").title == "Third version"
    assert arxiv_id_normalised("math.gt/0309136") == "math.GT/0309136" and arxiv_id_normalised("٢٧٦٤.٠١٢٣٤") is None
    assert list(Paper.objects.filter(external_id__iexact="hep-th/9901001").values_list("external_id", flat=True)) == ["hep-th/9901001"]


def test_the_trending_list_adds_its_signal_without_rewriting_arxivs_metadata(arxiv):
    arxiv.expect_request("/oai").respond_with_response(oai_page(record("2611.01234", "arXiv's own title")))
    intake_arxiv(**WINDOW)
    arxiv.expect_request("/api/daily_papers").respond_with_response(
        Response((xml("hf_daily.json").get_data()), content_type="application/json")
    )
    intake_trending(day=date(2026, 11, 27))
    paper = Paper.objects.get(external_id="2611.01234")
    assert paper.title == "arXiv's own title" and paper.authors == ["Chidi Okafor"]
    assert paper.upvotes == 87 and paper.trending_on == date(2026, 11, 27) and paper.source == Paper.Source.ARXIV
    newcomer = Paper.objects.get(external_id="2611.08888")  # first heard of on the list: its text is the list's
    assert newcomer.source == Paper.Source.TRENDING and newcomer.title == "Video World Models from Unlabelled Clips"


# 12 -- a deletion applies only to papers that came from arXiv


def test_an_oai_deletion_withdraws_only_arxivs_papers(arxiv):
    mine = PaperFactory(external_id="2611.00030", source=Paper.Source.IMPORT)
    theirs = PaperFactory(external_id="2611.00031", source=Paper.Source.ARXIV)
    deleted = "".join(
        f'<record><header status="deleted"><identifier>oai:arXiv.org:{i}</identifier></header></record>'
        for i in ("2611.00030", "2611.00031")
    )
    arxiv.expect_request("/oai").respond_with_response(oai_page(deleted))
    (run,) = intake_arxiv(**WINDOW)
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.withdrawn_at is None and theirs.withdrawn_at is not None and run.deleted == 1


# 13 -- redirects only to the same host


def test_a_redirect_to_another_host_is_not_followed(arxiv):
    arxiv.expect_request("/away").respond_with_response(Response("", status=302, headers={"Location": "http://127.0.0.2:6379/"}))
    arxiv.expect_request("/here").respond_with_response(Response("", status=301, headers={"Location": "/there"}))
    arxiv.expect_request("/there").respond_with_data("arrived")
    client = polite()
    with pytest.raises(SourceError, match="another host"):
        client.get(arxiv.url_for("/away"))
    assert client.get(arxiv.url_for("/here")).content == b"arrived"


# 14 -- digits of other scripts are not an arXiv id, and a huge comment is stopped by the cap


def test_unicode_digits_are_never_sent_to_arxiv(arxiv, alice):
    result = pasted_references_like(user=alice, text="٢٧٦٤.٠١٢٣٤")
    assert result.papers == [] and len(arxiv.log) == 0


# every run ends, and a page that keeps failing is stepped over


def test_any_error_ends_the_run_and_a_page_that_failed_three_times_is_stepped_over(arxiv, monkeypatch):
    """A fault injected into the store (as a database error or a bug would be): each run ends failed with the reason, and
    the fourth run steps over the page."""
    import recommender.services.intake as intake

    arxiv.expect_ordered_request("/oai", query_string=FIRST).respond_with_response(oai_page(record("2611.00040"), token="list|1001"))
    for _ in range(3):
        arxiv.expect_ordered_request("/oai", query_string={"verb": "ListRecords", "resumptionToken": "list|1001"}).respond_with_data(
            "<not xml"
        )
    arxiv.expect_ordered_request("/oai", query_string={"verb": "ListRecords", "resumptionToken": "list|2001"}).respond_with_response(
        oai_page(record("2611.00041"))
    )
    runs = [intake_arxiv(**WINDOW)[0] for _ in range(3)]
    assert [r.status for r in runs] == [Status.FAILED] * 3 and all(not r.in_progress for r in runs)
    assert runs[-1].page_failures == 3 and runs[-1].cursor == "list|1001"
    (fourth,) = intake_arxiv(**WINDOW)
    assert fourth.status == Status.SUCCEEDED and "failed 3 times in a row and was skipped" in fourth.errors
    assert Paper.objects.filter(external_id="2611.00041").exists()

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(intake, "papers_upsert", broken)
    arxiv.expect_request("/oai").respond_with_response(oai_page(record("2611.00042")))
    (failed,) = intake_arxiv(from_day=date(2026, 11, 28), until_day=date(2026, 11, 29))
    assert failed.status == Status.FAILED and not failed.in_progress and "RuntimeError: the database went away" in failed.errors


def test_fetch_papers_never_leaves_a_run_running(arxiv):
    from django.core.management import call_command

    arxiv.expect_request("/oai").respond_with_data("<OAI-PMH><ListRecords>", content_type="text/xml")
    with pytest.raises(Exception):
        call_command("fetch_papers", "arxiv", "--from", "2026-11-26", "--until", "2026-11-27")
    assert not IntakeRun.objects.filter(status=Status.RUNNING).exists()


# the API's rate limit: no burst across a window's edge passes twice the rate


def test_a_burst_across_a_windows_edge_is_held_to_the_limit(monkeypatch):
    import config.ratelimit as ratelimit

    clock = [6000.0 * 60 - 1.0]  # a second before a minute's edge
    monkeypatch.setattr(ratelimit.time, "time", lambda: clock[0])
    before = sum(rate_limit_hit("burst", limit=10, period=60)[0] for _ in range(10))
    clock[0] += 2.0  # two seconds later, across the edge
    after = sum(rate_limit_hit("burst", limit=10, period=60)[0] for _ in range(10))
    assert before == 10 and after == 0
    clock[0] += 60.0 + 60 / ratelimit.BUCKETS  # a whole period after the refused ones (they count: hammering does not help)
    assert rate_limit_hit("burst", limit=10, period=60)[0]


def test_the_welcome_page_says_when_arxiv_was_asked_too_often(arxiv, settings, alice_client):
    settings.INTAKE_PASTE_FETCHES_PER_MINUTE = 1
    arxiv.expect_request("/api/query").respond_with_response(xml("api_feed.xml"))
    for n in range(2):
        page = alice_client.post(reverse("welcome"), {"references": f"2612.0{n}001"}, follow=True)
    assert page.status_code == 200 and "in a minute" in page.text


def test_a_snapshot_line_that_fails_the_check_names_its_line_and_imports_nothing(tmp_path):
    import json

    from django.core.management import CommandError, call_command

    lines = [json.loads(line) for line in (Path(__file__).parent / "data" / "intake" / "snapshot.jsonl").read_text().splitlines()]
    lines[1]["update_date"] = "2999-01-01"
    path = tmp_path / "snapshot.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    with pytest.raises(CommandError, match=r"line 2: .*updated 2999-01-01 is out of range. Nothing was imported"):
        call_command("import_papers", str(path))
    assert not Paper.objects.exists()
