"""Mixed initiative (in the spirit of KEMI; definitions in ARCHITECTURE.md §5): utterance types and four dialogue measures.

Utterances are typed seeker-*expression* / seeker-*feedback* / counselor-*reflection* / counselor-*action* (asks,
suggests, informs). *Proactivity* = share of counselor turns that are actions; *information* = mean count of
content words a counselor turn introduces that appear nowhere earlier; *repetition* = mean share of a counselor
turn's content words already in the seeker's previous turn; *relaxation* = the seeker's emotion change over the
dialogue (a judge's score, or ESConv's intensity drop), given by the caller.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["UtteranceType", "label_utterance", "counselor_action", "content_words", "InitiativeMeasures",
           "initiative_measures"]

UtteranceType = str  # "expression" | "feedback" | "reflection" | "action"

_STOP = frozenset("""a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had has have having he
her here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now
of off on once only or other our ours ourselves out over own same she should so some such than that the their
theirs them themselves then there these they this those through to too under until up very was we were what when
where which while who whom why will with would you your yours yourself yourselves im i'm it's that's don't can't
i've you're really feel feeling like also get got much even still yeah okay ok well""".split())
_WORD = re.compile(r"[a-z][a-z']+")
_SUGGEST = re.compile(r"\b(you (could|might|may want to)|maybe (try|you)|how about|have you (tried|considered)|"
                      r"why not|try to|consider|it (might|may|could) help|one (idea|thing you could))\b", re.I)
_INFORM = re.compile(r"\b(research|studies|it'?s (very )?common|many people|often|usually|a lot of people|"
                     r"is normal|is a (normal|common)|you can (call|contact|reach)|helpline|resources?)\b", re.I)
_FEEDBACK = re.compile(r"^\W*(thanks?|thank you|yes|yeah|no|not really|that (helps|makes sense|is true|doesn'?t)|"
                       r"i (will|'ll) try|good (idea|point)|maybe|true|right|exactly|i guess|ok(ay)?)\b", re.I)


def content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2]


def counselor_action(text: str) -> str | None:
    """``ask`` / ``suggest`` / ``inform`` when a counselor turn takes the initiative, else None (a reflection)."""
    if _SUGGEST.search(text):
        return "suggest"
    if "?" in text:
        return "ask"
    if _INFORM.search(text):
        return "inform"
    return None


def label_utterance(speaker: str, text: str, *, after_counselor: bool = True) -> UtteranceType:
    """Type one utterance. A seeker turn right after a counselor turn that opens by evaluating it ("thanks",
    "that makes sense", "not really") is feedback; everything else the seeker says is expression."""
    if speaker == "seeker":
        return "feedback" if after_counselor and _FEEDBACK.search(text) else "expression"
    return "action" if counselor_action(text) else "reflection"


@dataclass(frozen=True)
class InitiativeMeasures:
    proactivity: float | None
    information: float | None
    repetition: float | None
    relaxation: float | None
    labels: tuple[str, ...]


def initiative_measures(turns: Sequence[tuple[str, str]], *, relaxation: float | None = None) -> InitiativeMeasures:
    """The four measures over ``turns`` = [(speaker, text)] with speaker ``seeker`` or ``counselor``."""
    labels, seen, actions, info, rep = [], set(), [], [], []
    previous_seeker: list[str] = []
    last_speaker = None
    for speaker, text in turns:
        words = content_words(text)
        label = label_utterance(speaker, text, after_counselor=last_speaker == "counselor")
        labels.append(label)
        if speaker == "counselor":
            actions.append(label == "action")
            info.append(len({w for w in words if w not in seen}))
            if words:
                rep.append(sum(w in set(previous_seeker) for w in words) / len(words))
        else:
            previous_seeker = words
        seen.update(words)
        last_speaker = speaker

    def mean(xs: list[float]) -> float | None:
        return round(sum(xs) / len(xs), 4) if xs else None

    return InitiativeMeasures(mean([float(a) for a in actions]), mean([float(i) for i in info]), mean(rep),
                              relaxation, tuple(labels))
