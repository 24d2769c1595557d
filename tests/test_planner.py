"""Strategy planners: training learns an obvious pattern, bias offsets flatten preferences, save/load, the CLI,
and the counselor in planner and hybrid modes (fake LLM)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from langchain_core.messages import HumanMessage
from typer.testing import CliRunner

from escgraph.agents import StrategyCounselor
from escgraph.cli._app import cli_app
from escgraph.esconv import write_jsonl
from escgraph.llm import FakeChatModel
from escgraph.planner import PlannerError, TrainedPlanner, case_from_state, predict, resolve_planner
from escgraph.planner_train import _q_b, preference_offsets, train_planner, tune_offsets
from escgraph.strategy_metrics import strategy_report
from escgraph.types import STRATEGIES

# the seeker's words decide the gold strategy: a pattern any working planner must learn
PATTERNS = {
    "Question": ["hi there", "hello, I need to talk", "good evening, are you there"],
    "Reflection of feelings": ["I feel so sad and empty", "I am heartbroken and tired", "I feel lonely every night"],
    "Providing Suggestions": ["what should I do about it", "how can I fix this", "any idea what I could try"],
    "Others": ["thanks, that was helpful, bye", "thank you so much, goodbye", "I appreciate it, take care"],
}


def synthetic_cases(n: int, seed: int, source: str) -> list[dict]:
    rng = random.Random(seed)
    cases = []
    for i in range(n):
        gold = rng.choice(list(PATTERNS))
        cases.append({"id": f"{source}:{i}:1", "situation": "a hard week", "emotion_type": "sadness",
                      "problem_type": "stress", "gold": gold,
                      "context": [{"role": "seeker", "text": rng.choice(PATTERNS[gold])}]})
    return cases


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("planner")
    manifest = train_planner(synthetic_cases(240, 1, "train"), out, valid_cases=synthetic_cases(80, 2, "valid"),
                             c=1.0)
    return out, manifest


def test_training_learns_the_pattern_and_records_its_validation(trained):
    out, manifest = trained
    assert manifest["validation"]["debiased"]["Q"] > 80 and manifest["validation"]["debiased"]["B"] < 0.3
    assert (out / "planner.npz").is_file() and json.loads((out / "manifest.json").read_text())["kind"] == "trained"
    planner = TrainedPlanner(out)
    cases = synthetic_cases(40, 3, "test")
    assert np.mean([p == c["gold"] for p, c in zip(predict(planner, cases), cases)]) > 0.8
    dist = planner.distribution(cases[0])
    assert set(dist) == set(STRATEGIES) and abs(sum(dist.values()) - 1) < 1e-3


def test_a_changed_planner_is_refused(trained, tmp_path):
    out, _ = trained
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "manifest.json").write_text((out / "manifest.json").read_text())
    data = bytearray((out / "planner.npz").read_bytes())
    data[-10] ^= 1
    (copy / "planner.npz").write_bytes(bytes(data))
    with pytest.raises(PlannerError, match="does not match its manifest"):
        TrainedPlanner(copy)
    with pytest.raises(PlannerError, match="not a strategy planner"):
        TrainedPlanner(tmp_path)
    with pytest.raises(PlannerError, match="retrained"):
        resolve_planner(f"{out}@0000000000000000")


def test_an_at_sign_in_a_folder_name_is_not_taken_for_a_pin(trained, tmp_path):
    import shutil

    folder = tmp_path / "planner@v2"
    shutil.copytree(trained[0], folder)
    assert isinstance(resolve_planner(str(folder)), TrainedPlanner)
    assert isinstance(resolve_planner(f"{folder}@{TrainedPlanner(folder).content_hash}"), TrainedPlanner)


def test_llm_specs_resolve_in_the_agent_layer_only(trained):
    from escgraph.agents.llm_planner import LLMPlanner, load_planner
    from escgraph.agents.llm_planner import resolve_planner as resolve_any

    planner = resolve_any("llm:fake")
    assert isinstance(planner, LLMPlanner) and isinstance(load_planner("llm:fake"), LLMPlanner)
    [distribution] = planner.distributions([{"situation": "a hard week", "context": [
        {"role": "seeker", "text": "I feel so sad"}]}])
    assert sorted(distribution.values()) == [0.0] * 7 + [1.0]
    assert isinstance(resolve_any(str(trained[0])), TrainedPlanner) and resolve_any(None) is None
    with pytest.raises(PlannerError, match="escgraph.agents.llm_planner"):
        resolve_planner("llm:fake")  # the core module never builds an agent


def test_offsets_flatten_a_skewed_predictor():
    rng = np.random.default_rng(0)
    gold = [STRATEGIES[i] for i in rng.integers(0, 8, 400)]
    logits = rng.normal(size=(400, 8))
    logits[:, 0] += 2.0  # loves "Question"
    for i, g in enumerate(gold):
        logits[i, STRATEGIES.index(g)] += 1.0
    before = strategy_report(gold, [STRATEGIES[i] for i in logits.argmax(1)])
    offsets, _ = preference_offsets(logits, gold)
    after = strategy_report(gold, [STRATEGIES[i] for i in (logits + offsets).argmax(1)])
    assert before["B"] > 0.5 and after["B"] < before["B"] / 3 and after["Q"] >= before["Q"]


def test_offset_search_raises_macro_f1_within_the_bias_cap():
    rng = np.random.default_rng(1)
    gold = [STRATEGIES[i] for i in rng.choice(8, 600, p=[.3, .05, .05, .1, .15, .15, .05, .15])]
    logits = rng.normal(size=(600, 8))
    logits[:, 0] += 1.5
    for i, g in enumerate(gold):
        logits[i, STRATEGIES.index(g)] += 1.2
    flat, _ = preference_offsets(logits, gold)
    flat_report = strategy_report(gold, [STRATEGIES[i] for i in (logits + flat).argmax(1)])
    tuned, trace = tune_offsets(logits, gold, bias_cap=0.25)
    report = strategy_report(gold, [STRATEGIES[i] for i in (logits + tuned).argmax(1)])
    assert report["B"] <= max(0.25, flat_report["B"]) + 1e-9
    assert report["Q"] >= flat_report["Q"] and trace[-1]["Q"] == pytest.approx(report["Q"], abs=1e-3)


def test_fast_q_and_b_match_the_metrics_module():
    rng = np.random.default_rng(2)
    gold, pred = rng.integers(0, 8, 300), rng.integers(0, 8, 300)
    pred[:5] = 3  # some agreement, some confusion
    report = strategy_report([STRATEGIES[i] for i in gold], [STRATEGIES[i] for i in pred])
    q, b = _q_b(gold, pred)
    assert q == pytest.approx(report["Q"]) and b == pytest.approx(report["B"])


def test_planner_of_another_format_version_is_refused_with_advice(trained, tmp_path):
    out, _ = trained
    copy = tmp_path / "old"
    copy.mkdir()
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["format_version"] = 1
    (copy / "manifest.json").write_text(json.dumps(manifest))
    (copy / "planner.npz").write_bytes((out / "planner.npz").read_bytes())
    with pytest.raises(PlannerError, match="train it again"):
        TrainedPlanner(copy)


def test_saved_planner_holds_arrays_only_and_predicts_like_the_trained_one(trained):
    out, _ = trained
    with np.load(out / "planner.npz", allow_pickle=False) as npz:
        assert all(npz[k].dtype != object for k in npz.files)
        assert {"weights", "bias", "offsets", "terms_seeker_latest", "idf_seeker_latest"} <= set(npz.files)
    planner = TrainedPlanner(out)
    case = synthetic_cases(1, 9, "x")[0]
    assert planner.distribution(case) == TrainedPlanner(out).distribution(case)
    raw = planner.distributions([case], debiased=False)[0]
    assert set(raw) == set(STRATEGIES) and abs(sum(raw.values()) - 1) < 1e-3


def test_counselor_follows_the_planner_without_asking_the_llm(trained):
    llm = FakeChatModel()
    counselor = StrategyCounselor(llm, planner=TrainedPlanner(trained[0]))
    update = counselor({"messages": [HumanMessage("thanks, that was helpful, bye")]})
    assert update["strategy"] == "Others" and update["planner"]["followed"] and not llm.calls
    assert update["strategy_rationale"].startswith("trained planner:")


def test_hybrid_lets_the_llm_override_with_a_reason(trained):
    llm = FakeChatModel(responses=[{"strategy": "Reflection of feelings", "stage": "comforting",
                                    "rationale": "they sound hurt more than curious", "repeat_reason": ""}])
    counselor = StrategyCounselor(llm, planner=TrainedPlanner(trained[0]), planner_mode="hybrid")
    update = counselor({"messages": [HumanMessage("thanks, that was helpful, bye")]})
    prompt = llm.calls[0][0][-1].text
    assert "A trained strategy planner suggests: Others" in prompt
    assert update["strategy"] == "Reflection of feelings" and update["planner"]["followed"] is False
    assert update["planner"]["top"] == "Others" and update["planner"]["llm_choice"] == "Reflection of feelings"


def test_kemi_initiative_follows_the_planner_within_its_bounds(trained):
    from escgraph.agents.initiative import InitiativeDecider

    llm = FakeChatModel()
    decider = InitiativeDecider(llm, planner=TrainedPlanner(trained[0]))
    update = decider({"messages": [HumanMessage("thanks, that was helpful, bye")]})
    assert update["strategy"] == "Others" and update["plan"]["initiative"] == "reflect"
    assert update["planner"]["followed"] and not llm.calls
    # the planner wants a suggestion on the seeker's first turn: too early, so the decider asks instead
    early = decider({"messages": [HumanMessage("what should I do about it")]})
    assert early["planner"]["top"] == "Providing Suggestions" and early["planner"]["followed"] is False
    assert early["strategy"] == "Question" and early["plan"]["initiative"] == "ask"


def test_kemi_hybrid_shows_the_model_the_planner_ranking(trained):
    from escgraph.agents.initiative import InitiativeDecider

    llm = FakeChatModel(responses=[{"move": "reflect", "strategy": "Reflection of feelings", "stage": "comforting",
                                    "rationale": "they sound hurt"}])
    decider = InitiativeDecider(llm, planner=TrainedPlanner(trained[0]), planner_mode="hybrid")
    update = decider({"messages": [HumanMessage("thanks, that was helpful, bye")]})
    assert "A trained strategy planner suggests: Others" in llm.calls[0][0][-1].text
    assert update["strategy"] == "Reflection of feelings" and update["planner"]["llm_choice"] == "Reflection of feelings"
    assert update["planner"]["followed"] is False


def test_kemi_graph_takes_a_planner_from_the_cli(trained, tmp_path):
    result = CliRunner().invoke(cli_app(), ["simulate", "--model", "fake", "--graph", "kemi", "--planner",
                                            str(trained[0]), "--n", "1", "--max-turns", "2",
                                            "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    from escgraph.simulations.store import load_run

    turns = [t for t in load_run(tmp_path / "run").episodes[0].turns
             if t.speaker == "counselor" and not t.extra.get("safety")]
    assert turns and all(set(t.extra["planner"]["distribution"]) == set(STRATEGIES) for t in turns)


def test_case_from_state_keeps_roles_and_strategies():
    from langchain_core.messages import AIMessage

    case = case_from_state({"messages": [HumanMessage("hi"), AIMessage("hello", response_metadata={
        "strategy": "Question"}), HumanMessage("I feel low")], "situation": "low mood"})
    assert case["context"] == [{"role": "seeker", "text": "hi"},
                               {"role": "supporter", "text": "hello", "strategy": "Question"},
                               {"role": "seeker", "text": "I feel low"}]


def test_planner_cli_predict_and_eval(trained, tmp_path):
    cases = synthetic_cases(30, 4, "cli")
    write_jsonl(cases, tmp_path / "cases.jsonl")
    runner = CliRunner()
    result = runner.invoke(cli_app(), ["planner", "predict", "--planner", str(trained[0]), "--cases",
                                       str(tmp_path / "cases.jsonl"), "--out", str(tmp_path / "pred.jsonl")])
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in (tmp_path / "pred.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [c["id"] for c in cases] and all(r["pred"] in STRATEGIES for r in rows)
    result = runner.invoke(cli_app(), ["planner", "eval", "--cases", str(tmp_path / "cases.jsonl"),
                                       "--pred", str(tmp_path / "pred.jsonl"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["n"] == 30 and report["Q"] > 50 and set(report["f1"]) == set(STRATEGIES)
    assert Path(report["plot"]).read_text().startswith("<svg")
    (tmp_path / "short.jsonl").write_text(json.dumps({"id": "cli:0:1", "pred": "Question"}) + "\n")
    short = runner.invoke(cli_app(), ["planner", "eval", "--cases", str(tmp_path / "cases.jsonl"),
                                      "--pred", str(tmp_path / "short.jsonl")])
    assert short.exit_code == 2 and "no prediction for 29 case(s)" in short.output
    lines = (tmp_path / "pred.jsonl").read_text().splitlines()
    (tmp_path / "twice.jsonl").write_text("\n".join(lines + [lines[3]]) + "\n")
    twice = runner.invoke(cli_app(), ["planner", "eval", "--cases", str(tmp_path / "cases.jsonl"),
                                      "--pred", str(tmp_path / "twice.jsonl")])
    assert twice.exit_code == 2 and "line 31: a second prediction for case 'cli:" in twice.output
    assert "(first on line 4)" in twice.output
    (tmp_path / "list.jsonl").write_text(json.dumps({"id": "cli:0:1", "pred": ["Question"]}) + "\n")
    listed = runner.invoke(cli_app(), ["planner", "eval", "--cases", str(tmp_path / "cases.jsonl"),
                                       "--pred", str(tmp_path / "list.jsonl")])
    assert listed.exit_code == 2 and 'line 1: "pred" must be one strategy name' in listed.output
    (tmp_path / "extra.jsonl").write_text("\n".join(lines + [json.dumps({"id": "elsewhere:1:1", "pred": "Others"})]))
    extra = runner.invoke(cli_app(), ["planner", "eval", "--cases", str(tmp_path / "cases.jsonl"),
                                      "--pred", str(tmp_path / "extra.jsonl"), "--json"])
    assert extra.exit_code == 0 and "1 prediction(s) for ids not in cases.jsonl were ignored" in extra.stderr
    assert json.loads(extra.stdout)["n"] == 30
    bad = runner.invoke(cli_app(), ["planner", "predict", "--planner", str(tmp_path), "--cases",
                                    str(tmp_path / "cases.jsonl"), "--out", str(tmp_path / "x.jsonl")])
    assert bad.exit_code == 2 and "not a strategy planner" in bad.output


def test_simulation_with_a_planner_records_its_distribution(trained, tmp_path):
    result = CliRunner().invoke(cli_app(), ["simulate", "--model", "fake", "--planner", str(trained[0]), "--n", "1",
                                            "--max-turns", "2", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    from escgraph.simulations.store import load_run

    run = load_run(tmp_path / "run")
    turns = [t for t in run.episodes[0].turns if t.speaker == "counselor" and not t.extra.get("safety")]
    assert turns and all(set(t.extra["planner"]["distribution"]) == set(STRATEGIES) for t in turns)
    assert run.config["graph_options"]["planner"].endswith("@" + TrainedPlanner(trained[0]).content_hash)
    other = CliRunner().invoke(cli_app(), ["simulate", "--model", "fake", "--graph", "madp", "--planner",
                                           str(trained[0]), "--out", str(tmp_path / "k")])
    assert other.exit_code == 2 and "does not take a strategy planner" in other.output
