"""The weekly digest: what goes in, once a week at most, signed links, one-click unsubscribe, preview."""

import re
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts.models import User
from recommender.models import DigestLog, Interaction, Paper
from recommender.services.digests import digest_batch_send, digests_compose, week_of
from recommender.services.feedback import feedback_set
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
Status = DigestLog.Status


@pytest.fixture(autouse=True)
def https_site(settings):
    settings.SITE_URL = "https://paperfeed.test"


@pytest.fixture
def subscribers(community):
    """Three readers who asked for the email (one per topic) and one who did not."""
    _, readers = community
    chosen = [readers["astro1"], readers["bio2"], readers["lang3"]]
    User.objects.filter(pk__in=[r.pk for r in chosen]).update(weekly_digest=True)
    User.objects.filter(pk=readers["astro2"].pk).update(weekly_digest=False)
    return [User.objects.get(pk=r.pk) for r in chosen]


def links(message) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {"open": [], "like": [], "dismiss": []}
    for label, url in re.findall(r"(Open|Like|Not interested): (https://\S+)", message.body):
        found[{"Open": "open", "Like": "like", "Not interested": "dismiss"}[label]].append(url)
    return found


def path_of(url: str) -> str:
    return url.replace("https://paperfeed.test", "")


def test_each_subscriber_gets_one_email_with_both_parts_and_unsubscribe_headers(subscribers, settings):
    call_command("send_digests")
    assert sorted(m.to[0] for m in mail.outbox) == sorted(u.email for u in subscribers)
    for message in mail.outbox:
        assert message.alternatives[0][1] == "text/html" and "<table" in message.alternatives[0][0]
        assert message.extra_headers["List-Unsubscribe"].startswith("<https://paperfeed.test/digest/unsubscribe/")
        assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert "for you this week" in message.subject
        found = links(message)
        assert 1 <= len(found["like"]) <= settings.DIGEST_SIZE
        assert len(found["open"]) == len(found["like"]) == len(found["dismiss"]) == message.alternatives[0][0].count("Not interested</a>")
        assert "Why: " in message.body and "Unsubscribe: https://" in message.body
    assert DigestLog.objects.filter(status=Status.SENT).count() == 3


def test_sending_twice_in_a_week_sends_nothing_more(subscribers, capsys):
    call_command("send_digests")
    call_command("send_digests")
    assert len(mail.outbox) == 3
    assert "0 sent" in capsys.readouterr().out.splitlines()[-1]


def test_a_reader_with_nothing_new_gets_no_email_and_the_log_says_so(subscribers):
    reader = subscribers[0]
    for paper in Paper.objects.all():
        Interaction.objects.create(user=reader, paper=paper, kind="read")
    call_command("send_digests")
    assert reader.email not in [m.to[0] for m in mail.outbox]
    log = DigestLog.objects.get(user=reader)
    assert log.status == Status.SKIPPED and "Nothing new" in log.note


def test_the_digest_leaves_out_read_dismissed_and_already_sent_papers(subscribers):
    reader = subscribers[1]
    last_week = week_of() - timedelta(days=7)
    first = digests_compose(users=[reader], week=last_week)[0]
    DigestLog.objects.create(
        user=reader, week=last_week, status=Status.SENT, papers=[i.paper.pk for i in first.items[:2]], sent_at=timezone.now()
    )
    dismissed = first.items[2].paper
    feedback_set(user=reader, paper=dismissed, kind="dismiss", on=True)
    now = digests_compose(users=[reader], week=week_of())[0]
    chosen = {i.paper.pk for i in now.items}
    assert not chosen & {i.paper.pk for i in first.items[:2]}
    assert dismissed.pk not in chosen
    assert not chosen & set(Interaction.objects.filter(user=reader).values_list("paper_id", flat=True))


def test_papers_added_since_the_last_digest_come_first(subscribers):
    from recommender.model_store import store

    reader = subscribers[2]  # likes language papers
    week = week_of()
    DigestLog.objects.create(
        user=reader, week=week - timedelta(days=7), status=Status.SENT, papers=[], sent_at=timezone.now() - timedelta(days=7)
    )
    Paper.objects.update(added_at=timezone.now() - timedelta(days=30))
    store.clear()
    before = [i.paper for i in digests_compose(users=[reader], week=week)[0].items]
    language = [p for p in before if p.external_id.startswith("lang")]
    last = language[-1]
    assert before.index(last) > 0
    Paper.objects.filter(pk=last.pk).update(added_at=timezone.now() - timedelta(days=1))
    store.clear()
    after = [i.paper for i in digests_compose(users=[reader], week=week)[0].items]
    assert after[0] == last  # added since the last digest, so it leads


def test_a_row_left_sending_by_a_crash_is_not_sent_again_but_pending_ones_are(subscribers):
    week = week_of()
    DigestLog.objects.create(user=subscribers[0], week=week, status=Status.SENDING)
    DigestLog.objects.create(user=subscribers[1], week=week, status=Status.PENDING)
    digest_batch_send(user_ids=[u.pk for u in subscribers], week=week)
    assert sorted(m.to[0] for m in mail.outbox) == sorted([subscribers[1].email, subscribers[2].email])


def test_action_links_confirm_on_get_and_act_on_post_for_the_signed_reader(subscribers):
    reader = subscribers[0]
    call_command("send_digests")
    message = next(m for m in mail.outbox if m.to == [reader.email])
    like_url = path_of(links(message)["like"][0])
    client = Client(enforce_csrf_checks=True)
    before = Interaction.objects.filter(user=reader).count()
    page = client.get(like_url)
    assert page.status_code == 200 and "Like this paper" in page.text
    assert Interaction.objects.filter(user=reader).count() == before  # a GET records nothing (mail scanners follow links)
    before = Interaction.objects.filter(user=reader, kind="like").count()
    token = client.cookies["csrftoken"].value
    done = client.post(like_url, {"csrfmiddlewaretoken": token})
    assert done.status_code == 200 and "Liked" in done.text
    assert Interaction.objects.filter(user=reader, kind="like").count() == before + 1
    assert Interaction.objects.filter(user=reader, kind="like").latest("pk").via == "email"  # acted on the email's recommendation
    dismiss_url = path_of(links(message)["dismiss"][1])
    client.post(dismiss_url, {"csrfmiddlewaretoken": token})
    assert Interaction.objects.filter(user=reader, kind="dismiss").count() == 1
    open_url = path_of(links(message)["open"][2])
    opened = client.post(open_url, {"csrfmiddlewaretoken": token})
    assert opened.status_code == 302 and Interaction.objects.filter(user=reader, kind="read").count() >= 1


def test_tampered_expired_and_other_readers_links_are_refused_and_record_nothing(subscribers, monkeypatch, settings):
    reader, other = subscribers[0], subscribers[1]
    call_command("send_digests")
    message = next(m for m in mail.outbox if m.to == [reader.email])
    like_url = path_of(links(message)["like"][0])
    before = Interaction.objects.count()
    tampered = like_url[:-3] + ("x" if like_url[-3] != "x" else "y") + like_url[-2:]
    for response in (Client().get(tampered), Client().post(tampered)):
        assert response.status_code == 400 and "not valid" in response.text
    as_other = Client()
    as_other.force_login(other, backend="django.contrib.auth.backends.ModelBackend")
    refused = as_other.post(like_url)
    assert refused.status_code == 400 and "another reader" in refused.text
    real_time = time.time
    monkeypatch.setattr("django.core.signing.time.time", lambda: real_time() + (settings.DIGEST_LINK_MAX_AGE_DAYS + 1) * 86400)
    expired = Client().post(like_url)
    assert expired.status_code == 400 and "expired" in expired.text
    assert Interaction.objects.count() == before


def test_one_click_unsubscribe_needs_no_session_and_no_csrf_and_only_stops_the_signed_reader(subscribers):
    reader, other = subscribers[0], subscribers[1]
    call_command("send_digests")
    message = next(m for m in mail.outbox if m.to == [reader.email])
    url = path_of(message.extra_headers["List-Unsubscribe"].strip("<>"))
    client = Client(enforce_csrf_checks=True)
    assert "Stop the weekly email?" in client.get(url).text
    reader.refresh_from_db()
    assert reader.weekly_digest  # a GET changes nothing
    response = client.post(url, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200 and "You are unsubscribed" in response.text
    reader.refresh_from_db()
    other.refresh_from_db()
    assert not reader.weekly_digest and other.weekly_digest
    bad = client.post(url[:-4] + "abc/", "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert bad.status_code == 400
    other.refresh_from_db()
    assert other.weekly_digest


def test_preview_shows_what_would_be_sent_and_sends_nothing(subscribers):
    reader = subscribers[0]
    client = Client()
    client.force_login(reader, backend="django.contrib.auth.backends.ModelBackend")
    page = client.get("/digest/preview/")
    assert page.status_code == 200 and "Subject:" in page.text and "for you this week" in page.text
    srcdoc = page.text.split('srcdoc="')[1].split('"')[0]  # the whole email, escaped inside the attribute
    assert "&lt;table" in srcdoc and "&lt;/html&gt;" in srcdoc
    assert mail.outbox == [] and not DigestLog.objects.exists()
    assert "/digest/preview/" in client.get("/accounts/settings/").text


def test_opted_out_and_address_less_readers_get_nothing(community):
    UserFactory(username="noemail", email="", weekly_digest=True)
    call_command("send_digests")
    assert mail.outbox == []


def test_a_mail_server_failure_stops_the_command_clearly_and_a_rerun_sends_the_rest(subscribers, settings):
    from django.core.management import CommandError

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 1, 1  # nothing listens on port 1
    with pytest.raises(CommandError, match="run send_digests again"):
        call_command("send_digests")
    assert not DigestLog.objects.filter(status__in=[Status.SENT, Status.SENDING]).exists()
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    call_command("send_digests")
    assert len(mail.outbox) == 3


def test_the_subject_is_plain_text_not_html_escaped(subscribers):
    Paper.objects.update(title='<Attention> isn\'t "all" & more')
    digest_batch_send(user_ids=[subscribers[0].pk], week=week_of())
    (message,) = mail.outbox
    assert '“<Attention> isn\'t "all" & more”' in message.subject
    assert "&lt;" not in message.subject and "&#x27;" not in message.subject and "&amp;" not in message.subject
    assert "&lt;Attention&gt;" in message.alternatives[0][0]  # the HTML part is still escaped


def test_the_preview_frame_is_sandboxed_and_only_it_may_use_inline_styles(subscribers):
    client = Client()
    client.force_login(subscribers[0], backend="django.contrib.auth.backends.ModelBackend")
    page = client.get("/digest/preview/")
    assert re.search(r"<iframe [^>]*\bsandbox\b", page.text)
    assert "style-src 'self' 'unsafe-inline'" in page["Content-Security-Policy"]
    assert "'unsafe-inline'" not in client.get("/accounts/settings/")["Content-Security-Policy"]


def test_a_batch_sends_over_one_connection(subscribers, settings, tmp_path):
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = tmp_path / "mail"
    digest_batch_send(user_ids=[u.pk for u in subscribers], week=week_of())
    (written,) = list((tmp_path / "mail").iterdir())  # the file backend writes one file per connection
    assert written.read_text().count("Subject: ") == 3


def test_readers_left_pending_by_a_stopped_batch_are_queued_again_once(subscribers, monkeypatch, settings):
    from celery.exceptions import SoftTimeLimitExceeded

    from recommender.services import digests
    from recommender.services.digests import digest_stalled_requeue, digest_week_start

    week, batches = digest_week_start(queue=False)
    real_send, calls = digests._send_one, []

    def stopped_after_one(digest, week, connection):
        calls.append(digest.user.pk)
        if len(calls) > 1:
            raise SoftTimeLimitExceeded()
        return real_send(digest, week, connection)

    monkeypatch.setattr(digests, "_send_one", stopped_after_one)
    with pytest.raises(SoftTimeLimitExceeded):
        digest_batch_send(user_ids=batches[0], week=week)
    monkeypatch.undo()
    left = sorted(DigestLog.objects.filter(week=week, status=Status.PENDING).values_list("user_id", flat=True))
    assert len(left) == 2 and len(mail.outbox) == 1
    assert digest_stalled_requeue(queue=False) == []  # not stale yet: the batch may still be running
    DigestLog.objects.filter(week=week).update(queued_at=timezone.now() - timedelta(minutes=settings.DIGEST_STALE_MINUTES + 1))
    assert digest_stalled_requeue(queue=False) == [left]
    assert digest_stalled_requeue(queue=False) == []  # queued again once, not at every sweep
    digest_batch_send(user_ids=left, week=week)
    assert sorted(m.to[0] for m in mail.outbox) == sorted(u.email for u in subscribers)


def test_the_sweep_is_scheduled_and_closes_rows_of_past_weeks(subscribers):
    from recommender.services.digests import digest_stalled_requeue
    from tasks.celery import app

    app.finalize()
    assert app.conf.beat_schedule["requeue-stalled-digests"]["task"] == "tasks.digests.requeue_stalled"
    old = DigestLog.objects.create(user=subscribers[0], week=week_of() - timedelta(days=7), queued_at=timezone.now() - timedelta(days=7))
    digest_stalled_requeue(queue=False)
    old.refresh_from_db()
    assert old.status == Status.FAILED and "Not sent within its week" in old.note


def test_a_collection_put_in_the_email_gets_its_own_section_of_new_picks(subscribers, community, settings):
    from recommender.services.collections import collection_create, collection_in_digest, collection_paper_add

    papers, _ = community
    reader = subscribers[0]  # an astronomy reader
    side = collection_create(owner=reader, name="Compilers <club>")
    for paper in papers["lang"][:3]:
        collection_paper_add(collection=side, paper=paper)
    collection_create(owner=reader, name="Not in the email")
    collection_in_digest(collection=side, on=True)

    settings.DIGEST_SIZE = 3  # the catalogue is small: leave the section some papers of its topic
    digest = digests_compose(users=[reader], week=week_of())[0]
    assert [name for name, _ in digest.sections] == ["Compilers <club>"]
    section = digest.sections[0][1]
    assert section and {item.paper.external_id.split("-")[0] for item in section} == {"lang"}
    assert not {item.paper.pk for item in section} & {item.paper.pk for item in digest.items}

    call_command("send_digests")
    message = next(m for m in mail.outbox if m.to == [reader.email])
    assert "For your collection “Compilers <club>”" in message.body
    assert "For your collection “Compilers &lt;club&gt;”" in message.alternatives[0][0]
    assert len(links(message)["like"]) == len(digest.items) + len(section)
    logged = DigestLog.objects.get(user=reader, week=week_of())
    assert set(logged.papers) == {item.paper.pk for item in digest.papers}

    collection_in_digest(collection=side, on=False)
    assert digests_compose(users=[reader], week=week_of())[0].sections == []
