"""Knowledge graph at HEAL scale: load time and query latency on a synthetic graph of ~22k nodes and ~104k edges.

Writes a synthetic HEAL folder (stressors with stories assembled from word pools, expectations, responses,
feedback, affective states; edge counts in HEAL's proportions), then

1. times ``load_heal`` on the folder and ``KnowledgeGraph.save`` (which embeds every stressor story once);
2. times ``KnowledgeGraph.load`` of the saved file — what ``escgraph kg query`` and the kemi graph pay;
3. runs retrievals (query embedding, similarity over all stories, response ranking over the neighbourhood).

The reference measured in the same run is the bare query embedding (``embed([query])``) of the same queries,
back to back with each retrieval. Goals: load <= 5 s, query p50 <= 30 ms.

    python bench/bench_kg.py [--nodes 22000] [--edges 104000] [--queries 200] [--seed 13]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from escgraph.embeddings import embed
from escgraph.memory.knowledge_graph import KnowledgeGraph, load_heal

WHO = ["my boss", "my mother", "my partner", "my best friend", "my teacher", "my brother", "my landlord", "my team"]
WHAT = ["shouted at me", "ignored me", "left me", "lied to me", "criticised my work", "forgot my birthday",
        "moved away", "stopped talking to me", "blamed me", "laughed at me"]
WHEN = ["last night", "at work today", "during dinner", "in front of everyone", "last month", "again this week"]
FEEL = ["I feel worthless", "I can't sleep", "I keep crying", "I am so angry", "I feel alone", "I am scared",
        "I can't focus", "I feel ashamed"]
EMOTIONS = ["sadness", "anxiety", "anger", "shame", "guilt", "loneliness", "fear", "hopelessness"]


def synthetic_heal(folder: Path, nodes: int, edges: int, rng: random.Random) -> None:
    # HEAL's proportions, roughly: stressors and responses dominate; a few thousand expectations and feedback
    n_s, n_i, n_f = int(nodes * 0.18), int(nodes * 0.08), int(nodes * 0.08)
    n_a = int(nodes * 0.20)
    n_r = nodes - n_s - n_i - n_f - n_a
    stories = [f"{rng.choice(WHO).capitalize()} {rng.choice(WHAT)} {rng.choice(WHEN)} and {rng.choice(FEEL)}."
               for _ in range(n_s)]
    files = {
        "nodes/stressors.txt": {"nodes": [{"id": f"t{k}", "label": s[:40], "value": rng.randint(1, 20), "story": s}
                                          for k, s in enumerate(stories)]},
        "nodes/expectations.txt": {"nodes": [{"id": f"i{k}", "label": f"wants {rng.choice(FEEL).lower()} to stop",
                                              "value": 1} for k in range(n_i)]},
        "nodes/responses.txt": {"nodes": [{"id": f"r{k}", "label": f"It sounds like {rng.choice(WHO)} "
                                                                  f"{rng.choice(WHAT)}; that must hurt.", "value": 1}
                                          for k in range(n_r)]},
        "nodes/feedback.txt": {"nodes": [{"id": f"f{k}", "label": rng.choice(["Thanks, that helps.", "Not really.",
                                                                              "That makes sense."]), "value": 1}
                                         for k in range(n_f)]},
        "nodes/affective_states.txt": {"nodes": [{"id": _affect(k, n_s), "label": EMOTIONS[(k // n_s) % 8],
                                                  "value": 1} for k in range(n_a)]},
    }
    share = {"stressors-responses": 0.45, "expectations-responses": 0.15, "expectations-stressors": 0.12,
             "responses-feedback": 0.18}
    for name, frac in share.items():
        a, b = {"stressors-responses": ("t", "r"), "expectations-responses": ("i", "r"),
                "expectations-stressors": ("i", "t"), "responses-feedback": ("r", "f")}[name]
        size = {"t": n_s, "r": n_r, "i": n_i, "f": n_f}
        pairs: set[tuple[str, str]] = set()
        while len(pairs) < int((edges - n_a) * frac / sum(share.values())):  # distinct pairs: no merged edges
            pairs.add((f"{a}{rng.randrange(size[a])}", f"{b}{rng.randrange(size[b])}"))
        files[f"edges/{name}.txt"] = {"edges": [{"from": u, "to": v, "value": rng.randint(1, 9)}
                                                for u, v in sorted(pairs)]}
    files["edges/affective_states.txt"] = {"edges": [
        {"from": f"t{k % n_s}", "to": _affect(k, n_s), "value": 1} for k in range(n_a)]}
    for rel, doc in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(json.dumps(doc))


def _affect(k: int, n_s: int) -> str:
    return f"e{(k // n_s) % 8 + 1}-t{k % n_s}"  # HEAL's e<k>-<node>: emotion k of stressor node


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=22000)
    parser.add_argument("--edges", type=int, default=104000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    embed("warm up")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "heal"
        synthetic_heal(folder, args.nodes, args.edges, rng)
        t = time.perf_counter()
        graph, report = load_heal(folder)
        heal_load = time.perf_counter() - t
        t = time.perf_counter()
        graph.save(Path(tmp) / "kg.json")
        save = time.perf_counter() - t
        t = time.perf_counter()
        kg = KnowledgeGraph.load(Path(tmp) / "kg.json")
        load = time.perf_counter() - t
        counts = kg.counts()
        queries = [f"{rng.choice(WHO)} {rng.choice(WHAT)} and {rng.choice(FEEL).lower()}" for _ in range(args.queries)]
        retrieval, reference = [], []
        for q in queries:
            t = time.perf_counter()
            kg.retrieve(q, k=3)
            retrieval.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            embed([q])
            reference.append((time.perf_counter() - t) * 1000)
    nodes = sum(v for k, v in counts.items() if k != "edges")
    print(f"graph: {nodes} nodes, {counts['edges']} edges ({report.total_edges} edge rows, "
          f"{report.dangling_edges} dangling)")
    print(f"load_heal (HEAL folder): {heal_load:.2f} s; save incl. embedding {counts.get('stressor', 0)} stories: "
          f"{save:.1f} s")
    print(f"KnowledgeGraph.load (saved file + embeddings): {load:.2f} s  (goal <= 5 s)")
    p50, p95 = statistics.median(retrieval), pct(retrieval, 0.95)
    r50 = statistics.median(reference)
    print(f"retrieve top-3: p50 {p50:.1f} ms, p95 {p95:.1f} ms  (goal p50 <= 30 ms)")
    print(f"reference, bare query embedding: p50 {r50:.1f} ms; retrieval / reference = {p50 / r50:.2f}x")


if __name__ == "__main__":
    main()
