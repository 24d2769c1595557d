"""Options shared by the commands that run simulations (``simulate``, ``evolve``): where episodes run and which
model servers they call. Declared once as annotated types, so both commands spell and document them alike."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

import typer

from escgraph.cli._app import CLIError


class Executor(str, Enum):
    local = "local"
    process = "process"
    ray = "ray"


ExecutorOption = Annotated[Executor, typer.Option(
    "--executor", help="local: asyncio in this process; process: one worker process per core; ray: Ray actors "
                       "on this machine or on the cluster of --ray-address (pip install 'escgraph[ray]').")]
RayAddressOption = Annotated[str | None, typer.Option(
    "--ray-address", help="With --executor ray: 'auto' or 'ray://head:10001' joins a cluster; unset starts a "
                          "private Ray on this machine (127.0.0.1).")]
RayGpusOption = Annotated[float, typer.Option(
    "--ray-num-gpus", min=0, help="With --executor ray: GPUs reserved by each episode actor (local models).")]
ModelOption = Annotated[str, typer.Option("--model", "-m", help="Counselor model spec.")]
SeekerModelOption = Annotated[str | None, typer.Option(
    "--seeker-model", help="Seeker model spec (default: --model).")]
JudgeModelOption = Annotated[str | None, typer.Option(
    "--judge-model", help="Judge model spec (default: --seeker-model).")]
BaseUrlOption = Annotated[list[str] | None, typer.Option(
    "--base-url", help="OpenAI-compatible server for provider:model specs. Repeat it, or give a comma list, for "
                       "several replicas of one model: each call goes to the least-loaded healthy one.")]
CounselorUrlOption = Annotated[list[str] | None, typer.Option(
    "--counselor-base-url", help="Server(s) for the counselor's model only (overrides --base-url).")]
SeekerUrlOption = Annotated[list[str] | None, typer.Option(
    "--seeker-base-url", help="Server(s) for the seeker's model only (overrides --base-url).")]
JudgeUrlOption = Annotated[list[str] | None, typer.Option(
    "--judge-base-url", help="Server(s) for the judge's model only (overrides --base-url).")]
SafetyModelOption = Annotated[str | None, typer.Option(
    "--safety-model", help="Model spec for the safety gate's second opinion on ambiguous messages (a capable chat "
                           "model, or a guard model with --safety-format llama_guard). Default: rules and "
                           "embeddings only.")]
SafetyUrlOption = Annotated[list[str] | None, typer.Option(
    "--safety-base-url", help="Server(s) for the safety model only (overrides --base-url).")]


class SafetyFormat(str, Enum):
    structured = "structured"
    llama_guard = "llama_guard"


SafetyFormatOption = Annotated[SafetyFormat, typer.Option(
    "--safety-format", help="How --safety-model is asked: structured (a JSON schema, any capable chat model) or "
                            "llama_guard (a Llama-Guard-style prompt answered safe/unsafe + categories; a guard "
                            "can raise an ambiguous message to a crisis, never clear one).")]


def safety_options(safety_model: str | None, safety_format: SafetyFormat | str,
                   safety_base_url: list[str] | None = None) -> dict[str, Any]:
    """The RunSpec fields of --safety-model / --safety-format (--safety-base-url is checked here, set by
    :func:`run_options`)."""
    safety_format = SafetyFormat(safety_format).value
    if safety_model is not None and not safety_model.strip():
        raise CLIError("--safety-model is empty: give a model spec, or leave the option out for rules and "
                       "embeddings only")
    if server_list(safety_base_url) and not safety_model:
        raise CLIError("--safety-base-url needs --safety-model (the model that server runs)")
    if safety_format != "structured" and not safety_model:
        raise CLIError(f"--safety-format {safety_format} needs --safety-model (the guard model to ask)")
    return dict(safety_model=safety_model or None, safety_format=safety_format)


def server_list(values: list[str] | None) -> str | list[str] | None:
    """Repeated options and comma lists as one list (one URL stays a string, as runs have always stored it)."""
    urls = [u.strip() for value in values or [] for u in value.split(",") if u.strip()]
    return None if not urls else urls[0] if len(urls) == 1 else urls


def run_options(*, executor: Executor | str, ray_address: str | None, ray_num_gpus: float,
                base_url: list[str] | None, counselor_base_url: list[str] | None = None,
                seeker_base_url: list[str] | None = None, judge_base_url: list[str] | None = None,
                safety_base_url: list[str] | None = None) -> dict[str, Any]:
    """The RunSpec fields these options set."""
    executor = Executor(executor).value
    if executor != "ray" and (ray_address or ray_num_gpus):
        raise CLIError("--ray-address and --ray-num-gpus need --executor ray")
    per_role = {role: server_list(urls) for role, urls in
                (("counselor", counselor_base_url), ("seeker", seeker_base_url), ("judge", judge_base_url),
                 ("safety", safety_base_url))}
    return dict(executor=executor, ray_address=ray_address or None, ray_num_gpus=ray_num_gpus,
                base_url=server_list(base_url), role_base_urls={r: u for r, u in per_role.items() if u})
