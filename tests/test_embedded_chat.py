"""The real path: `escgraph chat` and the README example on the embedded SmolLM2 model, offline."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from escgraph.agents._text import is_degenerate
from escgraph.types import STRATEGIES

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.embedded

SEEKER_LINES = [
    "I broke up with my girlfriend last week and I can't stop thinking about her.",
    "We were together for four years. Everything reminds me of her.",
    "My friends say I should move on but I just feel empty.",
]
ENGLISH = {"you", "your", "it", "that", "i", "to", "the", "and", "is", "are", "a", "feel", "what", "can", "this"}


def _chat(args, lines, home):
    env = {**os.environ, "ESCGRAPH_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "escgraph", "chat", "--json", *args],
                          input="\n".join(lines) + "\n", capture_output=True, text=True, env=env, timeout=600)


def _looks_english(text: str) -> bool:
    words = re.findall(r"[a-z']+", text.lower())
    ascii_share = sum(c.isascii() for c in text) / max(len(text), 1)
    return ascii_share > 0.9 and any(w in ENGLISH for w in words)


def test_three_piped_lines_get_three_replies_and_the_thread_continues(tmp_path):
    db = tmp_path / "chat.sqlite"
    first = _chat(["--db", str(db), "--thread", "breakup"], SEEKER_LINES, tmp_path / "home")
    assert first.returncode == 0, first.stderr[-2000:]
    rows = [json.loads(line) for line in first.stdout.splitlines()]
    assert len(rows) == 3
    for row in rows:
        assert row["reply"].strip(), row
        assert not is_degenerate(row["reply"]), row["reply"]
        assert _looks_english(row["reply"]), row["reply"]
        assert row["strategy"] in STRATEGIES
        assert row["safety"]["crisis"] is False
    assert len({row["reply"] for row in rows}) == 3  # not the same reply in a loop
    second = _chat(["--db", str(db), "--thread", "breakup"], ["Thank you for listening."], tmp_path / "home")
    assert second.returncode == 0, second.stderr[-2000:]
    assert json.loads(second.stdout)["turn"] == 4


def _readme_example(name: str = "compose") -> str:
    text = (ROOT / "README.md").read_text()
    block = text.split(f"<!-- readme-example: {name} -->", 1)[1]
    return block.split("```python", 1)[1].split("```", 1)[0]


def test_readme_compose_example_runs_and_is_short(capsys):
    code = _readme_example()
    assert len([line for line in code.splitlines() if line.strip()]) < 20
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out.strip()
    strategy, _, reply = printed.partition(" -> ")
    assert strategy == "Question" and reply.strip()


def test_readme_debate_skills_critic_example_runs_and_is_short(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ESCGRAPH_HOME", str(tmp_path))  # the skills bank is seeded here, not in the user's folder
    code = _readme_example("compose-debate")
    assert len([line for line in code.splitlines() if line.strip()]) < 25
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out.strip()
    head, _, reply = printed.partition(" -> ")
    assert head.startswith("['listen_only'] 2 ") and reply.strip()
