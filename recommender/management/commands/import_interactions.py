from django.core.management.base import BaseCommand, CommandError

from recommender.engine.exchange import DatasetError, read_interactions_csv
from recommender.management.commands._progress import progress_bar
from recommender.services.datasets import interactions_import


class Command(BaseCommand):
    help = "Import interactions.csv (exchange format), creating users not seen before. All or nothing; safe to repeat."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", help="interactions.csv with the header user,paper,kind,value,timestamp")

    def handle(self, *args, path: str, **options) -> None:
        try:
            records = read_interactions_csv(path)
            with progress_bar(len(records), "interactions") as bar:
                result = interactions_import(records=records, source=path, on_progress=bar.update)
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{path}: cannot read the file ({exc})") from None
        except DatasetError as exc:
            raise CommandError(f"{exc}. Nothing was imported.") from None
        self.stdout.write(self.style.SUCCESS(f"{path}: {result.summary('interactions')}."))
