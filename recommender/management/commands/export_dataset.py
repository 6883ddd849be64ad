from django.core.management.base import BaseCommand, CommandError

from recommender.services.datasets import dataset_export


class Command(BaseCommand):
    help = "Write the catalogue and the feedback of readers who share it, under pseudonyms, to DIR/papers.jsonl and DIR/interactions.csv."

    def add_arguments(self, parser) -> None:
        parser.add_argument("directory")

    def handle(self, *args, directory: str, **options) -> None:
        try:
            papers, interactions = dataset_export(directory=directory)
        except OSError as exc:
            raise CommandError(f"{directory}: cannot write ({exc})") from None
        self.stdout.write(self.style.SUCCESS(f"Wrote {papers} papers and {interactions} interactions to {directory}."))
