"""Bad input files end in one clear line and exit 2, never a traceback, and change nothing already saved.

One test (or more) per defect of the "Safety and hardening" issue, parser side: deep nesting, non-UTF-8 files,
YAML alias bombs, ``.json`` read as YAML, multi-line YAML errors, non-finite knowledge-graph weights, and
``skills import`` silently replacing a bank.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from test_skills_store import make_skill, skill_data
from typer.testing import CliRunner

from escgraph.cli._app import cli_app
from escgraph.datafiles import MAX_DEPTH, DataFileError, parse_json, parse_yaml
from escgraph.esconv import ESConvError, load_esconv
from escgraph.memory.knowledge_graph import KnowledgeGraph, KnowledgeGraphError, load_heal
from escgraph.profiles import ProfileError, load_profiles
from escgraph.skills_bank.store import SkillBank, SkillBankError, SkillFileError

HEAL = Path(__file__).parent / "data" / "heal_fixture"
runner = CliRunner()


def run(*args: str, input: str | bytes | None = None):
    return runner.invoke(cli_app(), list(args), input=input)


def one_line_error(result, *needles: str) -> str:
    """The run ended with exit 2 and exactly one line, ``escgraph: error: ...``, holding every needle."""
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("escgraph: error: "), result.output
    assert "Traceback" not in result.output and all(n in lines[0] for n in needles), lines[0]
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
            and p.name != ".lock"}


def deep_json(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


def alias_bomb(levels: int = 9) -> str:
    """The "billion laughs": 9 levels of 9 aliases each expand to 9**9 strings (a few hundred bytes of YAML)."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    names = "abcdefghij"
    for prev, name in zip(names, names[1:levels + 1]):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@pytest.fixture
def bank(tmp_path) -> SkillBank:
    return SkillBank.create(tmp_path / "bank", [make_skill("reflect-feelings"), make_skill("small-step"),
                                                make_skill("open-question", strategies=["Question"])],
                            author="tester", message="seed")


# -- deep nesting: RecursionError before ------------------------------------------------------------------------
@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1_000, 100_000])
def test_parsers_bound_nesting_depth(depth):
    with pytest.raises(DataFileError, match=f"nested deeper than {MAX_DEPTH} levels at line 1, column"):
        parse_json(deep_json(depth), "x.json")
    flow = "a: " + deep_json(depth)
    with pytest.raises(DataFileError, match="x.yaml: .*nest"):  # ours below libyaml's own 1,000-level stop
        parse_yaml(flow, "x.yaml")
    block = "".join("  " * i + "- \n" for i in range(min(depth, 2_000))) + "  " * min(depth, 2_000) + "- x\n"
    with pytest.raises(DataFileError, match="nest"):
        parse_yaml(block, "x.yaml")
    assert parse_json(deep_json(MAX_DEPTH), "x.json") is not None  # exactly at the limit is fine
    assert parse_yaml("a: " + deep_json(MAX_DEPTH - 1), "x.yaml")


def test_brackets_inside_json_strings_do_not_count_as_nesting():
    assert parse_json(json.dumps({"text": "[" * 500 + "{" * 500}), "x.json")["text"].startswith("[[")


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_deep_profiles_are_one_clear_line(tmp_path, suffix):
    path = tmp_path / f"deep{suffix}"
    persona = deep_json(5_000)
    path.write_text(f'[{{"id": "a", "situation": "x", "persona": {persona}}}]' if suffix == ".json"
                    else f"- id: a\n  situation: x\n  persona: {persona}\n")
    with pytest.raises(ProfileError, match=f"deep{suffix}: .*nest"):
        load_profiles(path)
    one_line_error(run("simulate", "--profiles", str(path), "--model", "fake", "--out", str(tmp_path / "run")),
                   f"deep{suffix}", "nest")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_deep_skills_import_is_refused_and_the_bank_untouched(bank, tmp_path, suffix):
    path = tmp_path / f"deep{suffix}"
    data = skill_data("deep-one")
    data["guidance"] = ["placeholder"]
    text = json.dumps([data]).replace('["placeholder"]', deep_json(3_000, '"step"'))
    path.write_text(text)
    before = snapshot(bank.path)
    one_line_error(run("skills", "import", str(path), "--merge", "--bank", str(bank.path)), f"deep{suffix}",
                   f"nested deeper than {MAX_DEPTH} levels")
    assert snapshot(bank.path) == before


def test_deep_heal_file_is_refused_and_nothing_written(tmp_path):
    folder = tmp_path / "heal"
    (folder / "nodes").mkdir(parents=True)
    (folder / "nodes" / "stressors.txt").write_text('{"nodes": ' + deep_json(50_000) + "}")
    with pytest.raises(KnowledgeGraphError, match="stressors.txt: nested deeper"):
        load_heal(folder)
    out = tmp_path / "kg.json"
    one_line_error(run("kg", "import-heal", str(folder), "--out", str(out)), "stressors.txt", "nested deeper")
    assert not out.exists()


@pytest.mark.parametrize(("name", "text", "needle"), [
    ("deep.json", deep_json(10_000), "deep.json: nested deeper"),
    ("deep.jsonl", '{"dialog": [{"speaker": "usr", "text": "hi"}]}\n\n{"a": ' + deep_json(10_000) + "}\n",
     "deep.jsonl: dialogue 1 (line 3): nested deeper"),
])
def test_deep_esconv_is_one_clear_line(tmp_path, name, text, needle):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ESConvError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        load_esconv(path)
    one_line_error(run("esconv", "cases", str(path), "--out", str(tmp_path / "cases.jsonl")), needle)
    assert not (tmp_path / "cases.jsonl").exists()


def test_deep_case_and_unit_lines_are_one_clear_line(tmp_path, bank):
    from escgraph.esconv import read_cases

    cases = tmp_path / "cases.jsonl"
    cases.write_text('{"id": "a", "context": []}\n{"id": "b", "context": ' + deep_json(5_000) + "}\n")
    with pytest.raises(ESConvError, match="cases.jsonl: line 2: nested deeper than 64 levels at column"):
        read_cases(cases)
    one_line_error(run("planner", "eval", "--cases", str(cases), "--pred", str(cases)), "cases.jsonl: line 2")
    units = tmp_path / "units.jsonl"
    units.write_text(deep_json(5_000) + "\n")
    one_line_error(run("skills", "discover", str(units), "--out", str(tmp_path / "p.yaml"), "--model", "fake",
                       "--bank", str(bank.path)), "units.jsonl: line 1: nested deeper")


def test_deep_safety_and_prediction_lines_are_reported_not_raised(tmp_path):
    deep = tmp_path / "deep.jsonl"
    deep.write_text('{"text": "hello"}\n' + deep_json(5_000) + "\n")
    result = run("safety", "check", "--jsonl", str(deep))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert '"error": "nested deeper than 64 levels at column 65"' in result.stdout
    cases = tmp_path / "cases.jsonl"
    cases.write_text('{"id": "a", "context": [], "gold": "Question"}\n')
    preds = tmp_path / "preds.jsonl"
    preds.write_text('{"id": "a", "pred": "Question"}\n' + deep_json(5_000) + "\n")
    one_line_error(run("planner", "eval", "--cases", str(cases), "--pred", str(preds)), "preds.jsonl: line 2",
                   "nested deeper")
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"id": "a", "pred": "caf\xe9"}\n')
    one_line_error(run("planner", "eval", "--cases", str(cases), "--pred", str(latin)), "latin.jsonl",
                   "not valid UTF-8", "offset 24")


# -- non-UTF-8 files: UnicodeDecodeError before -----------------------------------------------------------------
def test_non_utf8_skills_import_names_file_and_byte_offset(bank, tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(yaml.safe_dump([skill_data("cafe-skill", summary="un café")], allow_unicode=True)
                     .encode("latin-1"))
    offset = path.read_bytes().index(b"\xe9")
    before = snapshot(bank.path)
    with pytest.raises(SkillFileError, match=f"latin1.yaml: not valid UTF-8 at line .* offset {offset}"):
        bank.import_file(path, "t", replace=False)
    one_line_error(run("skills", "import", str(path), "--merge", "--bank", str(bank.path)), "latin1.yaml",
                   "not valid UTF-8", "0xe9", f"offset {offset}")
    assert snapshot(bank.path) == before


def test_non_utf8_working_copy_commit_names_file_and_offset(bank):
    hand = bank.path / "skills" / "small-step.yaml"
    hand.write_bytes(hand.read_bytes().replace(b"summary: ", b"summary: caf\xe9 ", 1))
    offset = hand.read_bytes().index(b"\xe9")
    before = snapshot(bank.path)
    one_line_error(run("skills", "commit", "-m", "edit", "--bank", str(bank.path)), "small-step.yaml",
                   "not valid UTF-8", f"offset {offset}")
    assert snapshot(bank.path) == before


def test_non_utf8_working_copy_file_survives_commits(bank, tmp_path):
    """A program's commit never crashes on, nor loses, a person's non-UTF-8 file: an untouched skill's file stays
    as it is; a skill the commit changes keeps the person's bytes beside it as ``.mine``."""
    folder = bank.path / "skills"
    for sid in ("small-step", "open-question"):
        path = folder / f"{sid}.yaml"
        path.write_bytes(path.read_bytes() + b"# caf\xe9\n")
    pending = (folder / "small-step.yaml").read_bytes()
    mine = (folder / "open-question.yaml").read_bytes()
    one = tmp_path / "one.yaml"
    one.write_text(yaml.safe_dump(skill_data("open-question", summary="a new summary for open-question")))
    assert run("skills", "import", str(one), "--merge", "--bank", str(bank.path)).exit_code == 0
    assert (folder / "small-step.yaml").read_bytes() == pending
    assert (folder / "open-question.yaml.mine").read_bytes() == mine
    assert "a new summary" in (folder / "open-question.yaml").read_text()


def test_non_utf8_profiles_and_esconv_name_the_offset(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_bytes("- id: a\n  situation: café\n".encode("latin-1"))
    with pytest.raises(ProfileError, match=r"p.yaml: not valid UTF-8 at line 2 \(byte 0xe9 at offset 24\)"):
        load_profiles(path)
    esconv = tmp_path / "e.json"
    esconv.write_bytes(b'[{"dialog": [{"speaker": "seeker", "content": "caf\xe9"}]}]')
    with pytest.raises(ESConvError, match=r"e.json: not valid UTF-8 at line 1 \(byte 0xe9 at offset 50\)"):
        load_esconv(esconv)


# -- YAML alias bomb: 4 GB of memory before ---------------------------------------------------------------------
def test_alias_bomb_in_a_profile_is_refused_at_once(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text("- id: a\n  situation: x\n  persona:\n" + "".join(f"    {line}\n"
                                                                    for line in alias_bomb().splitlines()))
    start = time.perf_counter()
    with pytest.raises(ProfileError, match="bomb.yaml: YAML anchors and aliases are not accepted .* line 4, "
                                           "column 8: found &a"):
        load_profiles(path)
    assert time.perf_counter() - start < 5  # refused while parsing, never expanded
    one_line_error(run("simulate", "--profiles", str(path), "--model", "fake", "--out", str(tmp_path / "r")),
                   "bomb.yaml", "anchors and aliases")


@pytest.mark.parametrize("text", ["a: &x 1\nb: *x\n", "base: &b {k: 1}\nother:\n  <<: *b\n", "a: *undefined\n"])
def test_any_alias_or_anchor_is_refused_in_data_files(tmp_path, bank, text):
    with pytest.raises(DataFileError, match="anchors and aliases"):
        parse_yaml(text, "f.yaml")
    path = tmp_path / "alias.yaml"
    path.write_text(text)
    with pytest.raises(SkillFileError, match="alias.yaml: YAML anchors and aliases"):
        bank.import_file(path, "t", replace=False)


# -- .json profiles parsed as YAML: trailing comma accepted before ----------------------------------------------
@pytest.mark.parametrize(("text", "where"), [
    ('[{"id": "a", "situation": "x"},]', "line 1, column 32"),
    ('[\n  {"id": "a", "situation": "x",}\n]', "line 2, column 32"),
    ('[{"id": "a", "situation": NaN}]', "line 1, column 27"),
    ("- id: a\n  situation: x\n", "line 1, column 1"),  # YAML in a .json file is not JSON
])
def test_json_profiles_are_strict_json(tmp_path, text, where):
    path = tmp_path / "p.json"
    path.write_text(text)
    with pytest.raises(ProfileError, match=f"p.json: not valid JSON at {where}: "):
        load_profiles(path)
    one_line_error(run("simulate", "--profiles", str(path), "--model", "fake", "--out", str(tmp_path / "r")),
                   "p.json", where)


def test_yaml_profiles_still_accept_json_syntax(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text('[{"id": "a", "situation": "x"}]')
    assert [p.id for p in load_profiles(path)] == ["a"]


# -- multi-line YAML errors without the file name before --------------------------------------------------------
@pytest.mark.parametrize(("text", "where"), [
    ("- id: a\n  situation: x\n - id: b\n", "line 3, column 2: did not find expected '-' indicator (while parsing "
                                            "a block collection at line 1, column 1)"),
    ("- id: [unclosed\n", "line 2, column 1: did not find expected ',' or ']' (while parsing a flow sequence at "
                          "line 1, column 7)"),
    ("- id: a\n\tsituation: x\n", "line 2, column 1: found a tab character that violates indentation (while "
                                   "scanning a plain scalar at line 1, column 7)"),
    ("- id: a\n  situation: 2020-13-45\n", "line 2, column 14: cannot read this timestamp value (month must be in 1..12)"),
])
def test_yaml_errors_are_one_line_with_file_line_and_column(tmp_path, text, where):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(ProfileError) as info:
        load_profiles(path)
    assert str(info.value) == f"{path}: not valid YAML at {where}"
    one_line_error(run("simulate", "--profiles", str(path), "--model", "fake", "--out", str(tmp_path / "r")),
                   "p.yaml", where)


def test_skill_file_yaml_errors_are_one_line(bank, tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("id: x\nname: [a,\nsummary: b\n")
    line = one_line_error(run("skills", "import", str(path), "--merge", "--bank", str(bank.path)), "broken.yaml",
                          "not valid YAML at line")
    assert "column" in line


# -- kg import-heal accepted NaN / infinite weights, and kg query --json printed invalid JSON --------------------
def _heal_with_weight(tmp_path: Path, value: str) -> Path:
    folder = tmp_path / "heal"
    import shutil

    shutil.copytree(HEAL, folder)
    edges = folder / "edges" / "stressors-responses.txt"
    edges.write_text(edges.read_text().replace('"value": 3}', f'"value": {value}}}', 1))
    return folder


@pytest.mark.parametrize(("value", "needle"), [
    ("NaN", "NaN is not allowed"), ("Infinity", "Infinity is not allowed"), ("-Infinity", "Infinity"),
    ("1e999", "number 1e999 is out of range"), ('"nan"', "entry 0 ('t1' - 'r1'): weight 'nan' is not a finite"),
    ('"inf"', "weight 'inf' is not a finite number"), ('"-1e400"', "is not a finite number"),
])
def test_heal_import_rejects_non_finite_weights(tmp_path, value, needle):
    folder = _heal_with_weight(tmp_path, value)
    with pytest.raises(KnowledgeGraphError, match="stressors-responses.txt"):
        load_heal(folder)
    out = tmp_path / "kg.json"
    one_line_error(run("kg", "import-heal", str(folder), "--out", str(out)), "stressors-responses.txt", needle)
    assert not out.exists()


def test_heal_weights_that_overflow_when_summed_are_rejected(tmp_path):
    folder = _heal_with_weight(tmp_path, "1e308")
    edges = folder / "edges" / "stressors-responses.txt"
    edges.write_text(edges.read_text().replace("]}", ', {"from": "t1", "to": "r1", "value": 1e308}\n]}'))
    with pytest.raises(KnowledgeGraphError, match="overflows"):
        load_heal(folder)


def test_saved_graph_with_nan_is_refused_and_query_json_is_always_valid(tmp_path):
    graph, _ = load_heal(HEAL)
    path = graph.save(tmp_path / "kg.json", with_vectors=False)
    doc = json.loads(path.read_text())
    doc["edges"][0][2] = float("nan")  # a file written before weights were checked
    bad = tmp_path / "old.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(KnowledgeGraphError, match="old.json: not a knowledge-graph file .*NaN"):
        KnowledgeGraph.load(bad)
    one_line_error(run("kg", "query", "I failed my exam", "--kg", str(bad), "--json"), "old.json", "NaN")
    for broken in ({"format": "escgraph-knowledge-graph", "nodes": [[1, 2]], "edges": []},
                   {"format": "escgraph-knowledge-graph", "nodes": [], "edges": [["a", "b", "x"]]},
                   {"format": "escgraph-knowledge-graph", "nodes": 3, "edges": []}):
        bad.write_text(json.dumps(broken))
        with pytest.raises(KnowledgeGraphError, match="old.json"):
            KnowledgeGraph.load(bad)


def test_query_json_writes_non_finite_numbers_as_null(monkeypatch):
    from escgraph.cli import kg_cmd
    from escgraph.memory.knowledge_graph import KnowledgeHit, ResponseHit

    hit = KnowledgeHit("t1", "story", float("nan"), [ResponseHit("r1", "text", float("inf"), float("-inf"), [])],
                       [], [])
    monkeypatch.setattr(KnowledgeGraph, "retrieve", lambda self, *a, **k: [hit])
    result = run("kg", "query", "anything", "--json")
    assert result.exit_code == 0, result.output

    def refuse(name):
        raise AssertionError(f"invalid JSON constant {name}")

    [row] = json.loads(result.stdout, parse_constant=refuse)
    assert row["similarity"] is None and row["responses"][0]["weight"] is None
    assert kg_cmd._finite({"a": [1.5, float("nan")]}) == {"a": [1.5, None]}


# -- skills import silently replaced a whole bank ---------------------------------------------------------------
def test_skills_import_needs_merge_or_replace_on_a_non_empty_bank(bank, tmp_path):
    one = tmp_path / "one.yaml"
    one.write_text(yaml.safe_dump(skill_data("brand-new")))
    before = snapshot(bank.path)
    one_line_error(run("skills", "import", str(one), "--bank", str(bank.path)), "one.yaml", "not imported",
                   "holds 3 skill(s)", "--merge", "--replace")
    with pytest.raises(SkillBankError, match="--merge .* --replace"):
        bank.import_file(one, "t")  # the library refuses too unless told replace=True / replace=False
    one_line_error(run("skills", "import", str(one), "--merge", "--replace", "--bank", str(bank.path)),
                   "--merge and --replace")
    assert snapshot(bank.path) == before
    merged = run("skills", "import", str(one), "--merge", "--bank", str(bank.path))
    assert merged.exit_code == 0 and len(SkillBank.open(bank.path).skills()) == 4
    replaced = run("skills", "import", str(one), "--replace", "--bank", str(bank.path))
    assert replaced.exit_code == 0 and list(SkillBank.open(bank.path).skills()) == ["brand-new"]


def test_skills_import_into_an_empty_bank_needs_no_mode(tmp_path):
    empty = SkillBank.create(tmp_path / "empty", [], author="t", message="empty")
    one = tmp_path / "one.yaml"
    one.write_text(yaml.safe_dump(skill_data("brand-new")))
    assert empty.import_file(one, "t").kind == "import" and list(empty.skills()) == ["brand-new"]


# -- size limits and the chat pipe ------------------------------------------------------------------------------
def test_oversized_files_are_refused_before_reading(tmp_path, monkeypatch):
    import escgraph.datafiles as datafiles

    monkeypatch.setattr(datafiles, "MAX_PROFILE_BYTES", 64)
    path = tmp_path / "big.yaml"
    path.write_text("- id: a\n  situation: " + "x" * 100 + "\n")
    with pytest.raises(ProfileError, match="big.yaml: file is larger than the 64 bytes limit"):
        load_profiles(path)


def test_piped_chat_skips_an_endless_line_without_holding_it(tmp_path):
    from escgraph.messages import MAX_LINE_BYTES

    text = "hello there\n" + "x" * (MAX_LINE_BYTES * 3) + "\nstill here\n"
    result = run("chat", "--model", "fake", "--json", "--db", str(tmp_path / "c.sqlite"), input=text)
    assert result.exit_code == 1 and "Traceback" not in result.output
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [r.get("error", "")[:30] for r in rows] == ["", "line 2: message too long: over", ""]
    assert rows[2]["turn"] == 2


def test_lone_surrogates_never_reach_a_graph():
    from escgraph.messages import InvalidMessageError, clean_seeker_message

    with pytest.raises(InvalidMessageError, match="lone surrogate"):
        clean_seeker_message("hi \udce9")
    with pytest.raises(DataFileError, match="lone surrogate"):
        parse_json('{"situation": "\\ud800"}', "p.json")
