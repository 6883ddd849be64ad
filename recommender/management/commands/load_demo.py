from django.core.management.base import BaseCommand, CommandError

from recommender.management.commands._progress import progress_bar
from recommender.services.demo import DEMO_PASSWORD, DEMO_USERNAME, demo_community_create


class Command(BaseCommand):
    help = "Create the demo account and a simulated community with believable tastes (once; safe to repeat)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        parser.add_argument("--users", type=int, default=36, help="simulated readers (default 36)")

    def handle(self, *args, seed: int, users: int, **options) -> None:
        if users < 1:
            raise CommandError("--users must be at least 1")
        try:
            with progress_bar(users + 1, "readers") as bar:
                result = demo_community_create(seed=seed, users=users, on_progress=bar.update)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if result.created:
            self.stdout.write(self.style.SUCCESS(f"Demo community: {result.users} readers, {result.interactions} interactions."))
        else:
            self.stdout.write("Demo community already loaded; nothing changed.")
        self.stdout.write(f"Log in as {DEMO_USERNAME} / {DEMO_PASSWORD}")
