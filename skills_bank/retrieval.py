"""Skill retrieval for the counselor: the seeker's state and recent dialogue -> the ``k`` best-fitting skills.

1. **Query.** The seeker's recent lines (newest first), then the assessed state (emotion, how strongly, problem
   type, situation summary), then the supporter's last line, clipped. Seeker lines come first and whole so they
   weigh most and survive the embedder's 256-token cut; the supporter line only adds context.
2. **Candidates.** The ``8k`` nearest skills, of which the active ones on the seeker's stage (when known) are kept;
   only if fewer than ``k`` remain is the index asked again with a status/stage filter (exact but slower).
3. **Fit.** :meth:`Skill.fits` on stage, emotion, intensity and situation (the problem type, or ``situation``
   when it names one of the bank's situation labels; a free-text summary is only used for similarity).
4. **Relaxation**, only when fewer than ``k`` candidates fit: drop emotion, then situation, then intensity, so
   the counselor still gets ``k`` skills. Emotion goes first because it is the noisiest reading and the word
   varies most (grief / sadness / loss); intensity goes last because an intense seeker is the one most hurt by
   a skill meant for mild distress. **Stage is never relaxed** and retired or flagged skills are never
   returned: an off-stage skill (advice while the seeker still needs to be heard) is the classic ESC failure,
   so with a known stage "always ``k``" means ``k`` whenever the bank has ``k`` active skills for that stage.

Results come best first (similarity desc, then id); each says in ``why`` which conditions matched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from escgraph.skills_bank.schema import Skill
from escgraph.types import STAGES

if TYPE_CHECKING:
    from escgraph.skills_bank.index import SkillIndex

__all__ = ["RetrievedSkill", "SkillRetriever", "build_query", "RELAX_ORDER"]

RELAX_ORDER = ("emotion", "situation", "intensity")
_STRENGTH = {1: "mild", 2: "moderate", 3: "strong", 4: "very strong", 5: "overwhelming"}
_SEEKER = re.compile(r"^\s*(seeker|usr|user|client|help[- ]?seeker)\s*:\s*", re.I)
_SUPPORTER = re.compile(r"^\s*(supporter|sys|system|counselor|counsellor|assistant|therapist)\s*:\s*", re.I)
_WORD = re.compile(r"[a-z']+")
_STOP = frozenset("a an and are as at be but by do for from has have he her his i in is it its me my not of on "
                  "or our she so that the their them they this to was we were what when who with you your".split())


class RetrievedSkill(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    skill_id: str
    name: str
    score: float = Field(description="cosine similarity of the skill's retrieval text to the query")
    why: str = Field(description="which applicability conditions matched, and what the query resembled")
    relaxed: list[str] = Field(default_factory=list, description="conditions dropped to reach k results")
    skill: Skill


def _split_dialogue(dialogue: str) -> tuple[list[str], list[str]]:
    """Seeker and supporter lines; an unlabelled line continues the previous speaker (seeker if none yet)."""
    seeker: list[str] = []
    supporter: list[str] = []
    current = seeker
    for raw in dialogue.splitlines():
        if _SEEKER.match(raw):
            current, raw = seeker, _SEEKER.sub("", raw)
        elif _SUPPORTER.match(raw):
            current, raw = supporter, _SUPPORTER.sub("", raw)
        if raw.strip():
            current.append(raw.strip())
    return seeker, supporter


def _clip(text: str, words: int) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + (" …" if len(parts) > words else "")


def build_query(state: Mapping[str, Any]) -> str:
    """The text embedded for a seeker state (see the module docstring for the order and why)."""
    seeker, supporter = _split_dialogue(str(state.get("dialogue") or ""))
    parts = [_clip(" ".join(reversed(seeker)), 120)] if seeker else []
    emotion, intensity = state.get("emotion"), _as_int(state.get("intensity"))
    if emotion:
        strength = f" ({_STRENGTH[intensity]})" if intensity in _STRENGTH else ""
        parts.append(f"The seeker feels {emotion}{strength}.")
    if state.get("problem_type"):
        parts.append(f"Problem: {state['problem_type']}.")
    if state.get("situation"):
        parts.append(_clip(str(state["situation"]), 60))
    if supporter:
        parts.append(_clip(supporter[-1], 30))
    return "\n".join(parts)


def _as_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and str(value).strip() else None
    except (TypeError, ValueError):
        return None


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2}


class SkillRetriever:
    """Retrieves fitting skills from one bank version; ``skills`` and ``index`` must describe the same version."""

    def __init__(self, skills: Mapping[str, Skill], index: SkillIndex, *, pool_factor: int = 8) -> None:
        self.skills = dict(skills)
        self.index = index
        self.pool_factor = pool_factor
        self._situations = {s.lower() for sk in self.skills.values() for s in sk.applicability.situations}

    def conditions(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """The filter values ``fits`` sees; unknown or unusable values become None (they never exclude)."""
        stage = str(state.get("stage") or "").strip().lower() or None
        situation = state.get("problem_type") or None
        if not situation and str(state.get("situation") or "").strip().lower() in self._situations:
            situation = str(state["situation"]).strip()
        return {"stage": stage if stage in STAGES else None,
                "emotion": str(state.get("emotion") or "").strip() or None,
                "intensity": _as_int(state.get("intensity")), "situation": situation}

    def retrieve(self, state: Mapping[str, Any], k: int = 3) -> list[RetrievedSkill]:
        if k <= 0:
            return []
        cond = self.conditions(state)
        query = build_query(state)
        scores = dict(self._pool(query, k, cond["stage"]))
        pool = list(scores)  # best first, ties by id

        chosen: dict[str, list[str]] = {}  # id -> conditions relaxed to admit it
        active = dict(cond)
        relaxed: list[str] = []
        for step in (None, *RELAX_ORDER):
            if step is not None:
                if active[step] is None:
                    continue  # nothing to drop: the next tier would admit the same skills
                active[step] = None
                relaxed = [*relaxed, step]
            for sid in pool:
                if len(chosen) < k and sid not in chosen and self.skills[sid].fits(**active):
                    chosen[sid] = relaxed
            if len(chosen) >= k:
                break
        hits = [self._hit(sid, scores[sid], cond, chosen[sid], query) for sid in chosen]
        return sorted(hits, key=lambda h: (-h.score, h.skill_id))

    def _pool(self, query: str, k: int, stage: str | None) -> list[tuple[str, float]]:
        """Active, on-stage candidates, best first. The index is asked unfiltered first: chromadb's metadata filter
        costs ~25 ms on a 10k-skill bank, a plain nearest-neighbour query ~1.5 ms."""
        n = self.pool_factor * k
        hits = self.index.search(query, n)
        pool = [(sid, sim) for sid, sim in hits if sid in self.skills and self.skills[sid].fits(stage=stage)]
        if len(pool) < k and len(hits) == n:  # on-stage skills are rare near this query: let the index filter
            where: dict[str, str | bool] = {"status": "active"}
            if stage:
                where[f"stage_{stage}"] = True
            hits = self.index.search(query, n, where)
            pool = [(sid, sim) for sid, sim in hits if sid in self.skills and self.skills[sid].fits(stage=stage)]
        return pool

    def _hit(self, sid: str, score: float, cond: Mapping[str, Any], relaxed: list[str],
             query: str) -> RetrievedSkill:
        skill = self.skills[sid]
        return RetrievedSkill(skill_id=sid, name=skill.name, score=score, relaxed=relaxed, skill=skill,
                              why=self._why(skill, cond, relaxed, query))

    @staticmethod
    def _why(skill: Skill, cond: Mapping[str, Any], relaxed: list[str], query: str) -> str:
        a = skill.applicability
        reasons = []
        if cond["stage"]:
            reasons.append(f"stage {cond['stage']}")
        if cond["situation"] and a.situations:
            reasons.append(f"situation {cond['situation']}" if "situation" not in relaxed
                           else f"situation relaxed (suits {', '.join(a.situations)})")
        if cond["emotion"] and a.emotions:
            reasons.append(f"emotion {cond['emotion']}" if "emotion" not in relaxed
                           else f"emotion relaxed (suits {', '.join(a.emotions)})")
        if cond["intensity"] is not None and (a.min_intensity, a.max_intensity) != (1, 5):
            span = f"{a.min_intensity}-{a.max_intensity}"
            reasons.append(f"intensity {cond['intensity']} within {span}" if "intensity" not in relaxed
                           else f"intensity relaxed (suits {span})")
        # the when-to-use line sharing most words with the query: cheap, deterministic, no extra embedding
        words = _content_words(query)
        best = max(a.when_to_use, key=lambda line: len(words & _content_words(line)))
        reasons.append(f"similar to: '{_clip(best, 12)}'")
        return "; ".join(reasons)
