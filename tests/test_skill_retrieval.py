"""Skill index (in-memory and persistent chromadb) and the retriever: ranking, filters, relaxation, persistence.

Offline: embeddings come from the bundled MiniLM; chromadb runs embedded with telemetry off.
"""

from __future__ import annotations

import chromadb
import pytest
from chromadb.config import Settings

import escgraph.skills_bank.index as index_mod
from escgraph.skills_bank.index import (ChromaSkillIndex, InMemorySkillIndex, MiniLMEmbeddingFunction, SkillIndex,
                                        collection_name)
from escgraph.skills_bank.retrieval import SkillRetriever, build_query
from escgraph.skills_bank.schema import Skill


def make_skill(sid: str, name: str, summary: str, when: list[str], stages: list[str], *, situations=(),
               emotions=(), lo: int = 1, hi: int = 5, status: str = "active") -> Skill:
    return Skill.model_validate({
        "id": sid, "name": name, "summary": summary, "guidance": ["first step", "second step"],
        "applicability": {"when_to_use": when, "when_not_to_use": ["the seeker is in danger"], "stages": stages,
                          "situations": list(situations), "emotions": list(emotions),
                          "min_intensity": lo, "max_intensity": hi},
        "expected_outcomes": ["the seeker feels heard"], "risks": ["sounding scripted"],
        "strategies": ["Reflection of feelings"], "status": status,
        "examples": [{"seeker": "I feel awful.", "supporter": "That sounds really hard."}],
    })


SKILLS = {s.id: s for s in [
    make_skill("reflect-loss", "Reflect the loss", "Name the grief and the bond with the person who died.",
               ["the seeker is grieving the death of someone close", "they talk about missing a loved one"],
               ["comforting"], situations=["grief"], emotions=["sadness", "grief"], lo=2),
    make_skill("invite-memories", "Invite memories", "Gently invite stories about the person they lost.",
               ["the seeker mentions a loved one who passed away"], ["exploration", "comforting"],
               situations=["grief"]),
    make_skill("ground-breathing", "Grounding and slow breathing", "Slow the body down when panic rises.",
               ["the seeker feels panic, racing heart, cannot calm down"], ["comforting", "action"],
               emotions=["anxiety", "fear"], lo=3),
    make_skill("exam-plan", "Plan the study week", "Break revision into small, doable blocks before an exam.",
               ["the seeker is stressed about exams and has no study plan"], ["action"],
               situations=["academic pressure"], emotions=["anxiety"], hi=3),
    make_skill("open-questions", "Ask open questions", "Invite the seeker to tell more in their own words.",
               ["early in the conversation, the situation is still unclear"], ["exploration"]),
    make_skill("validate-anger", "Validate anger", "Acknowledge anger at unfair treatment without judging it.",
               ["the seeker is angry at a friend who betrayed them"], ["comforting"],
               situations=["problems with friends"], emotions=["anger"]),
    make_skill("job-next-steps", "Job search next steps", "Turn a job loss into a short list of next actions.",
               ["the seeker lost their job and wants practical help finding work"], ["action"],
               situations=["job crisis"], hi=3),
    make_skill("old-grief-advice", "Move on from grief", "Tell the grieving seeker it is time to move on.",
               ["the seeker is grieving the death of someone close"], ["comforting"], situations=["grief"],
               status="retired"),
    make_skill("silver-lining", "Find the silver lining", "Point out the bright side of the loss of a loved one.",
               ["the seeker is grieving a loved one who died"], ["comforting", "action"], status="flagged-unsafe"),
]}
INACTIVE = {"old-grief-advice", "silver-lining"}
GRIEF_SKILLS = {"reflect-loss", "invite-memories"}
GRIEF = {"stage": "comforting", "emotion": "sadness", "intensity": 4, "problem_type": "grief",
         "situation": "Their grandmother died last month.",
         "dialogue": "Seeker: My grandmother died last month and I miss her every day.\n"
                     "Supporter: I'm so sorry. What was she like?\nSeeker: She raised me. I can't stop crying."}


@pytest.fixture(scope="module")
def memory_index():
    return InMemorySkillIndex(SKILLS)


@pytest.fixture
def counted_embed(monkeypatch):
    """Counts the texts the index embeds, to prove a reopened collection is not re-embedded."""
    calls: list[int] = []
    real_embed = index_mod.embed

    def counting(texts, **kwargs):
        calls.append(len(texts))
        return real_embed(texts, **kwargs)

    monkeypatch.setattr(index_mod, "embed", counting)
    return calls


def test_both_indexes_implement_the_protocol(memory_index, tmp_path):
    chroma = ChromaSkillIndex.open(tmp_path, "v1", SKILLS)
    assert isinstance(memory_index, SkillIndex) and isinstance(chroma, SkillIndex)
    assert len(chroma) == len(memory_index) == len(SKILLS)


@pytest.mark.parametrize("where", [None, {"status": "active"}, {"status": "active", "stage_action": True}])
def test_memory_and_chroma_return_the_same_top_ids(memory_index, tmp_path, where):
    chroma = ChromaSkillIndex.open(tmp_path, "v1", SKILLS)
    for query in ["my grandmother died and I miss her", "panic attack before my exam", "I got fired today"]:
        ours, theirs = memory_index.search(query, 4, where), chroma.search(query, 4, where)
        assert [sid for sid, _ in ours] == [sid for sid, _ in theirs]
        assert [s for _, s in ours] == pytest.approx([s for _, s in theirs], abs=1e-4)


def test_collection_is_cosine_and_reopens_with_our_embedding_function(tmp_path):
    index = ChromaSkillIndex.open(tmp_path, "v1", SKILLS)
    assert index.collection.configuration["hnsw"]["space"] == "cosine"
    ef = MiniLMEmbeddingFunction()
    assert not ef.is_legacy() and isinstance(ef.build_from_config(ef.get_config()), MiniLMEmbeddingFunction)
    # a plain client, given no embedding function, rebuilds ours from the persisted config (never the default)
    client = chromadb.PersistentClient(path=str(tmp_path), settings=Settings(anonymized_telemetry=False))
    reopened = client.get_collection(index.collection.name)
    assert isinstance(reopened.configuration["embedding_function"], MiniLMEmbeddingFunction)
    result = reopened.query(query_texts=["my grandmother died"], n_results=1)
    assert result["ids"][0][0] in GRIEF_SKILLS | {"old-grief-advice"}


def test_reopening_a_version_reuses_its_collection_and_a_new_version_builds_one(tmp_path, counted_embed):
    first = ChromaSkillIndex.open(tmp_path, "v1", SKILLS)
    assert sum(counted_embed) == len(SKILLS)
    counted_embed.clear()
    again = ChromaSkillIndex.open(tmp_path, "v1", SKILLS)
    assert counted_embed == [] and again.collection.name == first.collection.name
    assert again.search("my grandmother died", 1)[0][0] in GRIEF_SKILLS | {"old-grief-advice"}

    counted_embed.clear()
    changed = {**SKILLS, "open-questions": SKILLS["open-questions"].model_copy(update={"summary": "Ask more."})}
    second = ChromaSkillIndex.open(tmp_path, "v2", changed)
    assert sum(counted_embed) == len(changed) and second.collection.name != first.collection.name
    assert collection_name("v2", changed).startswith("skills-v2-")


def test_old_versions_are_pruned_but_the_last_few_kept(tmp_path):
    for version in ["v1", "v2", "v3", "v4"]:
        ChromaSkillIndex.open(tmp_path, version, SKILLS, keep=2)
    client = chromadb.PersistentClient(path=str(tmp_path), settings=Settings(anonymized_telemetry=False))
    names = sorted(c.name for c in client.list_collections())
    assert [n.split("-")[1] for n in names] == ["v3", "v4"]


def test_a_half_built_collection_is_rebuilt(tmp_path, counted_embed):
    index = ChromaSkillIndex.open(tmp_path, "v1", SKILLS)
    index.collection.modify(metadata={**index.collection.metadata, "complete": False})  # as if the build died
    counted_embed.clear()
    ChromaSkillIndex.open(tmp_path, "v1", SKILLS)
    assert sum(counted_embed) == len(SKILLS)


def test_grief_query_ranks_a_grief_skill_first(memory_index):
    hits = SkillRetriever(SKILLS, memory_index).retrieve(GRIEF, k=3)
    assert {h.skill_id for h in hits[:2]} == GRIEF_SKILLS  # both active grief skills outrank the rest
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_retired_and_unsafe_skills_are_never_returned(memory_index, tmp_path):
    for index in (memory_index, ChromaSkillIndex.open(tmp_path, "v1", SKILLS)):
        retriever = SkillRetriever(SKILLS, index)
        for state in (GRIEF, {"dialogue": "Seeker: my mother died"}, {}):
            assert not INACTIVE & {h.skill_id for h in retriever.retrieve(state, k=len(SKILLS))}


def test_stage_and_intensity_filters_are_respected(memory_index):
    retriever = SkillRetriever(SKILLS, memory_index)
    hits = retriever.retrieve({"stage": "action", "intensity": 5, "dialogue": "Seeker: I failed my exam"}, k=1)
    assert [h.skill_id for h in hits] == ["ground-breathing"]  # the only action skill admitting intensity 5
    # even asking for everything, the stage is never relaxed
    hits = retriever.retrieve({"stage": "action", "intensity": 5}, k=len(SKILLS))
    assert {h.skill_id for h in hits} == {"ground-breathing", "exam-plan", "job-next-steps"}
    assert all("action" in h.skill.applicability.stages for h in hits)


def test_when_the_nearest_skills_are_off_stage_the_index_is_asked_to_filter(memory_index):
    calls = []

    class Spy:
        def search(self, query_text, k, where=None):
            calls.append(where)
            return memory_index.search(query_text, k, where)

    hits = SkillRetriever(SKILLS, Spy(), pool_factor=1).retrieve({**GRIEF, "stage": "action"}, k=1)
    assert calls == [None, {"status": "active", "stage_action": True}]
    assert len(hits) == 1 and "action" in hits[0].skill.applicability.stages


def test_relaxation_still_gives_k_skills_and_says_so(memory_index):
    state = {"stage": "comforting", "emotion": "anger", "intensity": 2, "problem_type": "grief",
             "dialogue": "Seeker: I am furious that my brother skipped our dad's funeral"}
    hits = SkillRetriever(SKILLS, memory_index).retrieve(state, k=3)
    assert len(hits) == 3 and all("comforting" in h.skill.applicability.stages for h in hits)
    strict = [h for h in hits if not h.relaxed]
    assert {h.skill_id for h in strict} == {"invite-memories"}  # grief situation, any emotion, any intensity
    assert any("relaxed" in h.why for h in hits if h.relaxed)
    # relaxation happens in the documented order: emotion before situation before intensity
    assert all(h.relaxed == ["emotion", "situation", "intensity"][:len(h.relaxed)] for h in hits)


def test_why_names_the_matched_conditions(memory_index):
    top = next(h for h in SkillRetriever(SKILLS, memory_index).retrieve(GRIEF, k=2) if h.skill_id == "reflect-loss")
    for part in ("stage comforting", "situation grief", "emotion sadness", "intensity 4 within 2-5", "similar to: '"):
        assert part in top.why


def test_order_is_deterministic(memory_index):
    retriever = SkillRetriever(SKILLS, memory_index)
    runs = [[(h.skill_id, h.score) for h in retriever.retrieve(GRIEF, k=4)] for _ in range(3)]
    assert runs[0] == runs[1] == runs[2]
    assert runs[0] == sorted(runs[0], key=lambda p: (-p[1], p[0]))


def test_query_puts_seeker_lines_first():
    query = build_query(GRIEF)
    assert query.startswith("She raised me. I can't stop crying. My grandmother died")
    assert "The seeker feels sadness (very strong)." in query
    assert query.index("What was she like?") > query.index("Problem: grief")
