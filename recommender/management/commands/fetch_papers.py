from datetime import date

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from recommender.models import IntakeRun
from recommender.selectors.references import ARXIV_ID
from recommender.services.intake import IntakeBusy, intake_arxiv, intake_trending, papers_fetch_by_ids
from recommender.sources import SourceError


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{text!r} is not a date YYYY-MM-DD") from None


class Command(BaseCommand):
    help = (
        "Take in new papers: 'arxiv' harvests arXiv's listings (OAI-PMH) since the last harvest, 'trending' the daily "
        "trending list, 'ids' single papers from the arXiv API."
    )

    def add_arguments(self, parser) -> None:
        sources = parser.add_subparsers(dest="source", required=True, metavar="{arxiv,trending,ids}")
        arxiv = sources.add_parser("arxiv", help="harvest arXiv (OAI-PMH ListRecords) for INTAKE_ARXIV_SETS")
        arxiv.add_argument("--from", dest="from_day", type=_day, help="first day (default: the last harvest's end, less a day)")
        arxiv.add_argument("--until", dest="until_day", type=_day, help="last day (default: today)")
        arxiv.add_argument("--set", dest="sets", action="append", help="an OAI-PMH set such as cs or physics:hep-th (repeatable)")
        trending = sources.add_parser("trending", help="the daily trending list")
        trending.add_argument("--date", dest="day", type=_day, help="the day (default: today)")
        ids = sources.add_parser("ids", help="papers by arXiv id, from the arXiv API")
        ids.add_argument("ids", nargs="+", metavar="ID")

    def handle(self, *args, source: str, **options) -> None:
        try:
            if source == "arxiv":
                runs = self._arxiv(options)
            elif source == "trending":
                runs = [intake_trending(day=options["day"])]
            else:
                runs = self._ids(options["ids"])
        except IntakeBusy as exc:
            raise CommandError(str(exc)) from None
        for run in runs:
            window = f" {run.set_spec}" if run.set_spec else ""
            window += f" {run.window_from or '…'} to {run.window_until or 'today'}" if run.window_from or run.window_until else ""
            line = (
                f"{run.get_source_display()}{window}: {run.pages} pages, {run.created} new, {run.updated} updated, "
                f"{run.deleted} withdrawn, {run.skipped} skipped"
            )
            if run.status == IntakeRun.Status.SUCCEEDED:
                self.stdout.write(self.style.SUCCESS(line))
            else:
                self.stderr.write(self.style.ERROR(f"{line}\n{run.errors}"))
        if any(run.status != IntakeRun.Status.SUCCEEDED for run in runs):
            raise CommandError("The harvest did not finish; what was stored stays, and the next run goes on from there.")

    def _arxiv(self, options) -> list[IntakeRun]:
        with tqdm(desc="arXiv records", unit=" records", leave=True) as bar:

            def on_page(run: IntakeRun, page) -> None:
                if page.complete_size and bar.total is None:
                    bar.total = page.complete_size
                bar.update(len(page.records) + len(page.deleted) + page.skipped)

            return intake_arxiv(from_day=options["from_day"], until_day=options["until_day"], sets=options["sets"], on_page=on_page)

    def _ids(self, raw: list[str]) -> list[IntakeRun]:
        ids = []
        for text in raw:
            found = ARXIV_ID.fullmatch(text.strip())
            if not found:
                raise CommandError(f"{text!r} is not an arXiv id (such as 2401.01234 or hep-th/9901001)")
            ids.append(found.group(1))
        try:
            papers = papers_fetch_by_ids(ids)
        except SourceError as exc:
            raise CommandError(f"arXiv could not be asked: {exc}") from None
        have = {paper.external_id for paper in papers}
        self.stdout.write(self.style.SUCCESS(f"{len(have)} of {len(set(ids))} papers are in the catalogue."))
        if set(ids) - have:
            self.stderr.write("arXiv does not know: " + ", ".join(sorted(set(ids) - have)))
        return []
