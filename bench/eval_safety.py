"""Evaluate the safety detector on labelled JSON-lines files: recall and false alarms, overall and per category.

    python bench/eval_safety.py                      # both evaluation sets: dev and (frozen) test parts
    python bench/eval_safety.py FILE [FILE ...]      # any files in the same format
    python bench/eval_safety.py --rules-only         # without the embedding signal
    python bench/eval_safety.py --misses             # list every miss / false alarm with its reasons

Each line is ``{"text", "crisis": bool, "category", "evasion"?, "language"?, "context"?}``. For each file it
prints recall on crisis messages and the false-alarm rate on the others, overall and broken down by category,
evasion, language and context (n = number of crisis / non-crisis messages in that cell), and which text view
(original, folded, deobfuscated, decoded, emoji) produced the flags. Misses are listed for files that are not a
frozen test part unless ``--misses`` is given: tune on dev, measure on test.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
# the first set (dev, frozen test), the second, written blind to the detector (dev, frozen test), and the third,
# also written blind (two dev files, no test part)
DEFAULT_FILES = tuple(DATA / f"safety_eval{n}_{part}.jsonl" for n in ("", "2") for part in ("dev", "test")) + \
    (DATA / "safety_eval3_dev_a.jsonl", DATA / "safety_eval3_dev_b.jsonl")


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


def _cell() -> dict:
    return {"n_crisis": 0, "caught": 0, "n_calm": 0, "false_alarms": 0}


def _rates(cell: dict) -> dict:
    cell["recall"] = cell["caught"] / cell["n_crisis"] if cell["n_crisis"] else None
    cell["fp_rate"] = cell["false_alarms"] / cell["n_calm"] if cell["n_calm"] else None
    return cell


def evaluate(cases: list[dict], detector) -> dict:
    """Recall / false alarms overall and per category, evasion, language and context; misses with verdicts."""
    verdicts = detector.check_many([c["text"] for c in cases])
    overall = _cell()
    breakdown: dict[str, dict[str, dict]] = {k: defaultdict(_cell) for k in
                                             ("category", "evasion", "language", "context")}
    views: Counter = Counter()
    misses = []
    for case, verdict in zip(cases, verdicts):
        keys = {"category": case.get("category", "?"), "evasion": case.get("evasion", "none"),
                "language": case.get("language", "en"), "context": case.get("context", "-")}
        cells = [overall] + [breakdown[k][v] for k, v in keys.items()]
        for cell in cells:
            if case["crisis"]:
                cell["n_crisis"] += 1
                cell["caught"] += verdict.crisis
            else:
                cell["n_calm"] += 1
                cell["false_alarms"] += verdict.crisis
        if verdict.crisis:
            views[_view(verdict)] += 1
        if case["crisis"] != verdict.crisis:
            misses.append((case, verdict))
    return {**_rates(overall),
            "breakdown": {k: {name: _rates(cell) for name, cell in sorted(v.items())} for k, v in breakdown.items()},
            "views": views, "misses": misses}


def _view(verdict) -> str:
    """Which text view the flag came from (the detector records it as a ``view.<name>`` signal)."""
    found = [k.split(".", 1)[1] for k in verdict.signals if k.startswith("view.")]
    return "+".join(sorted(found)) if found else "original"


def _fmt(value: float | None) -> str:
    return "   -  " if value is None else f"{value:6.3f}"


def print_report(name: str, cases: list[dict], result: dict, elapsed: float, show_misses: bool) -> None:
    print(f"== {name}  ({len(cases)} messages, {elapsed:.2f}s, {elapsed / max(len(cases), 1) * 1000:.0f} ms/msg)")
    print(f"recall on crisis:        {result['caught']}/{result['n_crisis']} = {_fmt(result['recall']).strip()}")
    print(f"false alarms on calm:    {result['false_alarms']}/{result['n_calm']} = "
          f"{_fmt(result['fp_rate']).strip()}")
    for key in ("category", "evasion", "language", "context"):
        cells = result["breakdown"][key]
        if len(cells) <= 1 and key != "category":
            continue
        print(f"  by {key:<22} recall (n)       false alarms (n)")
        for label, cell in cells.items():
            print(f"    {label:<24} {_fmt(cell['recall'])} ({cell['n_crisis']:>3})   "
                  f"{_fmt(cell['fp_rate'])} ({cell['n_calm']:>3})")
    if result["views"]:
        print("  flags by matching view: " + ", ".join(f"{v} {n}" for v, n in result["views"].most_common()))
    if result["misses"] and show_misses:
        print("  misses:")
        for case, verdict in result["misses"]:
            kind = "MISSED CRISIS" if case["crisis"] else "FALSE ALARM"
            print(f"    [{kind}] {case.get('category', '?')} score={verdict.score:.2f} {case['text'][:100]!r}")
            for reason in verdict.reasons:
                print(f"        - {reason}")
    elif result["misses"]:
        print(f"  ({len(result['misses'])} misses not listed: frozen test part; use --misses to see them)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, default=list(DEFAULT_FILES))
    parser.add_argument("--rules-only", action="store_true", help="disable the embedding signal")
    parser.add_argument("--misses", action="store_true", help="list misses for every file, test parts included")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    from escgraph.agents.safety import SafetyDetector

    detector = SafetyDetector(use_embeddings=not args.rules_only)
    detector.check("warm-up")  # load the embedder outside the timing
    total = _cell()
    dump = {}
    for path in args.files:
        cases = load_cases(path)
        started = time.perf_counter()
        result = evaluate(cases, detector)
        elapsed = time.perf_counter() - started
        show = args.misses or "test" not in path.name
        print_report(path.name, cases, result, elapsed, show)
        print()
        for k in total:
            total[k] += result[k]
        dump[path.name] = {k: v for k, v in result.items() if k not in ("misses", "views")}
    if len(args.files) > 1:
        _rates(total)
        print(f"== all files: recall {total['caught']}/{total['n_crisis']} = {_fmt(total['recall']).strip()}, "
              f"false alarms {total['false_alarms']}/{total['n_calm']} = {_fmt(total['fp_rate']).strip()}")
    if args.json:
        args.json.write_text(json.dumps(dump, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
