"""The versioned skills bank: versions, immutability, hand edits, import/export, diffs, concurrent commits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from escgraph.skills_bank import bank_fingerprint
from escgraph.skills_bank.diff import diff_versions, render_html, render_terminal, to_json, word_diff
from escgraph.skills_bank.schema import Skill
from escgraph.skills_bank.store import (Changes, SkillBank, SkillBankError, SkillFileError, UnknownSkillError,
                                        UnknownVersionError)


def skill_data(skill_id: str, **overrides) -> dict:
    data = {
        "id": skill_id, "name": f"Skill {skill_id}", "summary": f"What {skill_id} does, in a sentence or two.",
        "guidance": [f"notice what the seeker says about {skill_id}", "reflect it back in their own words"],
        "applicability": {"when_to_use": ["the seeker sounds sad"], "when_not_to_use": ["the seeker is in danger"],
                          "stages": ["comforting"]},
        "expected_outcomes": ["the seeker feels heard"],
        "risks": ["sounding scripted; use the seeker's own words"],
        "strategies": ["Reflection of feelings"],
        "examples": [{"seeker": "I miss her.", "supporter": "You miss her so much."}],
    }
    data.update(overrides)
    return data


def make_skill(skill_id: str, **overrides) -> Skill:
    return Skill.model_validate(skill_data(skill_id, **overrides))


@pytest.fixture
def bank(tmp_path) -> SkillBank:
    skills = [make_skill("reflect-feelings"), make_skill("open-question", strategies=["Question"]),
              make_skill("small-step", applicability={"when_to_use": ["ready to act"], "when_not_to_use": ["raw"],
                                                      "stages": ["action"]}),
              make_skill("validate-effort", summary="Name the effort the seeker is making: it is real.\nSay so.")]
    return SkillBank.create(tmp_path / "bank", skills, author="tester", message="seed the fixture bank")


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def test_create_open_and_layout(bank):
    again = SkillBank.open(bank.path)
    assert again.head == "v1" and [v.id for v in again.versions()] == ["v1"]
    v1 = again.get_version("head")
    assert v1.parent is None and v1.kind == "seed" and v1.author == "tester" and v1.created.endswith("+00:00")
    assert v1.content_hash.startswith(bank_fingerprint(again.skills()))
    assert sorted(p.name for p in (bank.path / "skills").iterdir()) == [
        "open-question.yaml", "reflect-feelings.yaml", "small-step.yaml", "validate-effort.yaml"]
    state = yaml.safe_load((bank.path / "bank.yaml").read_text())
    assert state["head"] == "v1" and state["format"] == "escgraph-skills-bank"
    text = (bank.path / "skills" / "validate-effort.yaml").read_text()
    assert list(yaml.safe_load(text)) == list(Skill.model_fields)  # the schema's key order
    assert "summary: |-\n  Name the effort" in text  # multi-line text as a block, not an escaped string
    with pytest.raises(SkillBankError, match="already a skills bank"):
        SkillBank.create(bank.path, [], author="x", message="again")


def test_commits_add_retire_edit_and_history_is_immutable(bank):
    v2 = bank.commit(Changes(put=[make_skill("share-resources")]), author="ann", message="add a skill")
    v3 = bank.commit(Changes(retire=["small-step"], flag_unsafe=["open-question"]), author="evo",
                     message="retire and flag", kind="evolution")
    edited = make_skill("reflect-feelings", risks=["sounding scripted and cold; use the seeker's own words"])
    v4 = bank.commit(Changes(put=[edited]), author="ann", message="sharpen a risk")
    log = bank.versions()
    assert [v.id for v in log] == ["v4", "v3", "v2", "v1"] and [v.parent for v in log] == ["v3", "v2", "v1", None]
    assert v2.changes["added"] == ["share-resources"]
    assert v3.changes["retired"] == ["small-step"] and v3.changes["flagged"] == ["open-question"]
    assert v4.changes["changed"] == ["reflect-feelings"] and v3.kind == "evolution"
    # old versions still hold their exact content; handed-out skills are copies
    assert bank.skill("small-step", "v2").status == "active" and bank.skill("small-step").status == "retired"
    assert "share-resources" not in bank.skills("v1")
    bank.skill("reflect-feelings", "v1").risks.append("mutated")
    assert bank.skill("reflect-feelings", "v1").risks == ["sounding scripted; use the seeker's own words"]
    # the working copy shows the head
    on_disk = yaml.safe_load((bank.path / "skills" / "reflect-feelings.yaml").read_text())
    assert on_disk == edited.model_dump(mode="json")
    # a version file edited after the fact is detected, not silently trusted
    v2_file = bank.path / "versions" / "v2.yaml"
    assert not os.access(v2_file, os.W_OK) or os.geteuid() == 0  # committed snapshots are read-only
    os.chmod(v2_file, 0o644)
    v2_file.write_text(v2_file.read_text().replace("the seeker feels heard", "tampered"))
    with pytest.raises(SkillBankError, match="modified after it was committed"):
        SkillBank.open(bank.path).skills("v2")


def test_resolve_forms(bank):
    for i in range(3):
        bank.commit(Changes(put=[make_skill(f"extra-{i}")]), author="t", message=f"add {i}")
    assert [bank.resolve(v) for v in ("head", "HEAD", "v3", "3", 3, "head~1", "head~0", "v3~2", "head~3")] == \
        ["v4", "v4", "v3", "v3", "v3", "v3", "v4", "v1", "v1"]
    for bad, match in (("v9", "unknown version v9 \\(head is v4\\)"), ("head~4", "past the first version"),
                       ("latest", "not a version"), ("0", "unknown version 0"), ("v3~5", "past the first")):
        with pytest.raises(UnknownVersionError, match=match):
            bank.resolve(bad)


def test_empty_noop_and_bad_changes_are_refused_and_change_nothing(bank):
    before = snapshot(bank.path)
    with pytest.raises(SkillBankError, match="empty change set"):
        bank.commit(Changes(), author="t", message="nothing")
    with pytest.raises(SkillBankError, match="identical to v1"):
        bank.commit(Changes(put=[make_skill("reflect-feelings")]), author="t", message="same")
    with pytest.raises(UnknownSkillError, match="no-such-skill"):
        bank.commit(Changes(retire=["no-such-skill"]), author="t", message="retire a ghost")
    with pytest.raises(SkillBankError, match="both changed and removed"):
        bank.commit(Changes(retire=["small-step"], remove=["small-step"]), author="t", message="confused")
    with pytest.raises(SkillBankError, match="author and a message"):
        bank.commit(Changes(remove=["small-step"]), author="t", message="  ")
    assert snapshot(bank.path) == before


def test_remove_then_export_import_round_trip(bank, tmp_path):
    v2 = bank.commit(Changes(remove=["small-step"], put=[make_skill("new-one")]), author="t", message="swap")
    assert v2.changes["removed"] == ["small-step"] and not (bank.path / "skills" / "small-step.yaml").exists()
    for name in ("v2.yaml", "v2.json"):
        out = bank.export("v2", tmp_path / name)
        other = SkillBank.create(tmp_path / f"other-{name}", [make_skill("unrelated")], author="t", message="seed")
        imported = other.import_file(out, "importer", "bring in the team bank", replace=True)
        assert imported.kind == "import" and imported.content_hash == v2.content_hash
        assert "v2.yaml" in imported.message or "v2.json" in imported.message
        assert "exported v2" in imported.message and imported.changes["removed"] == ["unrelated"]
        assert other.skills() == bank.skills("v2")
    # importing an old export on top of a newer head restores that content as a new version
    bank.commit(Changes(put=[make_skill("later")]), author="t", message="later")
    restored = bank.import_file(tmp_path / "v2.yaml", "t", None, replace=True)
    assert restored.id == "v4" and restored.parent == "v3" and bank.skills() == bank.skills("v2")
    with pytest.raises(SkillBankError, match="nothing to import"):
        bank.import_file(tmp_path / "v2.yaml", "t", replace=True)
    merged = bank.import_file(_write(tmp_path / "one.yaml", skill_data("merged-in")), "t", replace=False)
    assert merged.changes == {**{k: [] for k in merged.changes}, "added": ["merged-in"]}


def _write(path: Path, data) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_import_names_the_file_skill_and_field(bank, tmp_path):
    broken = skill_data("broken-one")
    del broken["risks"]
    path = _write(tmp_path / "import.yaml", {"skills": [skill_data("fine-one"), broken]})
    before = snapshot(bank.path)
    with pytest.raises(SkillFileError) as info:
        bank.import_file(path, "t", "import")
    message = str(info.value)
    assert "import.yaml" in message and "skill #2" in message and "broken-one" in message
    assert info.value.field == "risks" and "missing field 'risks'" in message
    assert snapshot(bank.path) == before
    with pytest.raises(SkillFileError, match="appears twice"):
        bank.import_file(_write(tmp_path / "dupe.yaml", [skill_data("a-a"), skill_data("a-a")]), "t")


@pytest.mark.parametrize("edit, field, problem", [
    (lambda d: d.pop("summary"), "summary", "missing field 'summary'"),
    (lambda d: d["applicability"].pop("stages"), "applicability.stages", "missing field 'applicability.stages'"),
    (lambda d: d.update(guidance="just one string"), "guidance", "field 'guidance'"),
    (lambda d: d["applicability"].update(min_intensity="high"), "applicability.min_intensity", "valid integer"),
    (lambda d: d.update(examples=[{"seeker": "hi"}]), "examples[0].supporter", "missing field"),
    (lambda d: d.update(id="another-id"), "id", "file is named open-question.yaml"),
])
def test_hand_edit_with_bad_field_is_rejected_and_nothing_changes(bank, edit, field, problem):
    folder = bank.path / "skills"
    good = folder / "reflect-feelings.yaml"  # a valid hand edit in the same commit must not slip through either
    good.write_text(good.read_text().replace("What reflect-feelings does", "What reflecting does"))
    target = folder / "open-question.yaml"
    data = yaml.safe_load(target.read_text())
    edit(data)
    target.write_text(yaml.safe_dump(data, sort_keys=False))
    before = snapshot(bank.path)
    with pytest.raises(SkillFileError) as info:
        bank.commit_from_folder("person", "hand edits")
    assert info.value.file.endswith("open-question.yaml") and info.value.field == field
    assert "open-question.yaml" in str(info.value) and problem in str(info.value)
    assert snapshot(bank.path) == before and bank.head == "v1"  # the person's own edits are still there


def test_hand_edits_commit_and_survive_other_commits(bank, tmp_path, caplog):
    folder = bank.path / "skills"
    edit = folder / "reflect-feelings.yaml"
    edit.write_text(edit.read_text().replace("What reflect-feelings does", "What reflecting feelings does"))
    (folder / "small-step.yaml").unlink()
    (folder / "brand-new.yaml").write_text(yaml.safe_dump(skill_data("brand-new"), sort_keys=False))
    # a program commits in the meantime: the person's pending edits are kept, the other file follows the head
    bank.commit(Changes(retire=["validate-effort"]), author="evo", message="retire", kind="evolution")
    assert "reflecting feelings" in edit.read_text() and not (folder / "small-step.yaml").exists()
    assert yaml.safe_load((folder / "validate-effort.yaml").read_text())["status"] == "retired"
    version = bank.commit_from_folder("person", "my edits")
    assert version.id == "v3" and version.kind == "person" and version.changes["added"] == ["brand-new"]
    assert version.changes["changed"] == ["reflect-feelings"] and version.changes["removed"] == ["small-step"]
    assert bank.skills("v3")["validate-effort"].status == "retired"  # the evolution commit is not lost
    with pytest.raises(SkillBankError, match="nothing to commit"):
        bank.commit_from_folder("person", "again")
    # both changed the same skill: the commit wins in skills/, the person's text is kept aside
    edit.write_text(edit.read_text().replace("reflecting feelings", "MY VERSION"))
    bank.commit(Changes(retire=["reflect-feelings"]), author="evo", message="retire it", kind="evolution")
    assert "MY VERSION" in (folder / "reflect-feelings.yaml.mine").read_text()
    assert yaml.safe_load(edit.read_text())["status"] == "retired"


def test_not_a_bank_and_corrupt_bank(tmp_path, bank):
    with pytest.raises(SkillBankError, match="no such folder"):
        SkillBank.open(tmp_path / "missing")
    (tmp_path / "plain").mkdir()
    with pytest.raises(SkillBankError, match="not a skills bank \\(no bank.yaml\\)"):
        SkillBank.open(tmp_path / "plain")
    state = bank.path / "bank.yaml"
    state.write_text("format: [unclosed")
    with pytest.raises(SkillBankError, match="bank.yaml is corrupt"):
        SkillBank.open(bank.path)
    state.write_text("format: escgraph-skills-bank\nhead: v7\n")
    with pytest.raises(SkillBankError, match="head v7 has no file versions/v7.yaml"):
        SkillBank.open(bank.path)
    state.write_text("just: something\n")
    with pytest.raises(SkillBankError, match="not a skills-bank file"):
        SkillBank.open(bank.path)


def test_default_bank_is_seeded_once_from_the_package(tmp_path, monkeypatch):
    from escgraph.config import data_dir
    from escgraph.skills_bank import store

    package = tmp_path / "package-default"
    package.mkdir()
    for sid in ("listen-first", "name-the-feeling"):
        _write(package / f"{sid}.yaml", skill_data(sid))
    monkeypatch.setattr(store, "_package_default_dir", lambda: package)
    bank = SkillBank.default()
    assert bank.path == data_dir() / "skills" and sorted(bank.skills()) == ["listen-first", "name-the-feeling"]
    assert bank.get_version("v1").kind == "seed"
    bank.commit(Changes(retire=["listen-first"]), author="t", message="mine now")
    assert SkillBank.default().head == "v2"  # opened, not reseeded
    _write(package / "bad-file.yaml", skill_data("other-id"))
    with pytest.raises(SkillFileError, match="bad-file.yaml"):
        SkillBank.default(tmp_path / "fresh")


def test_yaml_round_trip_of_awkward_text(tmp_path):
    awkward = ["yes", "123", "a: b", "- dash", "# not a comment", "ünïcode — “quotes”", "tab\there",
               "line one\nline two\n\nafter a blank", "x " * 80 + "end", "trailing: colon:", "'single' \"double\""]
    skill = make_skill("awkward-text", guidance=awkward, summary="multi\nline summary text")
    bank = SkillBank.create(tmp_path / "b", [skill], author="t", message="seed")
    assert SkillBank.open(bank.path).skill("awkward-text") == skill
    # the working copy parses back to the same skill, so there is nothing to commit
    with pytest.raises(SkillBankError, match="nothing to commit"):
        bank.commit_from_folder("t", "no edits")


def test_diff_added_retired_and_word_level_risk_change(bank):
    bank.commit(Changes(put=[make_skill("share-resources")], retire=["small-step"]), author="t", message="a")
    bank.commit(Changes(put=[make_skill("reflect-feelings",
                                        risks=["sounding scripted and cold; use the seeker's own words",
                                               "rushing past <grief> & loss"])]), author="t", message="b")
    diff = diff_versions(bank, "v1", "head")
    assert [s.id for s in diff.added] == ["share-resources"] and diff.retired == ["small-step"]
    change = next(c for c in diff.changed if c.id == "reflect-feelings")
    risk0 = next(f for f in change.fields if f.field == "risks[0]")
    assert [(o.op, o.text) for o in risk0.words if o.op != "equal"] == [("insert", " and cold")]
    assert "".join(o.text for o in risk0.words if o.op != "insert") == "sounding scripted; use the seeker's own words"
    assert any(f.field == "risks[1]" and f.kind == "added" for f in change.fields)
    assert sorted(diff.unchanged) == ["open-question", "validate-effort"]
    reuse = {r.id: r for r in diff.reuse}
    assert reuse["open-question"].unchanged_since == "v1" and reuse["open-question"].unchanged_versions == 3
    assert reuse["reflect-feelings"].unchanged_since == "v3" and reuse["share-resources"].in_bank_since == "v2"
    data = json.loads(to_json(diff))
    assert data["totals"] == {"added": 1, "removed": 0, "changed": 2, "unchanged": 2, "retired": 1, "flagged": 0}
    from rich.console import Console

    console = Console(record=True, width=200, color_system=None)
    console.print(render_terminal(diff, color=False))
    text = console.export_text()
    assert "+ added share-resources" in text and "[active → retired]" in text
    assert "risks[0]: sounding scripted{+ and cold+}; use" in text
    page = render_html(diff)
    assert page.startswith("<!doctype html>") and "<ins> and cold</ins>" in page
    assert "&lt;grief&gt; &amp; loss" in page and "<grief>" not in page
    assert "unchanged since" in page and "http" not in page  # self-contained


def test_word_diff_keeps_rewrites_together():
    ops = word_diff("take a slow breath now", "take one deep breath now")
    assert [(o.op, o.text) for o in ops] == [("equal", "take "), ("delete", "a slow"), ("insert", "one deep"),
                                             ("equal", " breath now")]


_WORKER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from escgraph.skills_bank.schema import Skill
    from escgraph.skills_bank.store import Changes, SkillBank

    bank_path, worker, template, gate = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), Path(sys.argv[4])
    (gate.parent / f"ready-{worker}").touch()
    while not gate.exists():
        time.sleep(0.005)
    bank = SkillBank.open(bank_path)
    for i in range(10):
        skill = Skill.model_validate({**template, "id": f"w{worker}-{i}", "name": f"worker {worker} skill {i}"})
        bank.commit(Changes(put=[skill]), author=f"worker-{worker}", message=f"commit {i}", kind="evolution")
""")


def test_two_processes_committing_at_once_form_one_linear_history(bank, tmp_path):
    gate = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(bank.path), str(w),
                               json.dumps(skill_data("template")), str(gate)]) for w in (1, 2)]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready-{w}").exists() for w in (1, 2)) and time.monotonic() < deadline:
        time.sleep(0.01)
    gate.touch()  # both start committing together
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    fresh = SkillBank.open(bank.path)
    log = fresh.versions()  # every version loads and passes its content-hash check
    assert fresh.head == "v21" and len(log) == 21
    assert all(v.parent == f"v{v.number - 1}" for v in log[:-1])
    assert {v.author for v in log[:-1]} == {"worker-1", "worker-2"}
    expected = {f"w{w}-{i}" for w in (1, 2) for i in range(10)} | set(fresh.skills("v1"))
    assert set(fresh.skills()) == expected  # no lost update
    assert all(len(v.skill_ids) == 3 + v.number for v in log)  # each commit added exactly one skill
    on_disk = {p.stem: yaml.safe_load(p.read_text()) for p in (bank.path / "skills").glob("*.yaml")}
    assert on_disk == {k: s.model_dump(mode="json") for k, s in fresh.skills().items()}
    assert not list(bank.path.rglob("*.tmp"))


def test_committing_hand_edits_in_a_personal_layout_is_not_a_conflict(tmp_path):
    """A person's file that holds exactly the committed skill is normalised, not set aside as .mine."""
    import yaml as _yaml

    from escgraph.skills_bank.store import SkillBank

    skill = {"id": "plain-skill", "name": "Plain skill", "summary": "A plain skill used to test hand edits.",
             "guidance": ["first do this step", "then do that step"],
             "applicability": {"when_to_use": ["the seeker is sad"], "when_not_to_use": ["the seeker is in danger"],
                               "stages": ["comforting"]},
             "expected_outcomes": ["the seeker feels heard"], "risks": ["sounding scripted; use their words"],
             "strategies": ["Reflection of feelings"],
             "examples": [{"seeker": "I am sad.", "supporter": "You sound really sad."}]}
    from escgraph.skills_bank.schema import Skill

    bank = SkillBank.create(tmp_path / "bank", [Skill.model_validate(skill)], "me", "seed")
    edited = {**skill, "risks": ["sounding scripted; use their own words"]}
    path = bank.path / "skills" / "plain-skill.yaml"
    path.write_text(_yaml.safe_dump(edited, default_flow_style=True, width=1000))  # a very different layout
    bank.commit_from_folder("me", "soften the risk")
    assert not list((bank.path / "skills").glob("*.mine"))
    assert bank.skill("plain-skill").risks == ["sounding scripted; use their own words"]
