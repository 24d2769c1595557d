"""Training escgraph's external strategy planner on CPU (Kang et al., ACL 2024 show LLMs choose ESConv strategies
poorly and with strong preference bias; an external planner fixes both).

Features of a next-strategy case (:func:`case_features`): MiniLM embeddings of the seeker's latest run of turns
and of the supporter's previous turn; the previous two strategies and the histogram of all earlier ones; the
position in the dialogue; cues of the seeker's latest turn (a question, thanks or goodbye, length); emotion and
problem type. A class-balanced multinomial logistic regression learns from them on 85% of the training dialogues;
then, against preference bias, the decoding adds one offset per strategy to the log-probabilities, fitted on the
other 15% so that the Bradley–Terry preferences of the predictions come out equal (each round moves an offset by
``-log p_i``). Validation data, when given, is only measured, never fitted. Everything is saved in one folder:
``planner.npz`` (numbers only — no pickle, safe to load from anyone) and ``manifest.json``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from escgraph.types import STRATEGIES

__all__ = ["case_features", "FeatureSpace", "train_planner", "preference_offsets", "PLANNER_FORMAT"]

PLANNER_FORMAT = "escgraph-strategy-planner"
_POSITION_BUCKETS = (0, 1, 2, 3, 5, 8, 12, 20)
_THANKS = re.compile(r"\b(thank|thanks|appreciate|helpful|bye|goodbye|take care)\b", re.IGNORECASE)
_GREETING = re.compile(r"^\W*(hi|hello|hey|good (morning|afternoon|evening))\b", re.IGNORECASE)


def _texts(case: dict[str, Any]) -> tuple[str, str]:
    context = case.get("context") or []
    seeker: list[str] = []
    for turn in reversed(context):
        if turn.get("role") != "seeker":
            break
        seeker.append(turn.get("text", ""))
    last_supporter = next((t.get("text", "") for t in reversed(context) if t.get("role") == "supporter"), "")
    return " ".join(reversed(seeker))[-600:] or "(nothing yet)", last_supporter[-400:] or "(start of the dialogue)"


class FeatureSpace:
    """The non-text part of the features, with the vocabularies learnt from training cases."""

    def __init__(self, emotions: Sequence[str], problems: Sequence[str]) -> None:
        self.emotions = list(emotions)
        self.problems = list(problems)

    @classmethod
    def fit(cls, cases: Sequence[dict[str, Any]]) -> "FeatureSpace":
        def top(key: str) -> list[str]:
            counts: dict[str, int] = {}
            for c in cases:
                v = str(c.get(key) or "").strip().lower()
                if v:
                    counts[v] = counts.get(v, 0) + 1
            return sorted(v for v, n in counts.items() if n >= 5)

        return cls(top("emotion_type"), top("problem_type"))

    def to_dict(self) -> dict[str, Any]:
        return {"emotions": self.emotions, "problems": self.problems}

    def vector(self, case: dict[str, Any]) -> np.ndarray:
        context = case.get("context") or []
        strategies = [t.get("strategy") for t in context if t.get("role") == "supporter"]
        index = {s: i for i, s in enumerate(STRATEGIES)}
        parts: list[np.ndarray] = []
        for back in (1, 2):  # the previous two strategies (none: last slot)
            one = np.zeros(len(STRATEGIES) + 1, dtype=np.float32)
            one[index.get(strategies[-back], len(STRATEGIES)) if len(strategies) >= back else len(STRATEGIES)] = 1
            parts.append(one)
        hist = np.zeros(len(STRATEGIES), dtype=np.float32)
        for s in strategies:
            if s in index:
                hist[index[s]] += 1
        parts.append(hist / max(1, len(strategies)))
        n_sup = len(strategies)
        bucket = np.zeros(len(_POSITION_BUCKETS), dtype=np.float32)
        bucket[max(i for i, b in enumerate(_POSITION_BUCKETS) if n_sup >= b)] = 1
        parts.append(bucket)
        seeker, _ = _texts(case)
        last = next((t.get("text", "") for t in reversed(context) if t.get("role") == "seeker"), "")
        parts.append(np.array([math.log1p(n_sup), math.log1p(len(context)), float("?" in last),
                               float(bool(_THANKS.search(last))), float(bool(_GREETING.search(last))),
                               math.log1p(len(seeker.split()))], dtype=np.float32))
        for vocab, key in ((self.emotions, "emotion_type"), (self.problems, "problem_type")):
            one = np.zeros(len(vocab) + 1, dtype=np.float32)
            value = str(case.get(key) or "").strip().lower()
            one[vocab.index(value) if value in vocab else len(vocab)] = 1
            parts.append(one)
        return np.concatenate(parts)


def case_features(cases: Sequence[dict[str, Any]], space: FeatureSpace,
                  embed: Callable[[list[str]], np.ndarray] | None = None, batch_size: int = 128) -> np.ndarray:
    """The feature matrix for ``cases`` (text embeddings first, then :meth:`FeatureSpace.vector`)."""
    if embed is None:
        from escgraph.embeddings import embed as _embed

        def embed(texts: list[str]) -> np.ndarray:
            return _embed(texts, batch_size=batch_size)

    pairs = [_texts(c) for c in cases]
    seeker = embed([p[0] for p in pairs])
    supporter = embed([p[1] for p in pairs])
    rest = np.stack([space.vector(c) for c in cases]) if cases else np.zeros((0, 0), dtype=np.float32)
    return np.hstack([seeker, supporter, rest]).astype(np.float32)


def preference_offsets(log_probs: np.ndarray, gold: Sequence[str], *, rounds: int = 60, step: float = 0.3
                       ) -> tuple[np.ndarray, list[dict[str, float]]]:
    """Per-strategy logit offsets that flatten the predictions' Bradley–Terry preferences against ``gold``."""
    from escgraph.strategy_metrics import strategy_report

    offsets = np.zeros(len(STRATEGIES))
    trace = []
    for r in range(rounds + 1):
        pred = [STRATEGIES[i] for i in (log_probs + offsets).argmax(axis=1)]
        report = strategy_report(list(gold), pred)
        if r % 10 == 0:
            trace.append({"round": r, "Q": round(report["Q"], 3), "B": round(report["B"], 4)})
        if r == rounds:
            break
        prefs = report["preferences"]
        offsets -= step * np.log(np.array([max(prefs[s], 1e-3) for s in STRATEGIES]))
    return offsets, trace


def train_planner(train_cases: Sequence[dict[str, Any]], out_dir: str | Path, *,
                  valid_cases: Sequence[dict[str, Any]] | None = None, c: float = 0.05,
                  seed: int = 13, embed: Callable[[list[str]], np.ndarray] | None = None,
                  log: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    """Train on ``train_cases`` (with gold) and save to ``out_dir``; ``valid_cases`` are only measured (raw and
    debiased Q, B, accuracy go into the manifest). Returns the manifest."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from escgraph.strategy_metrics import strategy_report

    started = time.perf_counter()
    labelled = [x for x in train_cases if x.get("gold") in STRATEGIES]
    if len({x["gold"] for x in labelled}) < 2:
        raise ValueError("training needs cases with at least two different gold strategies")
    # calibrate on whole held-out dialogues, never on turns of a dialogue the model learnt from
    dialogue = lambda x: str(x["id"]).rsplit(":", 1)[0]  # noqa: E731
    ids = sorted({dialogue(x) for x in labelled})
    rng = np.random.default_rng(seed)
    held = set(rng.choice(ids, size=max(1, len(ids) * 15 // 100), replace=False).tolist()) if len(ids) > 1 else set()
    calib = [x for x in labelled if dialogue(x) in held]
    fit_cases = [x for x in labelled if dialogue(x) not in held] or labelled
    calib = calib or fit_cases
    valid = [x for x in valid_cases or [] if x.get("gold") in STRATEGIES]
    space = FeatureSpace.fit(fit_cases)
    log(f"embedding {len(fit_cases)} training, {len(calib)} calibration and {len(valid)} validation cases")
    x_fit = case_features(fit_cases, space, embed)
    x_cal = case_features(calib, space, embed)
    embedded = time.perf_counter()
    scaler = StandardScaler().fit(x_fit)
    y = np.array([STRATEGIES.index(x["gold"]) for x in fit_cases])
    log("fitting a class-balanced logistic regression")
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=400, random_state=seed)
    model.fit(scaler.transform(x_fit), y)
    weights = np.zeros((len(STRATEGIES), x_fit.shape[1]))
    bias = np.full(len(STRATEGIES), -30.0)  # a strategy absent from training is never predicted
    weights[model.classes_], bias[model.classes_] = model.coef_, model.intercept_
    params = {"mean": scaler.mean_, "scale": scaler.scale_, "weights": weights, "bias": bias}
    log("fitting the preference offsets on held-out training dialogues")
    offsets, trace = preference_offsets(_log_probs(x_cal, params), [x["gold"] for x in calib])
    validation: dict[str, Any] = {"n": len(valid)}
    if valid:
        x_valid = case_features(valid, space, embed)
        for name, off in (("raw", np.zeros(len(STRATEGIES))), ("debiased", offsets)):
            pred = [STRATEGIES[i] for i in (_log_probs(x_valid, params) + off).argmax(axis=1)]
            report = strategy_report([x["gold"] for x in valid], pred)
            validation[name] = {"Q": round(report["Q"], 3), "B": round(report["B"], 4),
                                "accuracy": round(float(np.mean([p == x["gold"] for p, x in zip(pred, valid)])), 4),
                                "preferences": {k: round(v, 4) for k, v in report["preferences"].items()}}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / ".planner.tmp.npz", offsets=offsets, **params)
    (out / ".planner.tmp.npz").replace(out / "planner.npz")
    digest = hashlib.sha256((out / "planner.npz").read_bytes()).hexdigest()[:16]
    manifest = {
        "format": PLANNER_FORMAT, "format_version": 1, "kind": "trained", "labels": list(STRATEGIES),
        "features": {"text": "all-MiniLM-L6-v2: seeker's latest turns, supporter's previous turn",
                     **space.to_dict(), "position_buckets": list(_POSITION_BUCKETS)},
        "model": {"type": "multinomial logistic regression", "class_weight": "balanced", "C": c},
        "bias_correction": {"method": "per-strategy logit offsets flattening Bradley-Terry preferences",
                            "calibration_cases": len(calib), "offsets": dict(zip(STRATEGIES, offsets.round(4).tolist())),
                            "trace": trace},
        "validation": validation,
        "training": {"cases": len(fit_cases), "seconds": round(time.perf_counter() - started, 1),
                     "embedding_seconds": round(embedded - started, 1)},
        "content_hash": digest,
    }
    tmp = out / ".manifest.tmp.json"
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out / "manifest.json")
    return manifest


def _log_probs(x: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
    z = ((x - params["mean"]) / params["scale"]) @ params["weights"].T + params["bias"]
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))
