"""``escgraph skills``: list, show, log, diff, import, export, commit — and one clear line for bad input."""

from __future__ import annotations

import json

import pytest
import yaml
from test_skills_store import make_skill, skill_data
from typer.testing import CliRunner

import escgraph.cli.skills_cmd  # noqa: F401 - registers `escgraph skills`
from escgraph.cli._app import app
from escgraph.skills_bank.store import Changes, SkillBank

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, ["skills", *args])


def assert_one_line_error(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("escgraph: error: "), result.output
    assert "Traceback" not in result.output and all(n in lines[0] for n in needles), lines[0]


@pytest.fixture
def bank(tmp_path) -> SkillBank:
    bank = SkillBank.create(tmp_path / "bank", [make_skill("reflect-feelings"), make_skill("small-step"),
                                                make_skill("open-question", strategies=["Question"])],
                            author="tester", message="seed")
    bank.commit(Changes(put=[make_skill("share-resources")], retire=["small-step"]), author="ann",
                message="add share-resources\nretire small-step")
    bank.commit(Changes(put=[make_skill("reflect-feelings",
                                        risks=["sounding scripted and cold; use the seeker's own words"])]),
                author="evo", message="sharpen a risk", kind="evolution")
    return bank


def test_list_active_by_default_all_and_json(bank):
    result = run("list", "--bank", str(bank.path), "--json")
    rows = json.loads(result.stdout)
    assert result.exit_code == 0 and [r["id"] for r in rows] == ["open-question", "reflect-feelings",
                                                                 "share-resources"]
    assert rows[0] == {"id": "open-question", "status": "active", "stages": ["comforting"],
                       "strategies": ["Question"], "name": "Skill open-question"}
    everything = json.loads(run("list", "--bank", str(bank.path), "--json", "--all").stdout)
    assert {r["id"]: r["status"] for r in everything}["small-step"] == "retired"
    old = json.loads(run("list", "--bank", str(bank.path), "--json", "--version", "v1").stdout)
    assert "share-resources" not in {r["id"] for r in old}
    table = run("list", "--bank", str(bank.path), "--all")
    assert table.exit_code == 0 and "small-step" in table.stdout and "retired" in table.stdout


def test_show_every_field_and_json(bank):
    result = run("show", "reflect-feelings", "--bank", str(bank.path))
    assert result.exit_code == 0
    for text in ("Skill reflect-feelings", "guidance", "1. notice what", "when not to use", "sounding scripted and "
                 "cold", "Reflection of feelings", "supporter: You miss her so much.", "v3"):
        assert text in result.stdout, text
    old = json.loads(run("show", "reflect-feelings", "--version", "head~1", "--json", "--bank",
                         str(bank.path)).stdout)
    assert old["risks"] == ["sounding scripted; use the seeker's own words"]


def test_log_like_git(bank):
    result = run("log", "--bank", str(bank.path))
    assert result.exit_code == 0
    out = result.stdout
    assert out.index("v3  (parent v2)  evolution  by evo") < out.index("v2  (parent v1)  person  by ann")
    assert "    retire small-step" in out and "1 added, 1 retired" in out and "v1  (parent -)  seed" in out
    rows = json.loads(run("log", "--json", "--bank", str(bank.path)).stdout)
    assert [r["id"] for r in rows] == ["v3", "v2", "v1"] and rows[0]["changes"]["changed"] == ["reflect-feelings"]


def test_diff_json_text_and_html(bank, tmp_path):
    data = json.loads(run("diff", "v1", "head", "--json", "--bank", str(bank.path)).stdout)
    assert [s["id"] for s in data["added"]] == ["share-resources"] and data["retired"] == ["small-step"]
    risk = next(f for c in data["changed"] if c["id"] == "reflect-feelings" for f in c["fields"]
                if f["field"] == "risks[0]")
    assert {"op": "insert", "text": " and cold"} in risk["words"]
    text = run("diff", "v1", "v3", "--bank", str(bank.path))
    assert text.exit_code == 0 and "\x1b[" not in text.stdout  # piped: plain text with visible markers
    assert "+ added share-resources" in text.stdout and "[active → retired]" in text.stdout
    assert "risks[0]: sounding scripted{+ and cold+}; use" in text.stdout
    page = tmp_path / "diff.html"
    result = run("diff", "1", "3", "--html", str(page), "--bank", str(bank.path))
    assert result.exit_code == 0 and f"wrote {page}" in result.stdout
    html = page.read_text()
    assert "<ins> and cold</ins>" in html and "unchanged since" in html


def test_export_import_and_hand_edit_commit(bank, tmp_path):
    out = tmp_path / "v2.json"
    result = run("export", "--version", "v2", "--out", str(out), "--bank", str(bank.path))
    assert result.exit_code == 0 and json.loads(out.read_text())["version"]["id"] == "v2"
    result = run("import", str(out), "--replace", "--author", "carol", "--message", "roll back the risk", "--bank",
                 str(bank.path))
    assert result.exit_code == 0 and "committed v4 (import)" in result.stdout
    v4 = SkillBank.open(bank.path).get_version("v4")
    assert v4.author == "carol" and "roll back the risk" in v4.message and "v2.json" in v4.message
    edited = bank.path / "skills" / "open-question.yaml"
    edited.write_text(edited.read_text().replace("What open-question does", "What asking openly does"))
    result = run("commit", "-m", "reword", "--author", "dana", "--bank", str(bank.path))
    assert result.exit_code == 0 and "committed v5: 1 changed" in result.stdout
    assert SkillBank.open(bank.path).get_version("head").author == "dana"


def test_default_bank_in_the_data_folder(tmp_path, monkeypatch):
    from escgraph.skills_bank import store

    package = tmp_path / "package-default"
    package.mkdir()
    (package / "listen-first.yaml").write_text(yaml.safe_dump(skill_data("listen-first")))
    monkeypatch.setattr(store, "_package_default_dir", lambda: package)
    result = run("list", "--json")
    assert result.exit_code == 0 and [r["id"] for r in json.loads(result.stdout)] == ["listen-first"]
    assert "seed from the built-in" in json.loads(run("log", "--json").stdout)[0]["message"]


def test_bad_input_is_one_clear_line(bank, tmp_path):
    b = str(bank.path)
    assert_one_line_error(run("show", "nope", "--bank", b), "unknown skill 'nope'")
    assert_one_line_error(run("list", "--version", "v9", "--bank", b), "unknown version v9", "head is v3")
    assert_one_line_error(run("diff", "v1", "latest", "--bank", b), "not a version")
    assert_one_line_error(run("log", "--bank", str(tmp_path)), "not a skills bank")
    assert_one_line_error(run("list", "--bank", str(tmp_path / "missing")), "no such folder")
    assert_one_line_error(run("commit", "-m", "nothing", "--bank", b), "nothing to commit")
    assert_one_line_error(run("export", "--out", str(tmp_path / "x.txt"), "--bank", b), ".yaml, .yml or .json")
    assert_one_line_error(run("import", str(tmp_path / "absent.yaml"), "--bank", b), "cannot read")
    broken = skill_data("broken-one", guidance="not a list")
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump([broken]))
    assert_one_line_error(run("import", str(tmp_path / "broken.yaml"), "--bank", b), "broken.yaml",
                          "skill #1", "'broken-one'", "field 'guidance'")
    hand = bank.path / "skills" / "small-step.yaml"
    data = yaml.safe_load(hand.read_text())
    del data["risks"]
    hand.write_text(yaml.safe_dump(data))
    assert_one_line_error(run("commit", "-m", "bad edit", "--bank", b), "small-step.yaml", "missing field 'risks'")
    assert SkillBank.open(bank.path).head == "v3"


# -- creating banks: `skills init PATH` and `skills import FILE --bank NEW` ---------------------------------------
@pytest.fixture
def builtin(tmp_path, monkeypatch):
    """Two built-in skills instead of the package's, so seeded banks are small and known."""
    from escgraph.skills_bank import store

    package = tmp_path / "package-default"
    package.mkdir()
    for sid in ("listen-first", "name-the-feeling"):
        (package / f"{sid}.yaml").write_text(yaml.safe_dump(skill_data(sid)))
    monkeypatch.setattr(store, "_package_default_dir", lambda: package)
    return ["listen-first", "name-the-feeling"]


def test_init_seeds_a_new_bank_from_the_built_in_skills_or_leaves_it_empty(builtin, tmp_path):
    target = tmp_path / "banks" / "mine"
    result = run("init", str(target), "--author", "erin")
    assert result.exit_code == 0 and f"created skills bank {target} at v1: 2 built-in skills" in result.stdout
    seeded = SkillBank.open(target)
    assert seeded.head == "v1" and sorted(seeded.skills()) == builtin
    v1 = seeded.get_version("v1")
    assert v1.kind == "seed" and v1.author == "erin" and "seed from the built-in" in v1.message
    assert sorted(p.stem for p in (target / "skills").glob("*.yaml")) == builtin  # the working copy, to edit

    empty = tmp_path / "empty"
    (empty / ".git").mkdir(parents=True)  # a fresh git repository counts as empty
    result = run("init", str(empty), "--empty", "-m", "start from scratch")
    assert result.exit_code == 0 and "no skills (empty)" in result.stdout
    assert SkillBank.open(empty).skills() == {} and SkillBank.open(empty).get_version("v1").message == \
        "start from scratch"
    one = tmp_path / "one.yaml"
    one.write_text(yaml.safe_dump(skill_data("small-step")))
    result = run("import", str(one), "--bank", str(empty))  # an empty bank takes a file without --merge
    assert result.exit_code == 0 and "committed v2 (import): 1 added" in result.stdout


def test_init_refuses_a_bank_or_a_folder_holding_anything(bank, tmp_path):
    before = sorted(p.name for p in (bank.path / "versions").iterdir())
    assert_one_line_error(run("init", str(bank.path)), "already a skills bank (head v3)", "nothing changed")
    assert SkillBank.open(bank.path).head == "v3" and sorted(p.name for p in (bank.path / "versions").iterdir()) \
        == before
    busy = tmp_path / "notes"
    busy.mkdir()
    (busy / "todo.txt").write_text("keep me")
    assert_one_line_error(run("init", str(busy), "--empty"), "is not empty", "todo.txt", "nothing changed")
    assert [p.name for p in busy.iterdir()] == ["todo.txt"] and (busy / "todo.txt").read_text() == "keep me"
    assert_one_line_error(run("init", str(busy / "todo.txt")), "exists and is not a folder")


def test_import_into_a_new_bank_creates_it(bank, builtin, tmp_path):
    export = tmp_path / "v2.yaml"
    assert run("export", "--version", "v2", "--out", str(export), "--bank", str(bank.path)).exit_code == 0
    target = tmp_path / "new" / "bank"
    result = run("import", str(export), "--bank", str(target), "--author", "fay")
    assert result.exit_code == 0, result.output
    assert f"created skills bank {target} (the folder was missing)" in result.stdout
    assert "committed v2 (import): 4 added" in result.stdout
    made = SkillBank.open(target)
    assert made.skills() == bank.skills("v2")  # just the file's skills, not the built-in ones
    assert [(v.id, v.kind, len(v.skill_ids)) for v in made.versions()] == [("v2", "import", 4), ("v1", "seed", 0)]
    assert made.get_version("v2").author == "fay" and "v2.yaml" in made.get_version("v2").message


def test_import_into_a_new_bank_leaves_nothing_behind_on_bad_input(bank, tmp_path, monkeypatch):
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump([skill_data("broken-one", guidance="not a list")]))
    target = tmp_path / "new"
    assert_one_line_error(run("import", str(broken), "--bank", str(target)), "broken.yaml", "field 'guidance'")
    assert_one_line_error(run("import", str(tmp_path / "absent.yaml"), "--bank", str(target)), "cannot read")
    assert not target.exists()

    busy = tmp_path / "notes"
    busy.mkdir()
    (busy / "todo.txt").write_text("keep me")
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(skill_data("small-step")))
    assert_one_line_error(run("import", str(good), "--bank", str(busy)), "is not empty", "is not a skills bank",
                          "missing or empty folder")
    assert [p.name for p in busy.iterdir()] == ["todo.txt"]

    # a failure after the bank was made removes what this command made, and only that
    from escgraph.skills_bank.store import SkillBankError

    def fail(self, *args, **kwargs):
        raise SkillBankError("the disk is full")

    monkeypatch.setattr(SkillBank, "import_file", fail)
    assert_one_line_error(run("import", str(good), "--bank", str(target / "deeper")), "the disk is full")
    assert not target.exists()
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    assert_one_line_error(run("import", str(good), "--bank", str(repo)), "the disk is full")
    assert [p.name for p in repo.iterdir()] == [".git"] and (repo / ".git" / "HEAD").exists()
