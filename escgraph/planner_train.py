"""Training escgraph's external strategy planner on CPU (Kang et al., ACL 2024 show LLMs choose ESConv strategies
poorly and with strong preference bias; an external planner fixes both).

Features of a next-strategy case: TF-IDF word uni- and bigrams of three texts — the seeker's latest run of turns,
the supporter's previous run, the seeker's run before that (:class:`TextFeatures`) — and the structure of the
dialogue (:class:`FeatureSpace`): the previous two strategies, every strategy of the supporter's previous run, the
histogram of all earlier ones, whether the supporter last asked a question, the position in the dialogue and its
crossing with the previous strategy, cues of the seeker's latest turn (thanks or goodbye, a greeting, a question,
length), emotion and problem type. (MiniLM sentence embeddings of the same texts were measured too: on ESConv
validation they added nothing over the TF-IDF features, so the planner does without them and trains in about a
minute.) A class-balanced multinomial logistic regression learns from all training dialogues. Against preference
bias, decoding adds one offset per strategy to the log-probabilities, fitted on out-of-fold predictions (five
folds of whole dialogues): first the offsets that equalise the Bradley–Terry preferences, then a coordinate
search that raises macro-F1 while the preference bias stays under a cap. Validation data, when given, is only
measured, never fitted. Everything is saved in one folder: ``planner.npz`` (numbers and strings only — no pickle,
safe to load from anyone) and ``manifest.json``.
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

__all__ = ["FeatureSpace", "TextFeatures", "PlannerModel", "case_texts", "train_planner", "preference_offsets",
           "tune_offsets", "PLANNER_FORMAT", "PLANNER_FORMAT_VERSION"]

PLANNER_FORMAT = "escgraph-strategy-planner"
PLANNER_FORMAT_VERSION = 2
TEXT_FIELDS = ("seeker_latest", "supporter_previous", "seeker_previous")
_POSITION_BUCKETS = (0, 1, 2, 3, 5, 8, 12, 20)
_THANKS = re.compile(r"\b(thank|thanks|appreciate|helpful|bye|goodbye|take care)\b", re.IGNORECASE)
_GREETING = re.compile(r"^\W*(hi|hello|hey|good (morning|afternoon|evening))\b", re.IGNORECASE)
_INDEX = {s: i for i, s in enumerate(STRATEGIES)}


def _runs(case: dict[str, Any]) -> tuple[list[dict], list[dict], list[dict]]:
    """The seeker's latest run of turns, the supporter's run before it, and the seeker's run before that."""
    context = list(case.get("context") or [])
    runs: list[list[dict]] = []
    for role in ("seeker", "supporter", "seeker"):
        run: list[dict] = []
        while context and context[-1].get("role") == role:
            run.insert(0, context.pop())
        runs.append(run)
    return runs[0], runs[1], runs[2]


def case_texts(case: dict[str, Any]) -> dict[str, str]:
    seeker, supporter, before = _runs(case)
    join = lambda run, cap: " ".join(str(t.get("text", "")) for t in run)[-cap:]  # noqa: E731
    return {"seeker_latest": join(seeker, 800), "supporter_previous": join(supporter, 600),
            "seeker_previous": join(before, 600)}


class TextFeatures:
    """TF-IDF of each text field, kept as plain arrays (terms and idf) so it saves without pickle."""

    def __init__(self, vocabularies: dict[str, Sequence[str]], idf: dict[str, np.ndarray]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizers: dict[str, Any] = {}
        self.terms = {f: list(vocabularies[f]) for f in TEXT_FIELDS}
        for field in TEXT_FIELDS:
            terms = self.terms[field]
            if not terms:  # nothing learnt for this text (sklearn refuses an empty vocabulary)
                self.vectorizers[field] = None
                continue
            vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, vocabulary={t: i for i, t in enumerate(terms)})
            vec.idf_ = np.asarray(idf[field], dtype=np.float64)
            self.vectorizers[field] = vec

    @classmethod
    def fit(cls, cases: Sequence[dict[str, Any]]) -> "TextFeatures":
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts = [case_texts(c) for c in cases]
        vocab, idf = {}, {}
        for field in TEXT_FIELDS:
            docs = [t[field] for t in texts]
            vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=3 if len(docs) >= 1000 else 1)
            try:
                vec.fit(docs)
                vocab[field], idf[field] = vec.get_feature_names_out().tolist(), vec.idf_
            except ValueError:  # every document empty (e.g. no earlier seeker turns anywhere)
                vocab[field], idf[field] = [], np.zeros(0)
        return cls(vocab, idf)

    @property
    def width(self) -> int:
        return sum(len(t) for t in self.terms.values())

    def transform(self, cases: Sequence[dict[str, Any]]):
        from scipy.sparse import csr_matrix, hstack

        texts = [case_texts(c) for c in cases]
        blocks = [v.transform([t[f] for t in texts]) if v is not None else csr_matrix((len(cases), 0))
                  for f, v in self.vectorizers.items()]
        return hstack(blocks, format="csr")

    def arrays(self) -> dict[str, np.ndarray]:
        out = {}
        for field, vec in self.vectorizers.items():
            terms = self.terms[field]
            out[f"terms_{field}"] = np.array(terms, dtype=str) if terms else np.zeros(0, dtype="<U1")
            out[f"idf_{field}"] = vec.idf_ if vec is not None else np.zeros(0)
        return out

    @classmethod
    def from_arrays(cls, npz: Any) -> "TextFeatures":
        return cls({f: npz[f"terms_{f}"].tolist() for f in TEXT_FIELDS}, {f: npz[f"idf_{f}"] for f in TEXT_FIELDS})


class FeatureSpace:
    """The structure of the dialogue, with the vocabularies (emotion, problem type) learnt from training cases."""

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
        n = len(STRATEGIES)
        parts: list[np.ndarray] = []
        for back in (1, 2):  # the previous two strategies (none: last slot)
            one = np.zeros(n + 1, dtype=np.float32)
            one[_INDEX.get(strategies[-back], n) if len(strategies) >= back else n] = 1
            parts.append(one)
        previous = parts[0]
        hist = np.zeros(n, dtype=np.float32)
        for s in strategies:
            if s in _INDEX:
                hist[_INDEX[s]] += 1
        parts.append(hist / max(1, len(strategies)))
        seeker_run, supporter_run, _ = _runs(case)
        in_run = np.zeros(n, dtype=np.float32)  # every strategy of the supporter's previous run
        for t in supporter_run:
            if t.get("strategy") in _INDEX:
                in_run[_INDEX[t["strategy"]]] = 1
        parts.append(in_run)
        n_sup = len(strategies)
        bucket = np.zeros(len(_POSITION_BUCKETS), dtype=np.float32)
        bucket[max(i for i, b in enumerate(_POSITION_BUCKETS) if n_sup >= b)] = 1
        parts.append(bucket)
        parts.append(np.outer(previous, bucket).ravel())  # what follows a strategy depends on the stage
        seeker = " ".join(str(t.get("text", "")) for t in seeker_run)
        last = str(seeker_run[-1].get("text", "")) if seeker_run else ""
        asked = float(any("?" in str(t.get("text", "")) for t in supporter_run))
        parts.append(np.array([math.log1p(n_sup), math.log1p(len(context)), float("?" in last),
                               float(bool(_THANKS.search(last))), float(bool(_GREETING.search(last))),
                               math.log1p(len(seeker.split())), asked, float(len(supporter_run))],
                              dtype=np.float32))
        for vocab, key in ((self.emotions, "emotion_type"), (self.problems, "problem_type")):
            one = np.zeros(len(vocab) + 1, dtype=np.float32)
            value = str(case.get(key) or "").strip().lower()
            one[vocab.index(value) if value in vocab else len(vocab)] = 1
            parts.append(one)
        return np.concatenate(parts)

    def matrix(self, cases: Sequence[dict[str, Any]]) -> np.ndarray:
        return np.stack([self.vector(c) for c in cases]) if cases else np.zeros((0, 0), dtype=np.float32)


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


def _q_b(gold: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    """Q and B of index arrays (the same numbers as :func:`strategy_report`, fast enough for a search loop)."""
    from escgraph.strategy_metrics import bradley_terry_preferences, macro_f1, preference_bias

    n = len(STRATEGIES)
    counts = np.bincount(pred * n + gold, minlength=n * n).reshape(n, n)  # [pred][gold]
    w = {STRATEGIES[i]: {STRATEGIES[j]: int(counts[i, j]) for j in range(n)} for i in range(n)}
    q = macro_f1([STRATEGIES[i] for i in gold], [STRATEGIES[i] for i in pred])
    return q, preference_bias(bradley_terry_preferences(w, labels=STRATEGIES))


def tune_offsets(log_probs: np.ndarray, gold: Sequence[str], *, bias_cap: float = 0.25, rounds: int = 3
                 ) -> tuple[np.ndarray, list[dict[str, float]]]:
    """Offsets that first flatten the preferences (:func:`preference_offsets`), then raise macro-F1 by a
    coordinate search while B stays at most ``bias_cap`` (or, if flattening could not get there, never rises)."""
    offsets, trace = preference_offsets(log_probs, gold)
    y = np.array([STRATEGIES.index(g) for g in gold])

    def measure(off: np.ndarray) -> tuple[float, float]:
        return _q_b(y, (log_probs + off).argmax(axis=1))

    q, b = measure(offsets)
    cap = max(bias_cap, b)
    for r in range(rounds):
        improved = False
        for k in range(len(STRATEGIES)):
            for step in np.linspace(-0.45, 0.45, 19):
                if step == 0:
                    continue
                trial = offsets.copy()
                trial[k] += step
                tq, tb = measure(trial)
                if tq > q + 1e-6 and tb <= cap:
                    offsets, q, b, improved = trial, tq, tb, True
        trace.append({"search_round": r + 1, "Q": round(q, 3), "B": round(b, 4)})
        if not improved:
            break
    return offsets, trace


class PlannerModel:
    """Features and weights of a trained planner: log-probabilities for cases, with or without the offsets."""

    def __init__(self, text: TextFeatures, space: FeatureSpace, params: dict[str, np.ndarray]) -> None:
        self.text, self.space, self.params = text, space, params

    def design(self, cases: Sequence[dict[str, Any]]):
        from scipy.sparse import csr_matrix, hstack

        structure = (self.space.matrix(cases) - self.params["mean"]) / self.params["scale"]
        return hstack([self.text.transform(cases), csr_matrix(structure)], format="csr")

    def log_probs(self, cases: Sequence[dict[str, Any]], *, debiased: bool = True) -> np.ndarray:
        if not cases:
            return np.zeros((0, len(STRATEGIES)))
        z = np.asarray(self.design(cases) @ self.params["weights"].T) + self.params["bias"]
        z = z - z.max(axis=1, keepdims=True)
        z = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return z + self.params["offsets"] if debiased else z

    @classmethod
    def fit(cls, cases: Sequence[dict[str, Any]], *, c: float, seed: int) -> "PlannerModel":
        from sklearn.linear_model import LogisticRegression

        text, space = TextFeatures.fit(cases), FeatureSpace.fit(cases)
        structure = space.matrix(cases)
        mean, scale = structure.mean(axis=0), structure.std(axis=0)
        scale[scale == 0] = 1.0
        model = cls(text, space, {"mean": mean, "scale": scale, "offsets": np.zeros(len(STRATEGIES))})
        x = model.design(cases)
        y = np.array([STRATEGIES.index(x_["gold"]) for x_ in cases])
        lr = LogisticRegression(C=c, class_weight="balanced", max_iter=2000, random_state=seed).fit(x, y)
        weights = np.zeros((len(STRATEGIES), x.shape[1]))
        bias = np.full(len(STRATEGIES), -30.0)  # a strategy absent from training is never predicted
        weights[lr.classes_], bias[lr.classes_] = lr.coef_, lr.intercept_
        model.params.update(weights=weights, bias=bias)
        return model

    def arrays(self) -> dict[str, np.ndarray]:
        return {**self.params, **self.text.arrays()}

    @classmethod
    def from_arrays(cls, npz: Any, space: FeatureSpace) -> "PlannerModel":
        params = {k: npz[k] for k in ("mean", "scale", "weights", "bias", "offsets")}
        return cls(TextFeatures.from_arrays(npz), space, params)


def _dialogue(case: dict[str, Any]) -> str:
    return str(case["id"]).rsplit(":", 1)[0]


def _out_of_fold(cases: Sequence[dict[str, Any]], *, c: float, seed: int, folds: int,
                 log: Callable[[str], None]) -> np.ndarray:
    """Log-probabilities for every case from a model that never saw its dialogue (grouped k-fold)."""
    ids = sorted({_dialogue(x) for x in cases})
    rng = np.random.default_rng(seed)
    fold_of = dict(zip(rng.permutation(ids).tolist(), (i % folds for i in range(len(ids)))))
    out = np.zeros((len(cases), len(STRATEGIES)))
    for k in range(folds):
        held = np.array([fold_of[_dialogue(x)] == k for x in cases])
        if held.all() or not held.any():
            continue
        log(f"out-of-fold model {k + 1}/{folds}")
        model = PlannerModel.fit([x for x, h in zip(cases, held) if not h], c=c, seed=seed)
        out[held] = model.log_probs([x for x, h in zip(cases, held) if h], debiased=False)
    return out


def train_planner(train_cases: Sequence[dict[str, Any]], out_dir: str | Path, *,
                  valid_cases: Sequence[dict[str, Any]] | None = None, c: float = 0.2, seed: int = 13,
                  folds: int = 5, bias_cap: float = 0.25,
                  log: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    """Train on ``train_cases`` (with gold) and save to ``out_dir``; ``valid_cases`` are only measured (raw and
    debiased Q, B, accuracy go into the manifest). Returns the manifest."""
    from escgraph.strategy_metrics import strategy_report

    started = time.perf_counter()
    labelled = [x for x in train_cases if x.get("gold") in STRATEGIES]
    if len({x["gold"] for x in labelled}) < 2:
        raise ValueError("training needs cases with at least two different gold strategies")
    n_dialogues = len({_dialogue(x) for x in labelled})
    folds = max(2, min(folds, n_dialogues))
    log(f"fitting on {len(labelled)} cases from {n_dialogues} dialogues")
    model = PlannerModel.fit(labelled, c=c, seed=seed)
    gold = [x["gold"] for x in labelled]
    if n_dialogues >= 2:
        held_out = _out_of_fold(labelled, c=c, seed=seed, folds=folds, log=log)
    else:  # one dialogue cannot be split: calibrate on the training fit itself
        held_out = model.log_probs(labelled, debiased=False)
    log("fitting the preference offsets on the out-of-fold predictions")
    offsets, trace = tune_offsets(held_out, gold, bias_cap=bias_cap)
    model.params["offsets"] = offsets
    oof = {}
    for name, off in (("raw", np.zeros(len(STRATEGIES))), ("debiased", offsets)):
        report = strategy_report(gold, [STRATEGIES[i] for i in (held_out + off).argmax(axis=1)])
        oof[name] = {"Q": round(report["Q"], 3), "B": round(report["B"], 4)}
    valid = [x for x in valid_cases or [] if x.get("gold") in STRATEGIES]
    validation: dict[str, Any] = {"n": len(valid)}
    if valid:
        z = model.log_probs(valid, debiased=False)
        for name, off in (("raw", np.zeros(len(STRATEGIES))), ("debiased", offsets)):
            pred = [STRATEGIES[i] for i in (z + off).argmax(axis=1)]
            report = strategy_report([x["gold"] for x in valid], pred)
            validation[name] = {"Q": round(report["Q"], 3), "B": round(report["B"], 4),
                                "accuracy": round(float(np.mean([p == x["gold"] for p, x in zip(pred, valid)])), 4),
                                "preferences": {k: round(v, 4) for k, v in report["preferences"].items()}}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / ".planner.tmp.npz", **model.arrays())
    (out / ".planner.tmp.npz").replace(out / "planner.npz")
    digest = hashlib.sha256((out / "planner.npz").read_bytes()).hexdigest()[:16]
    manifest = {
        "format": PLANNER_FORMAT, "format_version": PLANNER_FORMAT_VERSION, "kind": "trained",
        "labels": list(STRATEGIES),
        "features": {"text": "TF-IDF word 1-2-grams: " + ", ".join(TEXT_FIELDS),
                     "vocabulary": {f: len(t) for f, t in model.text.terms.items()},
                     **model.space.to_dict(), "position_buckets": list(_POSITION_BUCKETS)},
        "model": {"type": "multinomial logistic regression", "class_weight": "balanced", "C": c},
        "bias_correction": {"method": "per-strategy logit offsets: flatten Bradley-Terry preferences, then raise "
                                      f"macro-F1 with B <= {bias_cap}, on {folds}-fold out-of-fold predictions",
                            "calibration_cases": len(labelled), "out_of_fold": oof,
                            "offsets": dict(zip(STRATEGIES, offsets.round(4).tolist())), "trace": trace},
        "validation": validation,
        "training": {"cases": len(labelled), "dialogues": n_dialogues,
                     "seconds": round(time.perf_counter() - started, 1)},
        "content_hash": digest,
    }
    tmp = out / ".manifest.tmp.json"
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out / "manifest.json")
    return manifest
