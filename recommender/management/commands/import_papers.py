import os

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from recommender.engine.exchange import DatasetError, read_papers
from recommender.management.commands._progress import progress_bar
from recommender.services.datasets import papers_import
from recommender.services.intake import RecordRejected, papers_import_stream
from recommender.sources.arxiv_snapshot import is_snapshot_line, read_snapshot


class Command(BaseCommand):
    help = (
        "Import papers from papers.jsonl (exchange format), the demo catalogue's page-dump text, or arXiv's metadata "
        "snapshot (one JSON object a line with id, authors_parsed, versions, ...; read as a stream, for backfills). "
        "All or nothing; safe to repeat."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "path", help="papers.jsonl, arXiv's metadata snapshot, or a text file of title and abstract lines after two header lines"
        )

    def handle(self, *args, path: str, **options) -> None:
        try:
            if _is_snapshot(path):
                self._snapshot(path)
                return
            records = read_papers(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{path}: cannot read the file ({exc})") from None
        except DatasetError as exc:
            raise CommandError(f"{exc}. Nothing was imported.") from None
        with progress_bar(len(records), "papers") as bar:
            result = papers_import(records=records, on_progress=bar.update)
        self.stdout.write(self.style.SUCCESS(f"{path}: {result.summary('papers')}."))

    def _snapshot(self, path: str) -> None:
        with tqdm(total=os.path.getsize(path), desc="arXiv snapshot", unit="B", unit_scale=True, leave=True) as bar:
            try:
                result = papers_import_stream(records=read_snapshot(path, on_bytes=bar.update))
            except RecordRejected as exc:
                raise CommandError(f"{path}, {exc}. Nothing was imported.") from None
        self.stdout.write(
            self.style.SUCCESS(
                f"{path}: {result.created} papers created, {result.updated} updated, {result.unchanged} unchanged "
                "(arXiv metadata snapshot)."
            )
        )


def _is_snapshot(path: str) -> bool:
    with open(path, "rb") as handle:
        first = next((line for line in handle if line.strip()), b"")
    return is_snapshot_line(first.decode("utf-8", errors="replace"))
