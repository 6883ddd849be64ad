"""Reading everything a retrain needs from the database, as arrays."""

from dataclasses import dataclass

import numpy as np
from django.utils import timezone

from recommender.engine.matrix import KIND_CODES, Events
from recommender.models import Interaction, Paper


@dataclass
class TrainingSnapshot:
    """Papers (column j is ``paper_pks[j]``), readers (row i is ``user_pks[i]``) and all feedback events."""

    paper_pks: np.ndarray
    paper_ids: list[str]
    texts: list[str]
    user_pks: np.ndarray
    events: Events
    created: np.ndarray  # (n_events,) seconds since the epoch


def paper_text(title: str, abstract: str) -> str:
    """What the content model reads: the title twice (it says most per word), then the abstract."""
    return f"{title}. {title}. {abstract}"


def training_snapshot() -> TrainingSnapshot:
    """All papers and all feedback, mapped to matrix rows and columns."""
    papers = list(Paper.objects.order_by("id").values_list("id", "external_id", "title", "abstract"))
    paper_pks = np.array([p[0] for p in papers], dtype=np.int64)
    # Readers who keep their feedback out of other readers' recommendations are left out of training.
    rows = Interaction.objects.filter(user__share_feedback=True).order_by().values_list("user_id", "paper_id", "kind", "value", "created")
    users, items, kinds, values, created = [], [], [], [], []
    for user_id, paper_id, kind, value, when in rows.iterator(chunk_size=20_000):
        users.append(user_id)
        items.append(paper_id)
        kinds.append(KIND_CODES[kind])
        values.append(value or 0)
        created.append(when.timestamp())
    items_arr = np.array(items, dtype=np.int64)
    columns = np.searchsorted(paper_pks, items_arr)
    in_snapshot = (columns < len(paper_pks)) & (paper_pks[np.minimum(columns, len(paper_pks) - 1)] == items_arr) if len(paper_pks) else np.zeros(len(items_arr), bool)
    keep = np.flatnonzero(in_snapshot)  # feedback on a paper added after the papers were read waits for the next run
    user_pks, user_rows = np.unique(np.array(users, dtype=np.int64)[keep], return_inverse=True)
    columns = columns[keep]
    kinds = [kinds[i] for i in keep]
    values = [values[i] for i in keep]
    stamps = np.array(created, dtype=np.float64)[keep]
    ages = (timezone.now().timestamp() - stamps) / 86400.0
    events = Events(user_rows, columns, kinds, values, ages)
    return TrainingSnapshot(paper_pks, [p[1] for p in papers], [paper_text(p[2], p[3]) for p in papers], user_pks, events, stamps)
