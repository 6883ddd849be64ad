from django.core.management.base import BaseCommand, CommandError

from recommender.engine.exchange import DatasetError, read_papers
from recommender.management.commands._progress import progress_bar
from recommender.services.datasets import papers_import


class Command(BaseCommand):
    help = "Import papers from papers.jsonl (exchange format) or the demo catalogue's page-dump text. All or nothing; safe to repeat."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", help="papers.jsonl, or a text file of title and abstract lines after two header lines")

    def handle(self, *args, path: str, **options) -> None:
        try:
            records = read_papers(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{path}: cannot read the file ({exc})") from None
        except DatasetError as exc:
            raise CommandError(f"{exc}. Nothing was imported.") from None
        with progress_bar(len(records), "papers") as bar:
            result = papers_import(records=records, on_progress=bar.update)
        self.stdout.write(self.style.SUCCESS(f"{path}: {result.summary('papers')}."))
