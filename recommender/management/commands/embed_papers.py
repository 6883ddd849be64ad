"""Give every paper of the catalogue its meaning vector (the backfill of a large catalogue; resumable)."""

from django.core.management.base import BaseCommand, CommandError

from recommender.management.commands._progress import progress_bar
from recommender.models import Paper
from recommender.services.meaning import meaning_backfill


class Command(BaseCommand):
    help = (
        "Embed every paper that has no current meaning vector (CONTENT_EMBEDDINGS=on), in pk order, saving each chunk as it "
        "goes: stopped, it resumes with --after <the last pk it printed>, and papers already embedded are only read."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--after", type=int, default=0, help="start after this paper pk (to resume a stopped run)")

    def handle(self, *args, **options) -> None:
        after = options["after"]
        if after < 0:
            raise CommandError("--after must be 0 or more")
        total = Paper.objects.filter(id__gt=after).count()
        bar = progress_bar(total, "embedding papers")
        state = {"last": after}

        def chunk_done(last: int, seen: int, embedded: int) -> None:
            state["last"] = last
            bar.update(seen)
            bar.set_postfix(embedded=embedded, last_pk=last)

        try:
            embedded = meaning_backfill(after=after, on_chunk=chunk_done)
        except RuntimeError as exc:
            raise CommandError(str(exc)) from None
        except KeyboardInterrupt:
            bar.close()
            last = state["last"]
            raise CommandError(f"stopped; everything up to paper pk {last} is saved: resume with --after {last}") from None
        bar.close()
        self.stdout.write(f"embedded {embedded} of {total} papers (the others already had a current vector)")
