"""ESConv (Liu et al., 2021) in escgraph: load either published shape, split, and convert to next-strategy cases,
seeker profiles and intervention units (ARCHITECTURE.md §5). The data is CC BY-NC 4.0: escgraph never ships it; these
functions read the user's own copy.

Shapes (detected from the file):

- the original ``ESConv.json``: a JSON list of dialogues with ``dialog: [{speaker: seeker|supporter, content,
  annotation: {strategy} | {feedback} | {}}]`` and ``survey_score`` (``final_emotion_intensity`` may be missing);
- the re-formatted JSON lines: one dialogue per line with ``dialog: [{text, speaker: usr|sys, strategy?}]``.

How odd input is handled (documented behaviour, tested):

- consecutive turns of one speaker are kept as separate turns (the context shows them as they were); a next-strategy
  case exists for every supporter turn that directly follows a seeker turn, so a second supporter turn in a row is
  context, not a case;
- a missing survey score (or a missing ``final_emotion_intensity``) becomes ``None``; nothing is invented;
- a strategy label outside the eight is matched case- and space-insensitively against the eight and a few
  published spellings ("Restatement", "Affirmation", "Suggestion", ...); a label that still does not match is kept
  as ``Others`` and counted in :attr:`LoadReport.unknown_strategies`;
- a dialogue without a ``dialog`` list, a turn without text, or an unknown speaker is an :class:`ESConvError` naming
  the dialogue (by 0-based index) and the field.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from escgraph.types import STRATEGIES

__all__ = ["ESConvError", "Turn", "Dialogue", "LoadReport", "load_esconv", "split_dialogues", "to_cases",
           "to_profiles", "to_units", "normalise_strategy", "write_jsonl", "read_cases", "CASE_FIELDS"]

CASE_FIELDS = ("id", "situation", "emotion_type", "problem_type", "context", "gold")
_SPEAKERS = {"seeker": "seeker", "usr": "seeker", "user": "seeker", "supporter": "supporter", "sys": "supporter",
             "system": "supporter"}
_ALIASES = {"restatement": "Restatement or Paraphrasing", "paraphrasing": "Restatement or Paraphrasing",
            "reflection": "Reflection of feelings", "affirmation": "Affirmation and Reassurance",
            "reassurance": "Affirmation and Reassurance", "suggestion": "Providing Suggestions",
            "suggestions": "Providing Suggestions", "providing suggestion": "Providing Suggestions",
            "other": "Others", "questions": "Question", "selfdisclosure": "Self-disclosure"}


class ESConvError(ValueError):
    """An ESConv file cannot be read; the message names the file, the dialogue and the field."""


def _key(label: str) -> str:
    return re.sub(r"[^a-z]+", " ", label.lower()).strip()


_CANON = {_key(s): s for s in STRATEGIES} | {_key(k): v for k, v in _ALIASES.items()}


def normalise_strategy(label: Any) -> str | None:
    """One of the eight strategies for a label, or None when it is not one (the caller decides what to do)."""
    if not isinstance(label, str) or not label.strip():
        return None
    key = _key(label)
    return _CANON.get(key) or _CANON.get(key.replace(" ", ""))


@dataclass
class Turn:
    role: Literal["seeker", "supporter"]
    text: str
    strategy: str | None = None  # supporter turns
    feedback: int | None = None  # seeker turns of the original shape (1-5)


@dataclass
class Dialogue:
    index: int
    emotion_type: str | None
    problem_type: str | None
    situation: str
    turns: list[Turn]
    initial_intensity: int | None = None
    final_intensity: int | None = None
    experience_type: str | None = None

    @property
    def intensity_drop(self) -> int | None:
        if self.initial_intensity is None or self.final_intensity is None:
            return None
        return self.initial_intensity - self.final_intensity


@dataclass
class LoadReport:
    path: str
    shape: str
    dialogues: int = 0
    turns: int = 0
    unknown_strategies: Counter = field(default_factory=Counter)
    missing_survey: int = 0
    missing_final_intensity: int = 0
    merged_speaker_runs: int = 0  # places where one speaker spoke twice or more in a row (kept as separate turns)

    def describe(self) -> str:
        lines = [f"{self.dialogues} dialogues, {self.turns} turns ({self.shape} shape) from {self.path}"]
        if self.missing_survey or self.missing_final_intensity:
            lines.append(f"survey score missing in {self.missing_survey} dialogue(s); final emotion intensity missing "
                         f"in {self.missing_final_intensity}")
        if self.unknown_strategies:
            lines.append("unknown strategy labels kept as Others: "
                         + ", ".join(f"{k!r} ×{v}" for k, v in self.unknown_strategies.most_common(5)))
        lines.append(f"{self.merged_speaker_runs} runs of consecutive turns by one speaker (kept as separate turns)")
        return "\n".join(lines)


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _dialogue(raw: Any, index: int, where: str, report: LoadReport) -> Dialogue:
    def fail(field_name: str, problem: str) -> ESConvError:
        return ESConvError(f"{where}: dialogue {index}: {field_name}: {problem}")

    if not isinstance(raw, dict):
        raise fail("(dialogue)", "is not a JSON object")
    dialog = raw.get("dialog")
    if not isinstance(dialog, list) or not dialog:
        raise fail("dialog", "missing or empty (a list of turns is required)")
    turns: list[Turn] = []
    for t, item in enumerate(dialog):
        if not isinstance(item, dict):
            raise fail(f"dialog[{t}]", "is not a JSON object")
        role = _SPEAKERS.get(str(item.get("speaker", "")).strip().lower())
        if role is None:
            raise fail(f"dialog[{t}].speaker", f"unknown speaker {item.get('speaker')!r} (use seeker/supporter or "
                                               f"usr/sys)")
        text = item.get("text", item.get("content"))
        if not isinstance(text, str) or not text.strip():
            raise fail(f"dialog[{t}].text", "missing or empty")
        annotation = item.get("annotation") if isinstance(item.get("annotation"), dict) else {}
        label = item.get("strategy", annotation.get("strategy"))
        strategy = None
        if role == "supporter":
            strategy = normalise_strategy(label)
            if strategy is None:
                report.unknown_strategies[str(label)] += 1
                strategy = "Others"
        feedback = _int(annotation.get("feedback")) if role == "seeker" else None
        if turns and turns[-1].role == role and (len(turns) < 2 or turns[-2].role != role):
            report.merged_speaker_runs += 1  # a new run of one speaker (counted once per run)
        turns.append(Turn(role, " ".join(text.split()), strategy, feedback))
    survey = raw.get("survey_score")
    seeker = survey.get("seeker") if isinstance(survey, dict) and isinstance(survey.get("seeker"), dict) else None
    if seeker is None:
        report.missing_survey += 1
    initial = _int(seeker.get("initial_emotion_intensity")) if seeker else None
    final = _int(seeker.get("final_emotion_intensity")) if seeker else None
    if seeker is not None and final is None:
        report.missing_final_intensity += 1
    report.turns += len(turns)
    return Dialogue(index, _label(raw, "emotion_type", fail), _label(raw, "problem_type", fail),
                    " ".join(str(_label(raw, "situation", fail) or "").split()), turns, initial, final,
                    _label(raw, "experience_type", fail))


def _label(raw: dict[str, Any], key: str, fail: Any) -> str | None:
    """A dialogue's text field: text (numbers become text), or None when absent; a list or object is an error."""
    value = raw.get(key)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):  # bool included: odd, but harmless as text
        return str(value)
    raise fail(key, f"expected text, got a JSON {'list' if isinstance(value, list) else 'object'}")


def load_esconv(path: str | Path) -> tuple[list[Dialogue], LoadReport]:
    """Read an ESConv file of either shape. Strict JSON with the limits of :mod:`escgraph.datafiles` (size,
    nesting); a parse error names the file, the line and the column."""
    from escgraph.datafiles import MAX_DATASET_BYTES, DataFileError, parse_json, read_text

    path = Path(path)
    try:
        text = read_text(path, max_bytes=MAX_DATASET_BYTES)
    except FileNotFoundError:
        raise ESConvError(f"{path}: no such file") from None
    except OSError as exc:
        raise ESConvError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except DataFileError as exc:
        raise ESConvError(str(exc)) from None
    dialogues: list[Dialogue] = []
    if text.lstrip().startswith("["):
        report = LoadReport(str(path), "original JSON")
        try:
            raws = parse_json(text, str(path))
        except DataFileError as exc:
            raise ESConvError(str(exc)) from None
        for i, raw in enumerate(raws):
            dialogues.append(_dialogue(raw, i, str(path), report))
    else:
        report = LoadReport(str(path), "JSON lines")
        lines = [(n, line) for n, line in enumerate(text.split("\n"), 1) if line.strip()]  # JSON text may hold
        for i, (n, line) in enumerate(lines):  # U+2028 and friends, which str.splitlines() would split on
            try:
                raw = parse_json(line, f"{path}: dialogue {i} (line {n})")
            except DataFileError as exc:
                raise ESConvError(str(exc).replace(" at line 1, column ", " at column ")) from None
            dialogues.append(_dialogue(raw, i, str(path), report))
    if not dialogues:
        raise ESConvError(f"{path}: holds no dialogues")
    report.dialogues = len(dialogues)
    return dialogues, report


def split_dialogues(dialogues: Sequence[Dialogue], *, seed: int = 13, ratios: tuple[float, float, float] = (
        0.7, 0.15, 0.15)) -> tuple[list[Dialogue], list[Dialogue], list[Dialogue]]:
    """The usual split: shuffle with ``random.seed(13)``, then 70/15/15."""
    items = list(dialogues)
    random.seed(seed)
    random.shuffle(items)
    n = len(items)
    a, b = int(n * ratios[0]), int(n * (ratios[0] + ratios[1]))
    return items[:a], items[a:b], items[b:]


def to_cases(dialogues: Iterable[Dialogue], *, source: str = "esconv") -> list[dict[str, Any]]:
    """Next-strategy cases: one per supporter turn that directly follows a seeker turn; its context is every
    turn before it. Ids are ``<source>:<dialogue index>:<turn index>``."""
    cases = []
    for d in dialogues:
        for t, turn in enumerate(d.turns):
            if turn.role != "supporter" or t == 0 or d.turns[t - 1].role != "seeker":
                continue
            context = [{"role": x.role, "text": x.text, **({"strategy": x.strategy} if x.strategy else {})}
                       for x in d.turns[:t]]
            cases.append({"id": f"{source}:{d.index}:{t}", "situation": d.situation, "emotion_type": d.emotion_type,
                          "problem_type": d.problem_type, "context": context, "gold": turn.strategy})
    return cases


def to_profiles(dialogues: Iterable[Dialogue], *, source: str = "esconv") -> list[dict[str, Any]]:
    """Seeker profiles (the escgraph profile schema) from each dialogue's situation, emotion and problem; the
    initial emotion score maps ESConv's intensity 1 (mild) .. 5 (strong) to 50 .. 10 on SAGE's 0-100 scale."""
    profiles = []
    for d in dialogues:
        first = next((t.text for t in d.turns if t.role == "seeker"), None)
        intensity = d.initial_intensity
        profile: dict[str, Any] = {"id": f"{source}-{d.index}", "situation": d.situation or (first or "")[:300]}
        if d.problem_type:
            profile["problem_type"] = d.problem_type
        if d.emotion_type:
            profile["emotion_type"] = d.emotion_type
        if first:
            profile["first_talk"] = first[:300]
        if intensity is not None:
            profile["initial_emotion"] = max(5, min(60, 60 - 10 * intensity))
        profiles.append(profile)
    return profiles


def to_units(dialogues: Iterable[Dialogue], *, source: str = "esconv") -> list[dict[str, Any]]:
    """Intervention units (the skills-bank schema): the seeker's state before a supporter turn, the turn as the
    action, and the seeker's next turn (and its 1-5 feedback score where the original shape has one) as the
    outcome. The emotion change is the feedback centred on 3 (feedback 5 -> +2), else unknown."""
    units = []
    for d in dialogues:
        for t, turn in enumerate(d.turns):
            if turn.role != "supporter":
                continue
            after = next((x for x in d.turns[t + 1:] if x.role == "seeker"), None)
            position = sum(1 for x in d.turns[:t] if x.role == "supporter") / max(1, sum(
                1 for x in d.turns if x.role == "supporter"))
            stage = "exploration" if position < 1 / 3 else "comforting" if position < 2 / 3 else "action"
            units.append({
                "id": f"{source}:{d.index}:{t}",
                "state": {"emotion": d.emotion_type or "unknown", "intensity": max(1, min(5, d.initial_intensity or 3)),
                          "stage": stage, "situation": (d.situation or "not stated")[:300]},
                "action": {"strategy": turn.strategy or "Others", "skill_id": None, "reply": turn.text},
                "outcome": {"emotion_change": (after.feedback - 3) if after and after.feedback is not None else None,
                            "seeker_feedback": after.text if after else None},
                "source": {"kind": "dataset", "name": source, "dialogue": str(d.index), "turn": t},
            })
    return units


def write_jsonl(rows: Iterable[dict[str, Any]], path: str | Path) -> int:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    tmp.replace(path)
    return n


def read_cases(path: str | Path) -> list[dict[str, Any]]:
    """Next-strategy cases from a JSON-lines file, checked: every case needs an ``id`` and a ``context`` list.
    Each line is strict JSON with the limits of :mod:`escgraph.datafiles`."""
    from escgraph.datafiles import MAX_DATASET_BYTES, DataFileError, parse_json, read_text

    path = Path(path)
    cases, seen = [], set()
    try:
        text = read_text(path, max_bytes=MAX_DATASET_BYTES)
    except FileNotFoundError:
        raise ESConvError(f"{path}: no such file") from None
    except OSError as exc:
        raise ESConvError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except DataFileError as exc:
        raise ESConvError(str(exc)) from None
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            case = parse_json(line, f"{path}: line {n}")
        except DataFileError as exc:
            raise ESConvError(str(exc).replace(" at line 1, column ", " at column ")) from None
        if not isinstance(case, dict) or "id" not in case or not isinstance(case.get("context"), list):
            raise ESConvError(f"{path}: line {n}: a case needs an 'id' and a 'context' list")
        if not isinstance(case["id"], (str, int)) or isinstance(case["id"], bool):
            raise ESConvError(f"{path}: line {n}: a case id must be text or a number")
        if case["id"] in seen:
            raise ESConvError(f"{path}: line {n}: duplicate case id {case['id']!r}")
        seen.add(case["id"])
        cases.append(case)
    return cases
