"""Tokens/second through ChatLlamaCpp versus raw ``llama_cpp.Llama.create_chat_completion``, same run.

Both paths drive the same loaded model with the same prompt, sampling settings and seed, so they generate the
same tokens; rounds are interleaved (alternating which path goes first) and the prompt cache is cleared before
every call, so machine noise hits both alike. Prints the medians and the ratio (goal: >= 0.9).

With ``--structured`` it also compares constrained JSON decoding: llama-cpp-python's own grammar path (the
grammar checks the whole vocabulary at every step) against ChatLlamaCpp's structured output (lazy grammar).

    python bench/bench_chat_model.py [--repeats 7] [--max-tokens 128] [--structured]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Literal

from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from escgraph.llm import ChatLlamaCpp, UsageTracker, load_chat_model
from escgraph.llm._schema import bounded_grammar_schema, format_instructions

SYSTEM = "You are a warm, supportive counselor."
USER = "I failed my driving test for the third time and I feel stupid. What can I do?"


def raw_call(model: ChatLlamaCpp, max_tokens: int, seed: int) -> tuple[int, float]:
    llama = model._model.llama
    with model._model.lock:
        llama.reset()  # no prompt-cache advantage for either path
        start = time.perf_counter()
        result = llama.create_chat_completion(
            messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}],
            temperature=model.temperature,
            top_p=model.top_p,
            top_k=model.top_k,
            min_p=model.min_p,
            repeat_penalty=model.repeat_penalty,
            max_tokens=max_tokens,
            seed=seed,
        )
        elapsed = time.perf_counter() - start
    return result["usage"]["completion_tokens"], elapsed


def wrapped_call(model: ChatLlamaCpp, max_tokens: int, seed: int, *, stream: bool) -> tuple[int, float]:
    with model._model.lock:
        model._model.llama.reset()
    messages = [SystemMessage(SYSTEM), HumanMessage(USER)]
    start = time.perf_counter()
    if stream:
        total = None
        for chunk in model.stream(messages, max_tokens=max_tokens, seed=seed):
            total = chunk if total is None else total + chunk
        message = total
    else:
        message = model.invoke(messages, max_tokens=max_tokens, seed=seed)
    elapsed = time.perf_counter() - start
    return message.usage_metadata["output_tokens"], elapsed


class Assessment(BaseModel):
    strategy: Literal["Question", "Reflection of feelings", "Providing Suggestions"]
    rationale: str = Field(max_length=160)


def raw_grammar_call(model: ChatLlamaCpp, seed: int) -> tuple[int, float]:
    """llama-cpp-python's own grammar path: the grammar sampler runs over the whole vocabulary every step."""
    from llama_cpp import LlamaGrammar

    schema = bounded_grammar_schema(Assessment.model_json_schema(), string_max_length=300, array_max_items=8)
    grammar = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
    llama = model._model.llama
    with model._model.lock:
        llama.reset()
        start = time.perf_counter()
        result = llama.create_chat_completion(
            messages=[{"role": "system", "content": SYSTEM + " " + format_instructions(schema)},
                      {"role": "user", "content": USER}],
            temperature=model.temperature, top_p=model.top_p, top_k=model.top_k, min_p=model.min_p,
            repeat_penalty=model.repeat_penalty, max_tokens=256, seed=seed, grammar=grammar,
        )
        elapsed = time.perf_counter() - start
    return result["usage"]["completion_tokens"], elapsed


def structured_call(model: ChatLlamaCpp, seed: int) -> tuple[int, float]:
    with model._model.lock:
        model._model.llama.reset()
    tracker = UsageTracker()
    start = time.perf_counter()
    model.model_copy(update={"seed": seed}).with_structured_output(Assessment).invoke(
        [SystemMessage(SYSTEM), HumanMessage(USER)], config={"callbacks": [tracker]}
    )
    elapsed = time.perf_counter() - start
    return tracker.total().output_tokens, elapsed


def measure(paths: dict, repeats: int) -> tuple[dict[str, list[float]], dict[str, list[int]]]:
    """Interleaved rounds, alternating the order, after one warm-up call per path."""
    for run in paths.values():
        run(0)
    rates: dict[str, list[float]] = {name: [] for name in paths}
    tokens: dict[str, list[int]] = {name: [] for name in paths}
    for round_number in range(repeats):
        order = list(paths) if round_number % 2 == 0 else list(reversed(paths))
        for name in order:
            produced, elapsed = paths[name](seed=round_number + 1)
            rates[name].append(produced / elapsed)
            tokens[name].append(produced)
    return rates, tokens


def report(title: str, rates: dict[str, list[float]], tokens: dict[str, list[int]]) -> None:
    print(title)
    reference = statistics.median(next(iter(rates.values())))
    for name, values in rates.items():
        median = statistics.median(values)
        print(
            f"  {name:32s} {median:7.1f} tokens/s (median; tokens per call {statistics.median(tokens[name]):.0f})"
            f"   ratio {median / reference:.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--structured", action="store_true", help="also compare constrained JSON decoding")
    args = parser.parse_args()

    model = load_chat_model("local", temperature=0.7)
    assert isinstance(model, ChatLlamaCpp)
    paths = {
        "raw create_chat_completion": lambda seed: raw_call(model, args.max_tokens, seed),
        "ChatLlamaCpp.invoke": lambda seed: wrapped_call(model, args.max_tokens, seed, stream=False),
        "ChatLlamaCpp.stream": lambda seed: wrapped_call(model, args.max_tokens, seed, stream=True),
    }
    print(f"model {model.model_name}, {args.repeats} interleaved rounds")
    report(f"plain chat, max_tokens {args.max_tokens} (goal: ratio >= 0.9)", *measure(paths, args.repeats))
    if args.structured:
        structured = {
            "raw create_chat_completion+grammar": lambda seed: raw_grammar_call(model, seed),
            "ChatLlamaCpp structured output": lambda seed: structured_call(model, seed),
        }
        report("structured output (enum + bounded text)", *measure(structured, args.repeats))


if __name__ == "__main__":
    main()
