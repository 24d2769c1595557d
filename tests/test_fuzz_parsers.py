"""Property-based fuzzing of every parser of user input: any text, bytes or nested structure gives either a valid
result or the parser's documented error (one line naming the input), never another exception.

Parsers: seeker profiles (``ProfileError``), skill files and exports (``SkillBankError``), the skills bank's working
copy and import (``SkillBankError``, bank unchanged on error), ESConv in both shapes (``ESConvError``), HEAL folders
and saved knowledge graphs (``KnowledgeGraphError``), the shared data-file layer (``DataFileError``) and the lines
piped into ``escgraph chat`` (``InvalidMessageError``). Examples are capped so the whole file runs in well under a
minute; no network, and Hypothesis keeps no example database in the tree.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import sys
import tempfile
from pathlib import Path
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_skills_store import make_skill, skill_data

from escgraph.config import MAX_MESSAGE_CHARS
from escgraph.datafiles import MAX_DEPTH, DataFileError, parse_json, parse_yaml
from escgraph.esconv import ESConvError, load_esconv, to_cases, to_profiles, to_units
from escgraph.memory.knowledge_graph import KnowledgeGraph, KnowledgeGraphError, load_heal
from escgraph.messages import InvalidMessageError, message_from_line, read_lines
from escgraph.profiles import ProfileError, SeekerProfile, load_profiles
from escgraph.skills_bank.schema import Skill
from escgraph.skills_bank.store import SkillBank, SkillBankError, read_skills_export
from escgraph.skills_bank.bankfiles import read_skill_file

FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
SLOW_FUZZ = settings(FUZZ, max_examples=60)  # examples that commit to a bank (fsync per file)


@pytest.fixture(scope="module")
def scratch():
    with tempfile.TemporaryDirectory(prefix="escgraph-fuzz-") as folder:
        yield Path(folder)


# -- strategies ---------------------------------------------------------------------------------------------------
scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(10 ** 30), max_value=10 ** 30)
           | st.floats() | st.text(max_size=30))
keys = st.text(max_size=12) | st.sampled_from(["id", "situation", "persona", "age", "skills", "version", "dialog",
                                               "speaker", "text", "content", "nodes", "edges", "from", "to",
                                               "value", "label"])
nested = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
                      max_leaves=25)

YAML_PIECES = ["- ", "id: ", "situation: ", "persona: ", "&a ", "*a ", "[", "]", "{", "}", ", ", "\n", "  ", "\t",
               "!!binary ", "!!python/object:os.system ", "!!int ", "!!float ", "!!set ", "!!omap ", "? ", ": ",
               "'", '"', "# c", "---\n", "...\n", "1e999", "1.0e999", ".nan", ".inf", "2020-13-45", "<<: ", "|\n",
               ">\n", "%YAML 1.1\n", "%TAG ! tag:x,2000:\n", "\\u", "\\ud800", "\x00", "\x85", "\u2028", "\ufeff",
               "x", "é", "9" * 5000, "null", "~", "yes", "0x1F", "0o17", "-.5", "2001-12-14t21:59:43.10-05:00"]
JSON_PIECES = ["[", "]", "{", "}", ",", ":", '"', '"id"', '"situation"', '"dialog"', '"speaker"', '"usr"',
               '"sys"', '"seeker"', '"text"', '"hi"', "NaN", "Infinity", "-Infinity", "1e999", "-1e400", "1.5",
               "0", "-0", "9" * 5000, "true", "null", " ", "\n", "\\", "\\u", "\\ud800", '"\\ud800"', "\u2028",
               "\x00", "\ufeff", "é", "//", "/*"]
yaml_like = st.lists(st.sampled_from(YAML_PIECES), max_size=40).map("".join)
json_like = st.lists(st.sampled_from(JSON_PIECES), max_size=40).map("".join)
any_text = st.text(max_size=400) | yaml_like | json_like


def mostly(good, bad, odds: int = 6):
    """``good`` about ``odds`` times as often as ``bad``: enough valid input to reach the success path too."""
    return st.integers(min_value=0, max_value=odds).flatmap(lambda pick: bad if pick == odds else good)


words = st.text(alphabet="abcdefghij -'é", min_size=1, max_size=12).filter(str.strip)


def _deep(depth: int, kind: str) -> str:
    opening, closing = ("[", "]") if kind == "list" else ('{"k": ', "}")
    return opening * depth + "1" + closing * depth


deep_text = st.builds(_deep, st.integers(min_value=1, max_value=3 * MAX_DEPTH) | st.integers(min_value=900,
                                                                                          max_value=5000),
                      st.sampled_from(["list", "dict"]))


def _dump(value, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(value)  # NaN / Infinity included on purpose: strict parsing must refuse them
    return yaml.safe_dump(value, allow_unicode=True)


def _one_line_naming(exc: Exception, name: str) -> None:
    text = str(exc)
    assert "\n" not in text and "\r" not in text, text
    assert name in text, text


# -- the shared layer ---------------------------------------------------------------------------------------------
@FUZZ
@given(text=any_text | deep_text)
def test_parse_yaml_and_json_give_data_or_data_file_error(text):
    for parse in (parse_json, parse_yaml):
        try:
            value = parse(text, "input.x")
        except DataFileError as exc:
            _one_line_naming(exc, "input.x")
            continue
        json.dumps(value, default=str, allow_nan=False)  # finite numbers, no lone surrogates: writable anywhere
        if isinstance(value, str):
            value.encode("utf-8")


# -- seeker profiles ----------------------------------------------------------------------------------------------
personas = st.fixed_dictionaries({}, optional={"age": mostly(st.integers(5, 120), scalars),
                                               "gender": mostly(words, scalars), "description": words,
                                               "hobby": nested}) | words
profile_items = mostly(st.fixed_dictionaries(
    {"id": mostly(words, scalars), "situation": mostly(words, nested)},
    optional={"persona": mostly(personas, nested), "initial_emotion": mostly(st.integers(0, 100), scalars),
              "problem_type": mostly(words, scalars), "language": mostly(st.just("en"), scalars),
              "hidden_intent": words, "first_talk": st.text(max_size=20)}), nested)
profile_documents = (st.lists(profile_items, max_size=4) | st.builds(lambda p: {"profiles": p},
                                                                     st.lists(profile_items, max_size=3)) | nested)


def _check_profiles(path: Path) -> None:
    try:
        profiles = load_profiles(path)
    except ProfileError as exc:
        event(f"ProfileError: {str(exc)[len(str(path)) + 2:][:22]}")
        _one_line_naming(exc, str(path))
        return
    event(f"{len(profiles)} profile(s)")
    assert all(isinstance(p, SeekerProfile) for p in profiles)
    assert len({p.id for p in profiles}) == len(profiles)
    for profile in profiles:
        profile.model_dump_json()  # the result is usable: serialisable, encodable


@FUZZ
@given(data=any_text | deep_text, suffix=st.sampled_from([".yaml", ".json", ".yml", ".txt"]))
def test_profiles_from_any_text(scratch, data, suffix):
    path = scratch / f"profiles{suffix}"
    path.write_text(data, encoding="utf-8")
    _check_profiles(path)


@FUZZ
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".yaml", ".json"]))
def test_profiles_from_any_bytes(scratch, data, suffix):
    path = scratch / f"profiles{suffix}"
    path.write_bytes(data)
    _check_profiles(path)


@FUZZ
@given(document=profile_documents, fmt=st.sampled_from(["json", "yaml"]))
def test_profiles_from_nested_structures(scratch, document, fmt):
    path = scratch / f"profiles.{fmt}"
    path.write_text(_dump(document, fmt), encoding="utf-8")
    _check_profiles(path)


# -- skill files, exports, the working copy and import --------------------------------------------------------------
skill_items = st.builds(lambda base, extra: {**base, **extra}, st.builds(skill_data, mostly(st.sampled_from(
    ["listen-first", "small-step", "name-the-feeling"]), st.sampled_from(["x", "Bad Id", ""]))), mostly(
    st.just({}), st.dictionaries(st.sampled_from(["guidance", "summary", "applicability", "status", "strategies",
                                                  "examples", "risks", "extra", "provenance", "name"]), nested,
                                 max_size=2)))
skill_documents = (skill_items | st.lists(skill_items, max_size=3)
                   | st.builds(lambda s, v: {"format": "escgraph-skills-export", "version": v, "skills": s},
                               st.lists(skill_items, max_size=3), nested) | nested)


def _check_export(path: Path) -> None:
    try:
        skills, origin = read_skills_export(path)
    except SkillBankError as exc:
        event(f"SkillBankError: {str(exc)[len(str(path)) + 2:][:22]}")
        _one_line_naming(exc, str(path))
        return
    event(f"{len(skills)} skill(s)")
    assert skills and all(isinstance(s, Skill) and s.id == k for k, s in skills.items())
    assert origin is None or ("\n" not in origin and len(origin) < 80)


@FUZZ
@given(data=any_text | deep_text, suffix=st.sampled_from([".yaml", ".json"]))
def test_skills_export_from_any_text(scratch, data, suffix):
    path = scratch / f"skills{suffix}"
    path.write_text(data, encoding="utf-8")
    _check_export(path)
    try:
        read_skill_file(data, "skill.yaml")
    except SkillBankError as exc:
        _one_line_naming(exc, "skill.yaml")


@FUZZ
@given(data=st.binary(max_size=300) | st.sampled_from([b"id: caf\xe9\n", b"\xff\xfe", b"\xef\xbb\xbfid: x\n"]),
       suffix=st.sampled_from([".yaml", ".json"]))
def test_skills_export_from_any_bytes(scratch, data, suffix):
    path = scratch / f"skills{suffix}"
    path.write_bytes(data)
    _check_export(path)


@FUZZ
@given(document=skill_documents, fmt=st.sampled_from(["json", "yaml"]))
def test_skills_export_from_nested_structures(scratch, document, fmt):
    path = scratch / f"skills.{fmt}"
    path.write_text(_dump(document, fmt), encoding="utf-8")
    _check_export(path)


def _bank_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".lock"}


@pytest.fixture(scope="module")
def fuzz_bank(scratch):
    return SkillBank.create(scratch / "bank", [make_skill("reflect-feelings"), make_skill("small-step")],
                            author="fuzz", message="seed")


@SLOW_FUZZ
@given(content=mostly(skill_documents.map(lambda d: _dump(d, "yaml").encode("utf-8")),
                      st.binary(max_size=200) | any_text.map(lambda t: t.encode("utf-8")), odds=3),
       mode=st.sampled_from([None, True, False]))
def test_bank_import_either_commits_or_changes_nothing(scratch, fuzz_bank, content, mode):
    path = scratch / "import.yaml"
    path.write_bytes(content)
    before = _bank_files(fuzz_bank.path)
    try:
        version = fuzz_bank.import_file(path, "fuzz", replace=mode)
    except SkillBankError as exc:
        event(f"refused: {str(exc)[len(str(path)) + 2:][:22]}")
        _one_line_naming(exc, "import.yaml" if "nothing to import" in str(exc) else str(path))
        assert _bank_files(fuzz_bank.path) == before
        return
    event("imported")
    assert version.kind == "import" and fuzz_bank.head == version.id


@SLOW_FUZZ
@given(content=mostly(skill_items.map(lambda d: _dump({**d, "id": "small-step"}, "yaml").encode("utf-8")),
                      st.binary(max_size=200) | any_text.map(lambda t: t.encode("utf-8")), odds=2))
def test_working_copy_commit_either_commits_or_changes_nothing(fuzz_bank, content):
    hand = fuzz_bank.path / "skills" / "small-step.yaml"
    hand.write_bytes(content)
    before = _bank_files(fuzz_bank.path)
    try:
        fuzz_bank.commit_from_folder("fuzz", "hand edit")
        event("committed")
    except SkillBankError as exc:
        event(f"refused: {str(exc)[len(str(hand)) + 2:][:22]}")
        assert "\n" not in str(exc)
        assert _bank_files(fuzz_bank.path) == before
    finally:  # the next example starts from a clean working copy of the head
        skills = fuzz_bank.skills()
        if "small-step" in skills:
            from escgraph.skills_bank.bankfiles import skill_text

            hand.write_text(skill_text(skills["small-step"]), encoding="utf-8")
        else:
            hand.unlink(missing_ok=True)


# -- ESConv, both shapes ----------------------------------------------------------------------------------------------
turns = mostly(st.builds(lambda speaker, text_key, text, extra: {"speaker": speaker, text_key: text, **extra},
                  mostly(st.sampled_from(["seeker", "supporter", "usr", "sys"]),
                         st.sampled_from(["bot", "", "SEEKER "]) | scalars),
                  mostly(st.sampled_from(["content", "text"]), st.sampled_from(["txt", ""])), mostly(words, scalars),
                  st.fixed_dictionaries({}, optional={
    "strategy": mostly(st.sampled_from(["Question", "reflection", "Cheerleading", "", "Others"]), scalars),
    "annotation": mostly(st.fixed_dictionaries({}, optional={"strategy": scalars, "feedback": mostly(
        st.sampled_from(["1", "5", 3]), scalars)}), nested)})), nested, odds=10)
dialogues = mostly(st.fixed_dictionaries({"dialog": mostly(st.lists(turns, min_size=1, max_size=5), nested)},
                                         optional={
    "emotion_type": mostly(words, scalars | nested), "problem_type": mostly(words, scalars),
    "situation": mostly(words, scalars | nested), "experience_type": scalars,
    "survey_score": mostly(st.fixed_dictionaries({"seeker": st.fixed_dictionaries({}, optional={
        "initial_emotion_intensity": mostly(st.sampled_from(["1", "5", 4]), scalars),
        "final_emotion_intensity": scalars})}), nested)}), nested)


def _check_esconv(path: Path) -> None:
    try:
        loaded, report = load_esconv(path)
    except ESConvError as exc:
        event(f"ESConvError: {str(exc)[len(str(path)) + 2:][:22]}")
        _one_line_naming(exc, str(path))
        return
    event(f"{len(loaded)} dialogue(s)")
    assert loaded and report.dialogues == len(loaded)
    for rows in (to_cases(loaded), to_profiles(loaded), to_units(loaded)):
        for row in rows:
            json.dumps(row, ensure_ascii=False, allow_nan=False).encode("utf-8")


@FUZZ
@given(data=any_text | deep_text | st.binary(max_size=300), shape=st.sampled_from(["json", "jsonl"]))
def test_esconv_from_any_input(scratch, data, shape):
    path = scratch / f"esconv.{shape}"
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    _check_esconv(path)


@FUZZ
@given(items=st.lists(dialogues, min_size=0, max_size=4), blank_lines=st.booleans())
def test_esconv_from_nested_structures_in_both_shapes(scratch, items, blank_lines):
    original = scratch / "ESConv.json"
    original.write_text(json.dumps(items), encoding="utf-8")
    _check_esconv(original)
    lines = scratch / "esconv.jsonl"
    lines.write_text(("\n\n" if blank_lines else "\n").join(json.dumps(d) for d in items) + "\n", encoding="utf-8")
    _check_esconv(lines)


# -- HEAL folders and saved knowledge graphs -------------------------------------------------------------------------
node_ids = st.sampled_from(["t1", "t2", "i1", "r1", "r2", "f1", "e1-t1", "x9"])
heal_nodes = mostly(st.fixed_dictionaries({"id": mostly(node_ids, scalars)}, optional={
    "label": mostly(words, scalars), "value": mostly(st.integers(0, 9), nested), "story": mostly(words, nested)}),
    nested)
weights = mostly(st.integers(0, 50) | st.floats(0, 100) | st.just(1e308),
                 scalars | st.sampled_from(["nan", "inf", "-Infinity", "1e400", "lots", "3"])
                 | st.floats(allow_nan=True, allow_infinity=True), odds=12)
heal_edges = mostly(st.fixed_dictionaries({"from": mostly(node_ids, scalars), "to": mostly(node_ids, scalars)},
                                          optional={"value": weights}), nested)
junk_file = nested | any_text | st.binary(max_size=60)
heal_files = st.fixed_dictionaries({}, optional={
    **{f"nodes/{n}.txt": mostly(st.builds(lambda x: {"nodes": x}, st.lists(heal_nodes, max_size=5)), junk_file,
                                odds=30)
       for n in ("stressors", "expectations", "responses", "feedback", "affective_states")},
    **{f"edges/{n}.txt": mostly(st.builds(lambda x: {"edges": x}, st.lists(heal_edges, max_size=6)), junk_file,
                                odds=30)
       for n in ("stressors-responses", "expectations-responses", "responses-feedback", "affective_states")}})


@FUZZ
@given(files=heal_files)
def test_heal_folder_loads_or_is_a_knowledge_graph_error(files):
    with tempfile.TemporaryDirectory(prefix="heal-") as tmp:
        root = Path(tmp)
        for name, content in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            elif isinstance(content, str):
                path.write_text(content, encoding="utf-8")
            else:
                path.write_text(json.dumps(content), encoding="utf-8")
        try:
            graph, report = load_heal(root)
        except KnowledgeGraphError as exc:
            event(f"KnowledgeGraphError: {str(exc)[len(str(root)) + 1:][:40]}")
            _one_line_naming(exc, str(root))
            return
        event(f"graph with {graph.graph.number_of_edges()} edge(s), {len(report.problems)} skipped entries")
        assert all(math.isfinite(d["weight"]) for _, _, d in graph.graph.edges(data=True))
        assert "\n" not in "".join(report.problems)
        saved = graph.save(root / "kg.json", with_vectors=False)  # strict JSON out (allow_nan=False)
        again = KnowledgeGraph.load(saved)
        assert again.counts() == graph.counts()


@FUZZ
@given(data=any_text | deep_text | st.builds(lambda n, e: json.dumps(
    {"format": "escgraph-knowledge-graph", "format_version": 1, "nodes": n, "edges": e}), nested, nested))
def test_saved_knowledge_graph_loads_or_is_a_knowledge_graph_error(scratch, data):
    path = scratch / "kg.json"
    path.write_text(data, encoding="utf-8")
    try:
        graph = KnowledgeGraph.load(path)
    except KnowledgeGraphError as exc:
        _one_line_naming(exc, str(path))
        return
    assert all(math.isfinite(d["weight"]) for _, _, d in graph.graph.edges(data=True))


# -- lines piped into escgraph chat -----------------------------------------------------------------------------------
@FUZZ
@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(lambda t: t.encode("utf-8"))
       | st.sampled_from([b"\xed\xa0\x80", b"\x00\x1b[31m", b" \t ", "é".encode("utf-16")]) | st.none(),
       line_no=st.integers(min_value=1, max_value=10 ** 6))
def test_chat_line_is_a_clean_message_or_invalid_message_error(raw, line_no):
    try:
        text = message_from_line(raw, line_no)
    except InvalidMessageError as exc:
        _one_line_naming(exc, f"line {line_no}:")
        return
    assert text and text == text.strip() and len(text) <= MAX_MESSAGE_CHARS
    assert not any(ord(c) < 32 and c not in "\n" or 0x7F <= ord(c) <= 0x9F for c in text), repr(text)
    text.encode("utf-8")  # no lone surrogates


@FUZZ
@given(data=st.binary(max_size=400), limit=st.integers(min_value=1, max_value=40))
def test_read_lines_bounds_every_line(data, limit):
    got = list(read_lines(io.BytesIO(data), max_bytes=limit))
    expected = data.split(b"\n")
    if expected and expected[-1] == b"":
        expected.pop()
    assert [n for n, _ in got] == list(range(1, len(expected) + 1))
    for (_, line), original in zip(got, expected):  # a line over the limit is None, never a piece of it
        assert line == (None if len(original) > limit else original.rstrip(b"\r\n"))


class _FakeSession:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, text: str) -> dict:
        self.sent.append(text)
        return {"reply": f"heard {len(text)}", "strategy": "Question", "stage": "exploration", "rationale": "",
                "safety": {"crisis": False, "category": None, "score": 0.0}, "thread": "t", "turn": len(self.sent)}


@FUZZ
@given(lines=st.lists(st.binary(max_size=60) | st.text(max_size=60).map(lambda t: t.encode("utf-8"))
                      | st.just(b"x" * 70_000), max_size=8), as_json=st.booleans())
def test_piped_chat_handles_any_input(lines, as_json):
    from escgraph.cli.chat_cmd import _piped

    session = _FakeSession()
    stdin = mock.Mock()
    stdin.buffer = io.BytesIO(b"\n".join(lines))
    out, err = io.StringIO(), io.StringIO()
    with mock.patch.object(sys, "stdin", stdin), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = _piped(session, as_json)
    assert code in (0, 1)
    assert all(text and len(text) <= MAX_MESSAGE_CHARS and text not in ("/quit", "/exit") for text in session.sent)
    assert all(line.startswith("escgraph: skipped line ") for line in err.getvalue().splitlines())
    if as_json:
        for line in out.getvalue().splitlines():
            json.loads(line)
