"""A synthetic research community for scale tests: topic-structured papers, power-law readers and papers.

Everything is drawn from one seeded generator, so the same arguments give the same community.
No Django here: arrays and strings in, arrays and strings out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recommender.engine.matrix import KIND_CODES

_SYLLABLES = "ka lo mi ne ru ta vo zi pe shu gra tor lin dex mor qua bel fen sto rix cal pho ner gen".split()
COMMON_WORDS = (
    "we propose method model results show approach data learning performance new based analysis using study "
    "framework problem efficient large scale evaluation experiments improve task existing novel present"
).split()
# Shares of the feedback kinds, roughly as on a reading site: mostly reads, some likes and saves, few ratings and dismissals.
KIND_SHARES = {"read": 0.58, "like": 0.2, "save": 0.1, "rate": 0.08, "dismiss": 0.04}
STAR_SHARES = [0.05, 0.1, 0.2, 0.35, 0.3]
OFF_TOPIC = 0.2  # share of a reader's feedback outside their field


@dataclass
class SyntheticPapers:
    titles: list[str]
    abstracts: list[str]
    topics: np.ndarray  # (n_papers,) topic of each paper
    published_days_ago: np.ndarray  # (n_papers,) int


@dataclass
class SyntheticFeedback:
    """Feedback events as arrays: reader and paper (indexes), kind code, stars (0 unless a rating), age in seconds."""

    users: np.ndarray
    papers: np.ndarray
    kinds: np.ndarray  # codes of matrix.KIND_CODES
    values: np.ndarray
    ages_seconds: np.ndarray


def topic_count(n_papers: int) -> int:
    """About one topic per 500 papers, at least 5 and at most 400."""
    return int(np.clip(n_papers // 500, 5, 400))


def _vocabulary(rng: np.random.Generator, n_topics: int, words_per_topic: int = 30) -> np.ndarray:
    """(n_topics, words_per_topic) distinct made-up words, so topics share no vocabulary."""
    needed = n_topics * words_per_topic
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < needed:
        parts = rng.integers(0, len(_SYLLABLES), size=(needed, 3))
        for row in parts:
            word = "".join(_SYLLABLES[i] for i in row)
            if word not in seen:
                seen.add(word)
                words.append(word)
    return np.array(words[:needed]).reshape(n_topics, words_per_topic)


def synthetic_papers(n_papers: int, *, seed: int, title_words: int = 8, abstract_words: int = 40) -> SyntheticPapers:
    """Papers on ``topic_count(n_papers)`` topics: 70% of each text's words from its topic, the rest common words."""
    rng = np.random.default_rng([seed, 1])
    n_topics = topic_count(n_papers)
    vocabulary = _vocabulary(rng, n_topics)
    topics = rng.integers(0, n_topics, size=n_papers)
    length = title_words + abstract_words
    from_topic = rng.random((n_papers, length)) < 0.7
    topic_words = vocabulary[topics[:, None], rng.integers(0, vocabulary.shape[1], size=(n_papers, length))]
    common = np.array(COMMON_WORDS)[rng.integers(0, len(COMMON_WORDS), size=(n_papers, length))]
    words = np.where(from_topic, topic_words, common)
    titles = [" ".join(row[:title_words]).capitalize() for row in words]
    abstracts = [" ".join(row[title_words:]).capitalize() + "." for row in words]
    published = rng.integers(0, 3 * 365, size=n_papers)
    return SyntheticPapers(titles, abstracts, topics, published)


def _power_law(rng: np.random.Generator, n: int, exponent: float) -> np.ndarray:
    """Weights that sum to 1 and fall off as rank^-exponent, in a random order."""
    weights = np.arange(1, n + 1, dtype=np.float64) ** -exponent
    rng.shuffle(weights)
    return weights / weights.sum()


def synthetic_feedback(n_users: int, papers: SyntheticPapers, n_interactions: int, *, seed: int, days: int = 365) -> SyntheticFeedback:
    """``n_interactions`` events: readers' activity and papers' popularity follow power laws; each reader
    has a field (80% of their feedback) and strays elsewhere for the rest. A state (like, save, rating,
    dismissal) is given at most once per reader and paper; a repeat becomes a read, which may repeat."""
    rng = np.random.default_rng([seed, 2])
    n_papers = len(papers.topics)
    n_topics = int(papers.topics.max()) + 1
    activity = _power_law(rng, n_users, 1.0)
    counts = rng.multinomial(n_interactions, activity)
    users = np.repeat(np.arange(n_users, dtype=np.int64), counts)
    field = rng.integers(0, n_topics, size=n_users)
    topic = np.where(rng.random(n_interactions) < OFF_TOPIC, rng.integers(0, n_topics, size=n_interactions), field[users])

    # Papers grouped by topic, with cumulative popularity, so a draw within a topic is one searchsorted.
    popularity = _power_law(rng, n_papers, 0.9)
    order = np.argsort(papers.topics, kind="stable")
    cumulative = np.cumsum(popularity[order])
    starts = np.searchsorted(papers.topics[order], np.arange(n_topics))
    ends = np.append(starts[1:], n_papers)
    low = np.where(starts > 0, cumulative[np.maximum(starts - 1, 0)], 0.0)
    high = cumulative[ends - 1]
    draws = low[topic] + rng.random(n_interactions) * (high[topic] - low[topic])
    chosen = order[np.minimum(np.searchsorted(cumulative, draws, side="right"), n_papers - 1)]

    names = list(KIND_SHARES)
    kinds = np.array([KIND_CODES[name] for name in names], dtype=np.int8)[
        rng.choice(len(names), size=n_interactions, p=list(KIND_SHARES.values()))
    ]
    off_topic = papers.topics[chosen] != field[users]
    kinds[(kinds == KIND_CODES["dismiss"]) & ~off_topic] = KIND_CODES["read"]  # readers dismiss what is outside their field
    read = KIND_CODES["read"]
    state = kinds != read
    key = (users * n_papers + chosen) * 8 + kinds
    _, first = np.unique(np.where(state, key, -1 - np.arange(n_interactions)), return_index=True)
    repeat = state.copy()
    repeat[first] = False
    kinds[repeat] = read
    values = np.zeros(n_interactions, dtype=np.int16)
    rated = kinds == KIND_CODES["rate"]
    values[rated] = rng.choice(np.arange(1, 6), size=int(rated.sum()), p=STAR_SHARES)
    ages = rng.integers(0, days * 86400, size=n_interactions)
    return SyntheticFeedback(users, chosen.astype(np.int64), kinds, values, ages)
