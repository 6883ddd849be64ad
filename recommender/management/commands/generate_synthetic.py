from django.core.management.base import BaseCommand, CommandError

from recommender.management.commands._progress import progress_bar
from recommender.services.synthetic import synthetic_community_create


class Command(BaseCommand):
    help = (
        "Fill the database with a synthetic community for scale tests: topic-structured papers, power-law readers and "
        "papers, a mix of feedback kinds. Deterministic for a seed; COPY on PostgreSQL. Use an empty database."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--users", type=int, required=True)
        parser.add_argument("--papers", type=int, required=True)
        parser.add_argument("--interactions", type=int, required=True)
        parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")

    def handle(self, *args, users: int, papers: int, interactions: int, seed: int, **options) -> None:
        try:
            with progress_bar(users + papers + interactions, "rows") as bar:
                result = synthetic_community_create(
                    users=users, papers=papers, interactions=interactions, seed=seed, on_progress=bar.update
                )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Synthetic community: {result.users:,} readers, {result.papers:,} papers, "
                f"{result.interactions:,} interactions (seed {seed})."
            )
        )
