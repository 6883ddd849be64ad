"""Offline evaluation of the recommender on files; needs no database.

As the nightly retrain does: the parameters are searched on a validation split of the training part (never the
test part) from the settings' starting point, within ``--tuning-budget`` seconds (``--fixed``: the settings'
parameters as they are), and the TF-IDF vocabulary is fitted on the papers known at training time only (papers
held out as new are encoded with it, as production encodes papers that arrive after a retrain).
"""

import dataclasses
import json
import os
import re
import time
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from recommender.engine.evaluation import (
    METHODS,
    MergedSplit,
    collection_recall,
    dataset_from_records,
    interest_metrics,
    split_cold,
    split_merged,
    split_warm,
    subset,
    truth_from_records,
)
from recommender.engine.exchange import DatasetError, read_interactions_csv, read_papers
from recommender.engine.meaning import embeddings_cached
from recommender.engine.protocol import evaluate_as_served
from recommender.management.commands._progress import progress_bar
from recommender.services.meaning import encoder_from_settings
from recommender.services.tuning import feedback_weights, parameters_from_settings, pinned_parameters


class Command(BaseCommand):
    help = (
        "Train on --train only and rank for every reader in --test (or split --dataset by --protocol), printing recall@20, "
        "nDCG@20 and recall@100 for popularity, content, ALS, the item-item graph and the blend; the parameters are searched "
        "on a validation split of the training part first (unless --fixed)."
    )
    requires_system_checks: list = []

    def add_arguments(self, parser) -> None:
        parser.add_argument("--papers", help="papers.jsonl")
        parser.add_argument("--train", help="interactions.csv to train on")
        parser.add_argument("--test", help="interactions.csv of held-out feedback")
        parser.add_argument("--candidates", help="file of paper ids, one a line: rank only these (cold protocol)")
        parser.add_argument("--dataset", help="a folder with papers.jsonl and interactions.csv, split here by --protocol")
        parser.add_argument(
            "--protocol",
            choices=["warm", "cold", "merged"],
            default="warm",
            help="merged: pairs of readers with disjoint libraries merged into one, each interest scored apart",
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--k", type=int, default=100, help="how many papers to recommend per reader (default 100)")
        parser.add_argument("--recs-out", help="write the blend's recommendations here, one JSON line per reader")
        parser.add_argument("--json", help="write the metrics here as JSON")
        parser.add_argument("--fixed", action="store_true", help="use the settings' parameters as they are (no search)")
        parser.add_argument("--tuning-budget", type=float, default=300.0, help="seconds the parameter search may take (default 300)")
        parser.add_argument(
            "--meaning",
            choices=("on", "off"),
            help="the papers' meaning vectors as a fourth signal (default: CONTENT_EMBEDDINGS); kept in EMBEDDINGS_CACHE_DIR",
        )
        parser.add_argument(
            "--meaning-reads",
            choices=("title-and-abstract", "abstract"),
            default="title-and-abstract",
            help="what the meaning reads; 'abstract' for a data set whose titles are placeholders (citeulike-a's: 'citeulike-a item 17')",
        )

    def handle(self, *args, **options) -> None:
        if options["k"] < 1:
            raise CommandError("--k must be at least 1")
        try:
            dataset, train, truth, candidates, label, merged = self._load(options)
        except (DatasetError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        except OSError as exc:
            raise CommandError(f"cannot read: {exc}") from None
        if not truth:
            raise CommandError("no reader in the test set has a paper to find")
        self.stderr.write(
            f"{label}: {len(dataset.user_ids)} readers, {len(dataset.item_ids)} papers, {len(train.users)} training events, "
            f"{len(truth)} test readers"
        )
        parameters = parameters_from_settings()
        meaning = self._meaning(dataset, options)
        started = time.perf_counter()
        result, parameters, tuning = evaluate_as_served(
            dataset,
            train,
            truth,
            parameters=parameters,
            candidates=candidates,
            search_seconds=None if options["fixed"] else options["tuning_budget"],
            pinned=pinned_parameters(),
            weights=feedback_weights(),
            k=options["k"],
            seed=options["seed"],
            threads=parameters.als.num_threads or os.cpu_count() or 1,
            on_progress=lambda message: self.stderr.write(message),
            meaning=meaning,
        )
        if tuning is not None:
            self.stderr.write(f"parameters searched in {tuning.seconds:.0f} s: {tuning.reason}")
            tuning = tuning.as_dict()
        self.stderr.write(f"fitted and ranked in {time.perf_counter() - started:.0f} s")
        interests = self._interests(result, merged) if merged else None
        self._report(result, options, dataset, label, parameters, tuning, interests)

    def _meaning(self, dataset, options):
        """The data set's meaning vectors (embedded once, then read from EMBEDDINGS_CACHE_DIR), or None."""
        wanted = options["meaning"] == "on" if options["meaning"] else settings.CONTENT_EMBEDDINGS
        if not wanted:
            return None
        if self.numbered_titles and options["meaning_reads"] == "title-and-abstract":
            self.stderr.write(
                "warning: every title is the same but for a number (placeholders?); the meaning reads that number, which can "
                "leak how papers were numbered: --meaning-reads abstract leaves the titles out"
            )
        encoder = encoder_from_settings()
        bars, done = [], [0]

        def advance(count: int) -> None:
            bars[0].update(count - done[0])
            done[0] = count

        def start(missing: int) -> None:
            bars.append(progress_bar(missing, "embedding papers (new to the cache)"))

        vectors = embeddings_cached(dataset.meaning_texts, encoder, settings.EMBEDDINGS_CACHE_DIR, on_batch=advance, on_start=start)
        bars[0].close()
        return vectors

    def _interests(self, result, merged: MergedSplit) -> dict:
        """Each interest of the merged readers scored apart, and the smaller one as a collection with its own feed."""
        figures = {method: interest_metrics(result.ranked[method], result.users, merged) for method in ("blend", "served", "facets")}
        figures["smaller_as_collection"] = collection_recall(result.fit, result.users, merged)
        return figures

    def _load(self, options):
        titles = options["meaning_reads"] == "title-and-abstract"
        self.numbered_titles = False
        if options["dataset"]:
            folder = Path(options["dataset"])
            papers = read_papers(folder / "papers.jsonl")
            self.numbered_titles = len(papers) > 1 and len({re.sub(r"\d+", "", paper.title) for paper in papers}) == 1
            dataset = dataset_from_records(papers, read_interactions_csv(folder / "interactions.csv"), meaning_titles=titles)
            merged, candidates = None, None
            if options["protocol"] == "warm":
                mask, truth = split_warm(dataset.events, seed=options["seed"])
            elif options["protocol"] == "cold":
                mask, truth, candidates = split_cold(dataset.events, len(dataset.item_ids), seed=options["seed"])
            else:
                merged = split_merged(dataset.events, seed=options["seed"])
                dataset = dataclasses.replace(dataset, events=merged.events)
                mask, truth = merged.train, merged.truth
            return (
                dataset,
                subset(dataset.events, mask),
                truth,
                candidates,
                f"{folder.name} ({options['protocol']}, seed {options['seed']})",
                merged,
            )
        missing = [name for name in ("papers", "train", "test") if not options[name]]
        if missing:
            raise CommandError(
                "give --dataset DIR, or all of --papers, --train and --test (missing: " + ", ".join(f"--{m}" for m in missing) + ")"
            )
        papers = read_papers(options["papers"])
        test_records = read_interactions_csv(options["test"])
        dataset = dataset_from_records(
            papers, read_interactions_csv(options["train"]), extra_users=[r.user for r in test_records], meaning_titles=titles
        )
        truth = truth_from_records(dataset, test_records)
        candidates = None
        if options["candidates"]:
            index = {paper_id: j for j, paper_id in enumerate(dataset.item_ids)}
            wanted = [line.strip() for line in Path(options["candidates"]).read_text(encoding="utf-8").splitlines() if line.strip()]
            unknown = [w for w in wanted if w not in index]
            if unknown:
                raise CommandError(f"{options['candidates']}: {len(unknown)} unknown paper ids, e.g. {unknown[0]!r}")
            candidates = np.array(sorted({index[w] for w in wanted}))
            truth = {u: items[np.isin(items, candidates)] for u, items in truth.items()}
            truth = {u: items for u, items in truth.items() if len(items)}
        return dataset, dataset.events, truth, candidates, Path(options["test"]).name, None

    def _report(self, result, options, dataset, label, parameters, tuning, interests) -> None:
        header = f"{'method':<12}{'recall@20':>11}{'nDCG@20':>10}{'recall@100':>12}"
        self.stdout.write(header)
        for method in METHODS:
            m = result.metrics[method]
            self.stdout.write(f"{method:<12}{m['recall@20']:>11.4f}{m['ndcg@20']:>10.4f}{m['recall@100']:>12.4f}")
        self.stdout.write(
            f"readers {result.metrics['blend']['users']}; seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items())
        )
        if interests:
            for method in ("blend", "served", "facets"):
                m = interests[method]
                self.stdout.write(
                    f"{method}: the smaller interest's recall@20 {m['smaller@20']:.4f}, the larger's {m['larger@20']:.4f}, "
                    f"readers with a hit from both {m['both_share']:.1%}"
                )
            c = interests["smaller_as_collection"]
            self.stdout.write(
                f"the smaller interest's held-out papers, recall@20: ranked for it as a collection {c['collection']:.4f}, "
                f"for the reader {c['personal']:.4f}"
            )
        if options["recs_out"]:
            with open(options["recs_out"], "w", encoding="utf-8") as handle:
                for row, user in zip(result.ranked["blend"], result.users):
                    handle.write(json.dumps({"user": dataset.user_ids[user], "recommended": [dataset.item_ids[j] for j in row]}) + "\n")
        if options["json"]:
            payload = {
                "data": label,
                "metrics": result.metrics,
                "timings": result.timings,
                "parameters": parameters.tunable_values(),
                "tuning": tuning,
                "interests": interests,
            }
            Path(options["json"]).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
