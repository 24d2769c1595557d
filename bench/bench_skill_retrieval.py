"""Skill retrieval at bank scale: index build time and per-query latency for a 10,000-skill bank.

Builds synthetic but valid skills (text assembled from word pools, applicability varied), then

1. times the index build: a persistent chromadb collection in a temporary folder, its reopen (reuse, no
   re-embedding), and the in-memory numpy index over the same skills;
2. runs top-k retrievals for varied seeker states through :class:`SkillRetriever` over both indexes, timing the
   whole call — query building, query embedding, search, applicability filtering, ``why`` text.

The reference measured in the same run is the bare query embedding (``embed([query])``) of the same queries:
per query the three measurements run back to back, so machine noise hits all alike. Goal: chroma retrieval
p50 <= 15 ms. Everything is offline (bundled MiniLM, chromadb telemetry off).

    python bench/bench_skill_retrieval.py [--skills 10000] [--queries 200] [-k 5] [--seed 13]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time

from escgraph.embeddings import embed
from escgraph.skills_bank.index import ChromaSkillIndex, InMemorySkillIndex
from escgraph.skills_bank.retrieval import SkillRetriever, build_query
from escgraph.skills_bank.schema import Skill
from escgraph.types import STRATEGIES

SITUATIONS = ["grief", "breakup with partner", "job crisis", "academic pressure", "ongoing depression",
              "problems with friends", "issues with parents", "sleep problems", "school bullying", "procrastination"]
EMOTIONS = ["sadness", "anxiety", "anger", "shame", "fear", "loneliness", "guilt", "frustration", "disgust"]
STAGES = ["exploration", "comforting", "action"]
VERBS = ["acknowledge", "reflect", "normalise", "explore", "name", "gently question", "summarise", "validate",
         "reframe", "plan", "break down", "invite", "slow down", "ground", "affirm", "clarify"]
OBJECTS = ["the loss", "their worry", "the anger", "small next steps", "the relationship", "their sleep",
           "the deadline", "their self-blame", "the conflict", "what they miss", "their strengths", "the panic",
           "their support network", "the unfairness", "the exam", "the uncertainty", "their values"]
TRIGGERS = ["lost someone close", "was left by a partner", "lost their job", "is failing a course",
            "cannot sleep for weeks", "feels nobody understands them", "argued with a parent", "is bullied at school",
            "keeps putting work off", "feels numb and empty", "was betrayed by a friend", "fears the future"]
FEELINGS = ["overwhelmed", "stuck", "ashamed", "alone", "furious", "exhausted", "hopeless", "on edge", "guilty"]


def synthetic_skill(i: int, rng: random.Random) -> Skill:
    verb, obj, trigger = rng.choice(VERBS), rng.choice(OBJECTS), rng.choice(TRIGGERS)
    lo = rng.randint(1, 4)
    return Skill.model_validate({
        "id": f"skill-{i:05d}", "name": f"{verb.capitalize()} {obj} #{i}",
        "summary": f"Help a seeker who {trigger} to {verb} {obj} and feel less {rng.choice(FEELINGS)}.",
        "guidance": [f"{v.capitalize()} {rng.choice(OBJECTS)}." for v in rng.sample(VERBS, 3)],
        "applicability": {
            "when_to_use": [f"the seeker {rng.choice(TRIGGERS)} and feels {rng.choice(FEELINGS)}"
                            for _ in range(rng.randint(1, 3))],
            "when_not_to_use": ["the seeker is in danger"],
            "stages": rng.sample(STAGES, rng.randint(1, 2)),
            "situations": rng.sample(SITUATIONS, rng.choice([0, 1, 1, 2])),
            "emotions": rng.sample(EMOTIONS, rng.choice([0, 1, 2])),
            "min_intensity": lo, "max_intensity": rng.randint(lo, 5),
        },
        "expected_outcomes": ["the seeker feels understood"], "risks": ["sounding scripted; use their words"],
        "strategies": rng.sample(STRATEGIES[:7], 2),
        "examples": [{"seeker": f"I feel {rng.choice(FEELINGS)}.", "supporter": "That sounds really heavy."}],
        "status": "retired" if rng.random() < 0.05 else "active",
    })


def synthetic_state(rng: random.Random) -> dict:
    trigger, feeling = rng.choice(TRIGGERS), rng.choice(FEELINGS)
    verb, rest = trigger.split(" ", 1)
    first_person = {"is": "am", "feels": "feel", "keeps": "keep", "fears": "fear"}.get(verb, verb)
    dialogue = (f"Seeker: I {first_person} {rest} and I feel {feeling}.\n"
                f"Supporter: That sounds hard. Can you tell me more?\n"
                f"Seeker: It has been like this for {rng.randint(2, 12)} weeks and I {rng.choice(VERBS)} nothing.")
    return {"stage": rng.choice(STAGES), "emotion": rng.choice(EMOTIONS), "intensity": rng.randint(1, 5),
            "problem_type": rng.choice(SITUATIONS), "situation": f"The seeker {trigger}.", "dialogue": dialogue}


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skills", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--goal-ms", type=float, default=15.0, help="target p50 for a chroma retrieval")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    skills = {s.id: s for s in (synthetic_skill(i, rng) for i in range(args.skills))}
    load_s, _ = timed(embed, ["warm up the embedder"])
    print(f"{len(skills)} skills; embedder loaded in {load_s:.1f} s")

    with tempfile.TemporaryDirectory(prefix="escgraph-bench-index-") as index_dir:
        chroma_s, chroma = timed(ChromaSkillIndex.open, index_dir, "bench-v1", skills)
        reopen_s, chroma = timed(ChromaSkillIndex.open, index_dir, "bench-v1", skills)
        memory_s, memory = timed(InMemorySkillIndex, skills)
        print(f"build  chroma (persistent) {chroma_s:7.1f} s   reopen {reopen_s * 1000:6.0f} ms   "
              f"in-memory {memory_s:7.1f} s   chroma/in-memory {chroma_s / memory_s:.2f}x")

        filtered = []  # how often the retriever needed chromadb's (slow) metadata-filtered search
        plain_search = chroma.search

        def counting_search(query_text, k, where=None):
            if where:
                filtered.append(where)
            return plain_search(query_text, k, where)

        chroma.search = counting_search
        via_chroma, via_memory = SkillRetriever(skills, chroma), SkillRetriever(skills, memory)
        states = [synthetic_state(rng) for _ in range(args.queries)]
        for state in states[:5]:  # warm caches and code paths outside the timing
            via_chroma.retrieve(state, k=args.k), via_memory.retrieve(state, k=args.k)
        filtered.clear()
        bare, mem, chr_ = [], [], []
        short = 0
        for i, state in enumerate(states):
            runs = [("embed", lambda s=state: embed([build_query(s)])),
                    ("memory", lambda s=state: via_memory.retrieve(s, k=args.k)),
                    ("chroma", lambda s=state: via_chroma.retrieve(s, k=args.k))]
            for name, call in (runs if i % 2 else runs[::-1]):  # alternate order so drift hits all alike
                seconds, result = timed(call)
                {"embed": bare, "memory": mem, "chroma": chr_}[name].append(seconds * 1000)
                if name == "chroma" and len(result) < args.k:
                    short += 1

    def row(label: str, values: list[float]) -> str:
        return f"{label:<34} p50 {percentile(values, .5):7.2f} ms   p95 {percentile(values, .95):7.2f} ms"

    print(f"{args.queries} top-{args.k} retrievals over {len(skills)} skills (times include query embedding):")
    print(row("reference: bare query embedding", bare))
    print(row("retrieve via in-memory index", mem))
    print(row("retrieve via chroma index", chr_))
    p50 = percentile(chr_, .5)
    print(f"chroma retrieval / bare embedding (p50): {p50 / percentile(bare, .5):.2f}x;"
          f" results short of k: {short}; filtered fallback searches: {len(filtered)}")
    verdict = "PASS" if p50 <= args.goal_ms else "FAIL"
    print(f"{verdict}: chroma retrieval p50 {p50:.2f} ms (goal <= {args.goal_ms:g} ms), "
          f"p95 {percentile(chr_, .95):.2f} ms; build {chroma_s:.1f} s for {len(skills)} skills")


if __name__ == "__main__":
    main()
