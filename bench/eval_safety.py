"""Evaluate the safety detector on a labelled JSON-lines file.

    python bench/eval_safety.py [FILE]            # default: tests/data/safety_dev.jsonl
    python bench/eval_safety.py FILE --rules-only # without the embedding signal

Each line is ``{"text", "crisis": bool, "category"}``. Prints recall on crisis messages, the false-positive rate
on non-crisis messages, category confusions, and every miss with its score and reasons.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

DEFAULT_FILE = Path(__file__).resolve().parents[1] / "tests" / "data" / "safety_dev.jsonl"


def load_cases(path: Path) -> list[dict]:
    cases = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SystemExit(f"{path}: line {line_no}: not valid JSON ({exc.msg})") from None
        if not isinstance(item.get("text"), str) or not isinstance(item.get("crisis"), bool):
            raise SystemExit(f'{path}: line {line_no}: need a string "text" and a boolean "crisis"')
        cases.append(item)
    return cases


def evaluate(cases: list[dict], detector) -> dict:
    verdicts = detector.check_many([c["text"] for c in cases])
    crisis = [(c, v) for c, v in zip(cases, verdicts) if c["crisis"]]
    calm = [(c, v) for c, v in zip(cases, verdicts) if not c["crisis"]]
    caught = sum(v.crisis for _, v in crisis)
    false_alarms = sum(v.crisis for _, v in calm)
    confusions = Counter((c.get("category", "?"), v.category) for c, v in zip(cases, verdicts)
                         if c.get("category", "?") != v.category)
    misses = [(c, v) for c, v in zip(cases, verdicts) if c["crisis"] != v.crisis]
    return {
        "n_crisis": len(crisis), "n_calm": len(calm), "caught": caught, "false_alarms": false_alarms,
        "recall": caught / len(crisis) if crisis else 1.0,
        "fp_rate": false_alarms / len(calm) if calm else 0.0,
        "confusions": confusions, "misses": misses,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--rules-only", action="store_true", help="disable the embedding signal")
    args = parser.parse_args(argv)

    from escgraph.agents.safety import SafetyDetector

    cases = load_cases(args.file)
    detector = SafetyDetector(use_embeddings=not args.rules_only)
    detector.check("warm-up")  # load the embedder outside the timing
    started = time.perf_counter()
    result = evaluate(cases, detector)
    elapsed = time.perf_counter() - started

    print(f"file: {args.file.name}  ({len(cases)} messages, {elapsed:.2f}s, {elapsed / max(len(cases), 1) * 1000:.0f} ms/msg)")
    print(f"recall on crisis:        {result['caught']}/{result['n_crisis']} = {result['recall']:.3f}")
    print(f"false positives on calm: {result['false_alarms']}/{result['n_calm']} = {result['fp_rate']:.3f}")
    if result["confusions"]:
        print("category confusions (gold -> predicted):")
        for (gold, pred), n in result["confusions"].most_common():
            print(f"  {gold:>13} -> {pred:<13} {n}")
    if result["misses"]:
        print("misses:")
        for case, verdict in result["misses"]:
            kind = "MISSED CRISIS" if case["crisis"] else "FALSE ALARM"
            print(f"  [{kind}] score={verdict.score:.2f} {case['text'][:100]!r}")
            for reason in verdict.reasons:
                print(f"      - {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
