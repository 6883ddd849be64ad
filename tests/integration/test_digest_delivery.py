"""Digests through a real SMTP server (aiosmtpd) and a real worker that is killed mid-batch."""

import email
import os
import re
import signal
import threading
import time
from collections import Counter
from email import policy

import pytest
from aiosmtpd.controller import Controller
from django.core.management import call_command
from django.test import Client

from accounts.models import User
from recommender.models import DigestLog, Interaction
from recommender.services.digests import digest_week_start
from tests.integration.conftest import free_port, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


class Inbox:
    """An aiosmtpd handler keeping every message; ``hold`` seconds before answering each DATA."""

    def __init__(self, hold: float = 0.0) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.connections: list[tuple] = []  # the client's address and port of each message's connection
        self.hold = hold
        self.holding = threading.Event()
        self.drop_after_accepting = 0  # this many next messages are kept, then the connection is cut before the reply

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        self.connections.append(session.peer)
        if self.drop_after_accepting:
            self.drop_after_accepting -= 1
            server.transport.close()  # accepted, but the client never hears so
        if self.hold:
            import asyncio

            self.holding.set()
            await asyncio.sleep(self.hold)
            self.holding.clear()
        return "250 Message accepted for delivery"

    def per_recipient(self) -> Counter:
        return Counter(m["To"] for m in self.messages)


@pytest.fixture
def smtp(settings):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.SITE_URL = "https://paperfeed.test"
    yield inbox, controller.port
    controller.stop()


def opt_in(readers) -> list[User]:
    User.objects.filter(pk__in=[r.pk for r in readers]).update(weekly_digest=True)
    return list(User.objects.filter(pk__in=[r.pk for r in readers]))


def test_n_subscribers_get_exactly_n_messages_with_working_links(community, smtp):
    inbox, _ = smtp
    _, readers = community
    subscribers = opt_in([readers[name] for name in ("astro0", "astro3", "bio1", "bio4", "lang2")])
    User.objects.filter(pk=readers["lang5"].pk).update(weekly_digest=False)
    nothing_new = readers["bio5"]
    User.objects.filter(pk=nothing_new.pk).update(weekly_digest=True)
    from recommender.models import Paper

    Interaction.objects.bulk_create([Interaction(user=nothing_new, paper=p, kind="read") for p in Paper.objects.all()])
    call_command("send_digests")
    assert inbox.per_recipient() == Counter({u.email: 1 for u in subscribers})
    assert len(set(inbox.connections)) == 1  # one SMTP connection for the batch
    for message in inbox.messages:
        assert message.get_content_type() == "multipart/alternative"
        assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert str(message["List-Unsubscribe"]).strip().startswith("<https://paperfeed.test/digest/unsubscribe/")
    assert DigestLog.objects.get(user=nothing_new).status == DigestLog.Status.SKIPPED
    # a like link from a delivered email works for its reader
    first = next(m for m in inbox.messages if m["To"] == subscribers[0].email)
    text = first.get_body(preferencelist=("plain",)).get_content()
    like = re.search(r"Like: https://paperfeed.test(\S+)", text).group(1)
    client = Client()
    client.get(like)
    client.post(like)
    assert Interaction.objects.filter(user=subscribers[0], kind="like").count() == 6  # five from the community, one from the email


def test_killing_the_worker_mid_batch_then_rerunning_sends_everyone_exactly_one(community, smtp, start_worker, settings):
    inbox, port = smtp
    inbox.hold = 1.0
    _, readers = community
    subscribers = opt_in(list(readers.values()))
    settings.DIGEST_BATCH_SIZE = 100  # one batch for all eighteen readers
    worker = start_worker(
        queues="default",
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(port),
        SITE_URL="https://paperfeed.test",
        DIGEST_BATCH_SIZE="100",
    )
    week, batches = digest_week_start(queue=True)
    assert len(batches) == 1
    wait_for(lambda: len(inbox.messages) >= 3 and inbox.holding.is_set(), timeout=90, what="the worker to be part-way through the batch")
    _kill_worker(worker)
    time.sleep(inbox.hold + 0.5)
    delivered_before_rerun = len(inbox.messages)
    assert 3 <= delivered_before_rerun < len(subscribers)
    inbox.hold = 0.0
    call_command("send_digests")  # the rerun, here rather than in a worker
    assert inbox.per_recipient() == Counter({u.email: 1 for u in subscribers})
    statuses = Counter(DigestLog.objects.filter(week=week).values_list("status", flat=True))
    assert statuses["sent"] + statuses["sending"] == len(subscribers) and statuses["sending"] <= 1


def test_a_connection_cut_after_the_server_accepted_an_email_never_sends_it_twice(community, smtp):
    import smtplib

    from recommender.services.digests import digest_batch_send

    inbox, _ = smtp
    _, readers = community
    subscribers = sorted(opt_in([readers[name] for name in ("astro0", "bio1", "lang2")]), key=lambda u: u.pk)
    inbox.drop_after_accepting = 1
    week, batches = digest_week_start(queue=False)
    with pytest.raises((smtplib.SMTPServerDisconnected, ConnectionError)):
        digest_batch_send(user_ids=batches[0], week=week)
    cut = DigestLog.objects.get(user=subscribers[0], week=week)
    assert cut.status == DigestLog.Status.SENDING and "the server may have it" in cut.note
    assert DigestLog.objects.filter(week=week, status=DigestLog.Status.PENDING).count() == 2
    counts = digest_batch_send(user_ids=batches[0], week=week)  # the task's retry
    assert counts == {"sent": 2, "skipped": 0, "failed": 0, "not_pending": 1}
    assert inbox.per_recipient() == Counter({u.email: 1 for u in subscribers})  # the first reader's email arrived once


def _kill_worker(worker) -> None:
    """SIGKILL the worker and its pool children (the whole process tree), as a crash would."""
    import subprocess

    children = subprocess.run(["pgrep", "-P", str(worker.process.pid)], capture_output=True, text=True).stdout.split()
    for pid in [worker.process.pid, *map(int, children)]:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    worker.process.wait(timeout=10)
