"""``escgraph chat``: talk to a counselor graph; interactive in a terminal, line by line from a pipe."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

import typer

from escgraph.cli._app import CLIError, app
from escgraph.cli._run_options import SafetyFormat, SafetyFormatOption, SafetyModelOption, safety_options
from escgraph.messages import InvalidMessageError, clean_seeker_message, message_from_line, read_lines


def _load_model(spec: str, base_url: str | None = None) -> Any:
    from escgraph.llm import ModelSpecError, load_chat_model

    try:
        return load_chat_model(spec, base_url=base_url)
    except ModelSpecError as exc:
        raise CLIError(str(exc)) from None


def _build(graph: str, db: Path | None, seeker: str | None = None, memory_db: Path | None = None,
           options: dict[str, Any] | None = None) -> Any:
    from escgraph.graphs import UnknownGraphError, build_graph
    from escgraph.memory import CheckpointDBError, open_sqlite_checkpointer

    try:
        checkpointer = open_sqlite_checkpointer(db)
    except CheckpointDBError as exc:
        raise CLIError(str(exc)) from None
    try:
        if seeker is None:
            return build_graph(graph, checkpointer=checkpointer, **(options or {}))
        from escgraph.graphs.with_memory import with_seeker_memory
        from escgraph.memory.seeker_memory import MemoryStoreError, open_memory_store, validate_seeker_id

        try:
            validate_seeker_id(seeker)
            store = open_memory_store(memory_db)
        except MemoryStoreError as exc:
            raise CLIError(str(exc)) from None
        return with_seeker_memory(build_graph(graph, **(options or {})), store=store, checkpointer=checkpointer)
    except UnknownGraphError as exc:
        raise CLIError(str(exc)) from None


def _graph_uses(graph: str, capability: str) -> bool:
    """Whether the graph declares it uses ``capability`` (so a CLI flag it would ignore is an error)."""
    from escgraph.graphs import UnknownGraphError, get_graph_info

    try:
        return capability in get_graph_info(graph).capabilities
    except UnknownGraphError as exc:
        raise CLIError(str(exc)) from None


def planner_options(graph: str, planner: str | None, mode: str | None, *, pin: bool = False) -> dict[str, Any]:
    """Graph options for ``--planner``: checked here so a bad folder or a graph without a strategy choice is one
    clear error; ``pin`` records the planner's content hash (simulations)."""
    if planner is None:
        if mode is not None:
            raise CLIError("--planner-mode needs --planner")
        return {}
    from escgraph.agents.llm_planner import resolve_planner
    from escgraph.planner import PlannerError, pin_planner

    if not _graph_uses(graph, "planner"):
        raise CLIError(f"graph {graph!r} does not take a strategy planner (sweetiechat, skilled and kemi do)")
    if mode is not None and mode not in ("planner", "hybrid"):
        raise CLIError(f"--planner-mode must be 'planner' or 'hybrid', not {mode!r}")
    try:
        value = pin_planner(planner) if pin and not planner.startswith("llm:") else planner
        resolve_planner(value)
    except PlannerError as exc:
        raise CLIError(str(exc)) from None
    return {"planner": value, **({"planner_mode": mode} if mode else {})}


def kg_options(graph: str, kg: Path | None, *, pin: bool = False) -> dict[str, Any]:
    """Graph options for ``--kg``: a saved knowledge graph (``escgraph kg import-heal``) for graphs that retrieve
    from one; ``pin`` records the file's content hash (simulations)."""
    if kg is None:
        return {}
    from escgraph.memory.knowledge_graph import KnowledgeGraph, KnowledgeGraphError, pin_knowledge_graph

    if not _graph_uses(graph, "knowledge_graph"):
        raise CLIError(f"graph {graph!r} does not use a knowledge graph (kemi does)")
    try:  # a simulation records the pinned path (its spec is saved); chat takes the loaded graph
        return {"knowledge_graph": pin_knowledge_graph(kg) if pin else KnowledgeGraph.load(kg)}
    except KnowledgeGraphError as exc:
        raise CLIError(str(exc)) from None


class ChatSession:
    """One conversation thread on a compiled graph, with the run context carrying the models."""

    def __init__(self, graph: Any, model: Any, thread: str, locale: str, seeker: str | None = None,
                 safety_model: Any = None, safety_format: str = "structured") -> None:
        from escgraph.types import ESCContext

        self.graph = graph
        self.thread = thread
        self.seeker = seeker  # long-term memory is on only with a seeker id
        models = {"counselor": model} | ({"safety": safety_model} if safety_model is not None else {})
        self.context = ESCContext(models=models, locale=locale,
                                  safety={"format": safety_format} if safety_model is not None else None)
        self.config = {"configurable": {"thread_id": thread}}

    def send(self, text: str) -> dict[str, Any]:
        from langchain_core.messages import HumanMessage

        update: dict[str, Any] = {"messages": [HumanMessage(text)]}
        if self.seeker:
            update["seeker_id"] = self.seeker
        state = self.graph.invoke(update, config=self.config, context=self.context)
        safety = state.get("safety") or {}
        knowledge = [r["id"] for r in state.get("retrieved") or [] if r.get("kind") == "knowledge"]
        return {
            "reply": state.get("reply") or "",
            "strategy": state.get("strategy"),
            **({"planner": state["planner"]} if state.get("planner") else {}),
            **({"knowledge": knowledge} if knowledge else {}),
            "stage": state.get("stage"),
            "rationale": state.get("strategy_rationale"),
            "safety": {k: safety.get(k) for k in ("crisis", "category", "score")},
            "thread": self.thread,
            "turn": state.get("turn", 0),
        }


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _piped(session: ChatSession, as_json: bool) -> int:
    rejected = 0
    for line_no, raw in read_lines(sys.stdin.buffer):  # a line over MAX_LINE_BYTES is never held in memory
        try:
            text = message_from_line(raw, line_no)
        except InvalidMessageError as exc:
            rejected += 1
            message = str(exc)
            print(f"escgraph: skipped {message}", file=sys.stderr)
            if as_json:
                print(json.dumps({"reply": None, "error": message, "line": line_no}), flush=True)
            continue
        if text.strip() in {"/quit", "/exit"}:  # as in the interactive chat: the transcript ends here
            break
        result = session.send(text)
        print(json.dumps(result, ensure_ascii=False) if as_json else _one_line(result["reply"]), flush=True)
    return 1 if rejected else 0


def _interactive(session: ChatSession, graph: str, as_json: bool) -> None:
    from rich.console import Console
    from rich.prompt import Prompt

    console = Console()
    with console.status("loading the safety gate and the model…"):
        from escgraph.agents.safety import default_detector

        default_detector().check("hello")  # embedder and exemplars load now, not on the first message
    console.print(f"[bold]escgraph chat[/bold] · graph [cyan]{graph}[/cyan] · thread [cyan]{session.thread}[/cyan]"
                  " · /quit or Ctrl-D to leave")
    while True:
        try:
            text = Prompt.ask("[bold green]you[/bold green]", console=console)
        except EOFError:
            break
        if text.strip() in {"/quit", "/exit"}:
            break
        try:
            text = clean_seeker_message(text)
        except InvalidMessageError as exc:
            console.print(f"[yellow]{exc}[/yellow]")
            continue
        with console.status("thinking…"):
            result = session.send(text)
        if as_json:
            console.print_json(json.dumps(result, ensure_ascii=False))
        else:
            label = "safety gate" if result["safety"].get("crisis") else result["strategy"]
            console.print(f"[bold magenta]counselor[/bold magenta] [dim]({label})[/dim] "
                          f"{result['reply']}", highlight=False)


@app.command("chat")
def chat(
    graph: str = typer.Option("sweetiechat", "--graph", "-g", help="Registered graph name (see `escgraph graphs`)."),
    model: str = typer.Option("local", "--model", "-m", help="Model spec: local, local:PATH.gguf, provider:model."),
    base_url: str = typer.Option(None, "--base-url", help="OpenAI-compatible server URL for a provider:model spec."),
    thread: str = typer.Option(None, "--thread", "-t", help="Conversation id; reuse it to continue a conversation."),
    db: Path = typer.Option(None, "--db", help="SQLite checkpoint file (default: in the escgraph data folder)."),
    locale: str = typer.Option("en", "--locale", help="Locale for crisis resources, e.g. en-US, en-GB, de-DE."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per reply (reply, strategy, safety, …)."),
    seeker: str = typer.Option(None, "--seeker", help="Turn on long-term memory for this seeker id: facts they "
                                                      "tell are saved and recalled in later conversations."),
    memory_db: Path = typer.Option(None, "--memory-db", help="Memory store file (default: in the data folder)."),
    planner: str = typer.Option(None, "--planner", help="Strategy planner folder (escgraph planner train) or "
                                                        "llm:<spec>, for graphs that choose a strategy."),
    planner_mode: str = typer.Option(None, "--planner-mode", help="'planner' (follow it) or 'hybrid' (the LLM may "
                                                                  "override it); default: the graph's."),
    kg: Path = typer.Option(None, "--kg", help="Knowledge-graph file (escgraph kg import-heal) for graphs that "
                                               "retrieve cases (kemi); default: the authored graph."),
    safety_model: SafetyModelOption = None,
    safety_format: SafetyFormatOption = SafetyFormat.structured,
) -> None:
    """Talk to a counselor graph. Reads one message per line when stdin is not a terminal."""
    safety = safety_options(safety_model, safety_format)
    compiled = _build(graph, db, seeker, memory_db,
                      {**planner_options(graph, planner, planner_mode), **kg_options(graph, kg)})
    guard = _load_model(safety["safety_model"], base_url) if safety["safety_model"] else None
    session = ChatSession(compiled, _load_model(model, base_url), thread or uuid.uuid4().hex[:12], locale, seeker,
                          safety_model=guard, safety_format=safety["safety_format"])
    if sys.stdin.isatty():
        _interactive(session, graph, as_json)
    else:
        raise typer.Exit(_piped(session, as_json))
