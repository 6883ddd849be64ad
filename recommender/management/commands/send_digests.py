import smtplib
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from recommender.management.commands._progress import progress_bar
from recommender.services.digests import digest_batch_send, digest_week_start, week_of


class Command(BaseCommand):
    help = "Send this week's digest to every reader who asked for it (each at most once a week; safe to repeat)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--week", help="any day of the week to send for, YYYY-MM-DD (default: this week)")
        parser.add_argument("--queue", action="store_true", help="hand the batches to the Celery workers instead of sending here")

    def handle(self, *args, week: str | None, queue: bool, **options) -> None:
        try:
            day = week_of(date.fromisoformat(week)) if week else week_of()
        except ValueError:
            raise CommandError(f"--week {week!r} is not a date YYYY-MM-DD") from None
        day, batches = digest_week_start(week=day, queue=queue)
        readers = sum(len(b) for b in batches)
        if queue:
            self.stdout.write(f"Digest for the week of {day}: {len(batches)} batches ({readers} readers) queued for the workers.")
            return
        totals = {"sent": 0, "skipped": 0, "failed": 0, "not_pending": 0}
        with progress_bar(readers, "readers") as bar:
            for batch in batches:
                try:
                    counts = digest_batch_send(user_ids=batch, week=day)
                except (smtplib.SMTPException, OSError) as exc:
                    raise CommandError(
                        f"The mail server failed ({exc}); run send_digests again to send the rest (nobody gets two)."
                    ) from None
                for key, value in counts.items():
                    totals[key] += value
                bar.update(len(batch))
        self.stdout.write(
            self.style.SUCCESS(
                f"Digest for the week of {day}: {totals['sent']} sent, {totals['skipped']} with nothing new, "
                f"{totals['failed']} failed, {totals['not_pending']} already handled this week."
            )
        )
