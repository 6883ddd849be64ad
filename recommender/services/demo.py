"""A simulated community for the demo catalogue, so a newcomer sees a living site.

Each simulated reader has a taste: weights over a few research topics, each topic a
set of keywords. Readers open papers close to their taste, like or save some, rate a
few (better stars for closer papers) and dismiss some papers far from it. Activity
follows a long tail (a few heavy readers, many light ones) and is spread over the past
weeks. The same seed gives the same community (times are relative to ``now``).
"""

import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from recommender.models import Interaction, Paper

Kind = Interaction.Kind
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "paperfeed-demo"
DEMO_EMAIL = "demo@example.org"

TOPICS: dict[str, tuple[str, ...]] = {
    "multimodal models": ("multimodal", "mllm", "vision-language", "visual", "llava", "image", "vit", "vlm"),
    "hardware accelerators": ("accelerator", "fpga", "chip", "hardware", "asic", "silicon", "amx", "npu", "co-design"),
    "distributed training": ("distributed", "parallel", "cluster", "gpus", "communication", "pre-training", "pipeline", "scale"),
    "on-device ML": ("mobile", "phone", "on-device", "edge", "browser", "quantization", "tiny", "lightweight", "cpu"),
    "LLM inference": ("inference", "serving", "decoding", "speculative", "latency", "mixture-of-experts", "offloading", "kv"),
    "agents and benchmarks": ("agent", "benchmark", "evaluation", "evaluating", "research", "bench"),
    "ML for science": ("physics", "particle", "science", "scientific", "atomistic", "jet", "lhc", "hls4ml", "detector"),
}
NAMES = (
    "alice bob charlie dana erin frank grace heidi ivan judy karl laura mallory niaj olivia peggy "
    "quentin rupert sybil trent uma victor wendy xavier yara zoe amir bea chen dmitri elif farah "
    "goran hana ines jonas"
).split()


@dataclass
class DemoResult:
    created: bool
    users: int = 0
    interactions: int = 0


def topic_affinities(paper: Paper) -> list[float]:
    """How much ``paper`` is about each topic (title words count three times), summing to 1."""
    title = paper.title.lower()
    text = f"{title} {paper.abstract.lower()}"
    scores = []
    for keywords in TOPICS.values():
        score = 0.0
        for keyword in keywords:
            pattern = r"\b" + re.escape(keyword)
            score += 3 * len(re.findall(pattern, title)) + len(re.findall(pattern, text))
        scores.append(score)
    total = sum(scores)
    return [s / total for s in scores] if total else [1 / len(scores)] * len(scores)


def _taste(rng: random.Random) -> list[float]:
    """One or two favourite topics, with a little interest in the rest."""
    favourites = rng.sample(range(len(TOPICS)), k=rng.choice((1, 2, 2)))
    weights = [0.03] * len(TOPICS)
    for topic in favourites:
        weights[topic] += rng.uniform(0.5, 1.0)
    total = sum(weights)
    return [w / total for w in weights]


@transaction.atomic
def demo_community_create(*, seed: int = 0, users: int = 36, now: datetime | None = None, on_progress=None) -> DemoResult:
    """Create the demo account and ``users`` simulated readers with their feedback. Does nothing if the demo account exists."""
    if User.objects.filter(username=DEMO_USERNAME).exists():
        return DemoResult(created=False)
    papers = list(Paper.objects.order_by("id"))
    if not papers:
        raise ValueError("The catalogue is empty: import papers before creating the demo community.")
    progress = on_progress or (lambda n: None)
    rng = random.Random(seed)
    now = now or timezone.now()
    affinities = [topic_affinities(p) for p in papers]

    names = [NAMES[i % len(NAMES)] + (str(i // len(NAMES) + 1) if i >= len(NAMES) else "") for i in range(users)]
    readers = [User(username=name, email=f"{name}@example.org", weekly_digest=True, password=make_password(None)) for name in names]
    demo = User(username=DEMO_USERNAME, email=DEMO_EMAIL, weekly_digest=True, password=make_password(DEMO_PASSWORD))
    User.objects.bulk_create([*readers, demo])
    stored = {u.username: u for u in User.objects.filter(username__in=[*names, DEMO_USERNAME])}

    interactions: list[Interaction] = []
    for index, name in enumerate([*names, DEMO_USERNAME]):
        user = stored[name]
        taste = _taste(rng)
        # Long-tailed activity: most readers open 6-15 papers, a few open 40 or more.
        n_reads = min(len(papers), int(6 + rng.paretovariate(1.6) * 5)) if name != DEMO_USERNAME else 8
        interactions.extend(_reader_history(rng, user, taste, papers, affinities, n_reads, now, is_demo=name == DEMO_USERNAME))
        progress(1)
    Interaction.objects.bulk_create(interactions)
    return DemoResult(created=True, users=len(stored), interactions=len(interactions))


def _reader_history(rng, user, taste, papers, affinities, n_reads, now, *, is_demo: bool) -> list[Interaction]:
    match = [sum(t * a for t, a in zip(taste, aff)) for aff in affinities]
    best = max(match) or 1.0
    closeness = [m / best for m in match]  # 1.0 for the closest paper
    weights = [c**3 + 0.01 for c in closeness]
    chosen: list[int] = []
    pool = list(range(len(papers)))
    while len(chosen) < n_reads and pool:
        pick = rng.choices(range(len(pool)), weights=[weights[i] for i in pool])[0]
        chosen.append(pool.pop(pick))

    result: list[Interaction] = []
    for i in chosen:
        paper, fit = papers[i], closeness[i]
        read_at = now - timedelta(days=rng.expovariate(1 / 12) % 42, minutes=rng.randrange(1440))
        result.append(Interaction(user=user, paper=paper, kind=Kind.READ, created=read_at))
        later = read_at + timedelta(minutes=rng.randrange(2, 90))
        if is_demo:
            continue  # the demo reader's own likes and ratings are left for the newcomer to make
        liked = rng.random() < 0.15 + 0.6 * fit
        saved = rng.random() < 0.25 * fit
        if liked:
            result.append(Interaction(user=user, paper=paper, kind=Kind.LIKE, created=later))
        if saved:
            result.append(Interaction(user=user, paper=paper, kind=Kind.SAVE, created=later))
        if rng.random() < 0.3:
            stars = max(1, min(5, round(1.5 + 3.5 * fit + rng.gauss(0, 0.6))))
            result.append(Interaction(user=user, paper=paper, kind=Kind.RATE, value=stars, created=later))
        elif fit < 0.25 and not (liked or saved) and rng.random() < 0.5:
            result.append(Interaction(user=user, paper=paper, kind=Kind.DISMISS, created=later))
    return result
