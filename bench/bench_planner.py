"""Strategy planning on ESConv: escgraph's trained planner against baselines, all measured in the same run.

Trains the planner on the train split (timed: features, fit, out-of-fold bias offsets), then reports Q (macro-F1), B
(preference bias) and accuracy on the validation split for: the trained planner (raw and debiased), random by the
training prior, always the most frequent strategy, repeat the previous strategy, and the zero-shot embedded LLM
(the strategy counselor on SmolLM2-135M; on a fixed random subsample of --llm-cases cases, because it takes about
a second per case). ESConv is read from the user's copy: pass --train/--valid, or the bench looks for
``../shared/data/esconv`` beside the repository and skips with a message when it is absent.

    python bench/bench_planner.py [--train FILE --valid FILE] [--llm-cases 200] [--seed 13] [--seeds 1]

With ``--seeds N`` the planner is also trained with N-1 further seeds (each a different assignment of dialogues to
the folds that fit the bias offsets) and the spread of its validation scores is printed: one run is one draw.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from escgraph.esconv import load_esconv, to_cases
from escgraph.agents.llm_planner import LLMPlanner
from escgraph.planner import TrainedPlanner, predict
from escgraph.planner_eval import evaluate
from escgraph.planner_train import train_planner
from escgraph.types import STRATEGIES


def row(name: str, gold: list[str], pred: list[str]) -> str:
    r = evaluate(gold, pred)
    return f"{name:<42}{r['n']:>6}{r['Q']:>8.2f}{r['B']:>8.3f}{r['accuracy']:>8.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path)
    parser.add_argument("--valid", type=Path)
    parser.add_argument("--llm-cases", type=int, default=200)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--seeds", type=int, default=1, help="training seeds to measure the spread over")
    args = parser.parse_args()
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "esconv"
    train_path, valid_path = args.train or default / "train.jsonl", args.valid or default / "valid.jsonl"
    if not train_path.is_file() or not valid_path.is_file():
        print(f"skipped: no ESConv train/valid files ({train_path}, {valid_path}); pass --train and --valid")
        sys.exit(0)
    train = to_cases(load_esconv(train_path)[0], source="train")
    valid = [c for c in to_cases(load_esconv(valid_path)[0], source="valid") if c["gold"] in STRATEGIES]
    gold = [c["gold"] for c in valid]
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        manifest = train_planner(train, tmp, seed=args.seed)
        seconds = time.perf_counter() - t
        planner = TrainedPlanner(tmp)
        pred = predict(planner, valid)
        raw = predict_raw(planner, valid)
    rng = random.Random(args.seed)
    prior = Counter(c["gold"] for c in train)
    labels, weights = zip(*sorted(prior.items()))
    print(f"train: {len(train)} cases; validation: {len(valid)} cases; training took {seconds:.0f} s "
          f"on {manifest['training']['dialogues']} dialogues")
    print(f"{'planner':<42}{'n':>6}{'Q':>8}{'B':>8}{'acc%':>8}")
    print(row("escgraph trained planner (debiased)", gold, pred))
    print(row("escgraph trained planner (no bias offsets)", gold, raw))
    print(row("random by training prior", gold, rng.choices(labels, weights, k=len(valid))))
    print(row("always the most frequent", gold, [prior.most_common(1)[0][0]] * len(valid)))
    print(row("repeat the previous strategy", gold, [
        next((t["strategy"] for t in reversed(c["context"]) if t.get("strategy")), prior.most_common(1)[0][0])
        for c in valid]))
    if args.seeds > 1:
        spread(train, valid, gold, [args.seed + k for k in range(args.seeds)], first=evaluate(gold, pred))
    if args.llm_cases:
        from escgraph.llm import load_chat_model

        sample = random.Random(args.seed).sample(range(len(valid)), min(args.llm_cases, len(valid)))
        sub = [valid[i] for i in sample]
        t = time.perf_counter()
        llm = predict(LLMPlanner(load_chat_model("local", temperature=0.0, seed=0)), sub)
        took = time.perf_counter() - t
        sub_gold = [c["gold"] for c in sub]
        print(row(f"zero-shot embedded LLM ({len(sub)}-case sample)", sub_gold, llm))
        print(row("escgraph trained planner, same sample", sub_gold, [pred[i] for i in sample]))
        print(f"(zero-shot LLM: {took / len(sub):.2f} s per case)")


def spread(train: list[dict], valid: list[dict], gold: list[str], seeds: list[int], first: dict) -> None:
    scores = [first]
    for seed in seeds[1:]:
        with tempfile.TemporaryDirectory() as tmp:
            train_planner(train, tmp, seed=seed)
            scores.append(evaluate(gold, predict(TrainedPlanner(tmp), valid)))
    for key in ("Q", "B", "accuracy"):
        values, d = [s[key] for s in scores], 3 if key == "B" else 2
        print(f"debiased {key} over seeds {seeds}: mean {statistics.mean(values):.{d}f}, "
              f"sd {statistics.stdev(values):.{d}f}, range {min(values):.{d}f}-{max(values):.{d}f}")


def predict_raw(planner: TrainedPlanner, cases: list[dict]) -> list[str]:
    return [max(d, key=d.get) for d in planner.distributions(cases, debiased=False)]


if __name__ == "__main__":
    main()
