"""Split the second safety evaluation set into a dev part (tune on it) and a test part (frozen).

    python tests/data/safety_eval2_split.py PART_A.jsonl PART_B.jsonl   # writes safety_eval2_{dev,test}.jsonl here

The second set (494 messages) was written blind to the detector: its authors saw the taxonomy and this file
format, never the rules, exemplars, the first set or a verdict. Part A covers the C-SSRS ladder, part B access
to means, harm to others, abuse, self-harm, medical emergencies and minors; both add ordinary distress. The split
ran once, on the authors' two files, before any tuning against this set; the test part is frozen from then on.
Cases are grouped by (category, crisis); inside a group they are ordered by the sha256 of their text and dealt
alternately, the first to dev. Line format as in ``safety_eval_build.py``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections import defaultdict
from pathlib import Path


def split(cases: list[dict]) -> tuple[list[dict], list[dict]]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for case in cases:
        groups[(case["category"], case["crisis"])].append(case)
    dev, test = [], []
    for key in sorted(groups, key=str):
        ordered = sorted(groups[key], key=lambda c: hashlib.sha256(c["text"].encode()).hexdigest())
        for i, case in enumerate(ordered):
            (dev if i % 2 == 0 else test).append(case)
    return dev, test


def main(paths: list[str]) -> None:
    cases = [json.loads(line) for p in paths for line in Path(p).read_text(encoding="utf-8").splitlines()
             if line.strip()]
    if len({c["text"] for c in cases}) != len(cases):
        raise SystemExit("duplicate texts")
    here = Path(__file__).resolve().parent
    for name, part in zip(("dev", "test"), split(cases)):
        lines = [json.dumps(c, ensure_ascii=False) for c in part]
        (here / f"safety_eval2_{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"safety_eval2_{name}.jsonl: {len(part)} cases, {sum(c['crisis'] for c in part)} crisis")


if __name__ == "__main__":
    main(sys.argv[1:])
