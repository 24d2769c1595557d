"""The ``ray`` executor: episodes played by Ray actors, on this machine or a cluster (ARCHITECTURE.md §6).

Each actor builds the graph and models from the serialisable run spec (as a ``process`` worker does) and hosts
several episode slots: one for a local (CPU-bound) model, with ``num_cpus`` set to the llama.cpp threads it uses;
``ceil(concurrency / actors)`` for API models, whose waits overlap. The driver, this process, stays the single
writer of ``run.sqlite``: results come back as they finish, through the same queue loop as the other executors.

What the actors need travels with them, so a worker node needs only escgraph installed:
- the run spec (profiles inline) as JSON;
- the frozen skills-bank version itself (skills and version id, checked against its content hash), used when
  the bank's folder is not on the worker's machine;
- files pinned in the graph options (``path@hash``: a knowledge graph, a planner folder), put in Ray's object
  store and unpacked on a worker that lacks them into a cache folder named by their content hash.

Actors stay warm for the next run of the same driver with the same models and graph (evolution's verification
arms): only profiles, bank version and turn limits change between such runs.

An actor that dies fails its in-flight episodes as infrastructure errors (re-queued by the runner as usual); Ray
restarts it (``max_restarts``), and an actor that cannot come back is retired. When every actor is gone the run
stops, keeping what is finished. A driver killed with ``kill -9`` takes a Ray it started with it (Ray's fate
sharing); a cluster reclaims the actors of a dead driver. ``--resume`` then re-plays what was in flight, exactly
as with the other executors.

Without an address a private Ray is started, bound to 127.0.0.1, with usage statistics and the dashboard off.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import math
import os
import re
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from escgraph.simulations.episode import InfraError, play_episode
from escgraph.simulations.faults import ExecutorStartError, RunStopped, stop_error
from escgraph.simulations.results import EpisodeResult
from escgraph.simulations.spec import EpisodeKey, RunSpec

__all__ = ["RayPool", "ray_shape", "connect", "RayUnavailable"]

_MAX_RESTARTS = 2  # per actor; a model that crashes its process every time is not worth more
_RECOVERY_TIMEOUT = 300.0  # seconds to wait for a restarted actor to answer before it is retired
# switches the workers should see as the driver does; never credentials (a runtime environment is readable by
# everyone with access to the cluster): API keys must be set where the workers start
_FORWARDED_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "ANONYMIZED_TELEMETRY", "LANGSMITH_TRACING",
                  "LANGSMITH_PROJECT", "LANGSMITH_TRACING_MODE", "LANGSMITH_OTEL_ENABLED", "LANGSMITH_OTEL_ONLY",
                  "OTEL_EXPORTER_OTLP_ENDPOINT")


class RayUnavailable(ExecutorStartError):
    """Ray is not installed, or the cluster cannot be reached."""


class AllActorsLost(RunStopped):
    """Every Ray actor died and none could be restarted: the run stops, keeping what is finished."""

    exit_code = 2


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise RayUnavailable("the ray executor needs Ray: pip install 'escgraph[ray]'") from exc
    return ray


def connect(address: str | None, graph: str | None = None) -> None:
    """Join the cluster at ``address`` ('auto', 'ray://host:port', 'host:port'), or start a private local Ray.

    A Ray already initialised in this process is reused (evolution runs many simulations in one process). On a
    cluster, a graph given by import reference (``package.module:attr``) outside escgraph travels to the workers
    as a ``py_modules`` entry of the job's runtime environment (its top-level package or module).
    """
    ray = _ray()
    if address not in (None, "", "local", "auto"):
        _reachable(address)
    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # never report usage; read when Ray starts
    env = {name: os.environ[name] for name in _FORWARDED_ENV if name in os.environ}
    runtime_env: dict[str, Any] = {"env_vars": env} if env else {}
    if address not in (None, "", "local") and graph and ":" in graph and not graph.startswith("escgraph."):
        import importlib

        runtime_env["py_modules"] = [importlib.import_module(graph.split(":", 1)[0].split(".", 1)[0])]
    options: dict[str, Any] = dict(log_to_driver=False, configure_logging=False, namespace="escgraph",
                                   runtime_env=runtime_env or None)
    try:
        if address in (None, "", "local"):
            ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, _node_ip_address="127.0.0.1",
                     **options)
        else:
            ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RayUnavailable(f"cannot connect to Ray at {address!r}: {exc}") from exc


def _reachable(address: str, timeout: float = 5.0) -> None:
    """Fail with one clear line when nothing listens at ``host:port`` (``ray://`` included): Ray's own client
    waits a minute and may then end the whole process from native code, without a Python error."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(address if "://" in address else f"ray://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or not port:
        raise RayUnavailable(f"--ray-address {address!r}: give 'auto', 'host:port' or 'ray://host:port'")
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise RayUnavailable(f"cannot reach Ray at {address}: {exc.strerror or exc}; is the head node "
                             f"started ('ray start --head') and the port open?") from None


def _local_model(spec: RunSpec) -> bool:
    return any(m.split(":", 1)[0].strip() == "local" for m in spec.models.values())


def ray_shape(spec: RunSpec, episodes: int, cluster_cpus: float) -> tuple[int, int, float]:
    """(actors, slots per actor, CPUs per actor).

    A local model gets one slot per actor and as many CPUs as its llama.cpp threads (two, or the whole of a
    smaller machine); API models get one CPU per actor (the client library's work) and share the concurrency.
    """
    if _local_model(spec):
        cpus = float(max(1, min(2, int(cluster_cpus))))
        actors = max(1, min(spec.concurrency, episodes, int(cluster_cpus // cpus) or 1))
        return actors, 1, cpus
    actors = max(1, min(spec.concurrency, episodes, int(cluster_cpus) or 1))
    return actors, math.ceil(spec.concurrency / actors), 1.0


# -- what travels to the actors ---------------------------------------------------------------------------------
def _pinned_paths(options: dict[str, Any]) -> dict[str, Path]:
    """Graph options naming a pinned file or folder (``path@<16 hex>``) that exists here."""
    from escgraph.config import split_pin

    found = {}
    for name, value in options.items():
        if isinstance(value, str):
            path, digest = split_pin(value)
            if digest and Path(path).exists():
                found[name] = Path(path)
    return found


def _pack(path: Path) -> bytes:
    """A file (with its cache siblings, ``name.*``) or a folder, as tar bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        if path.is_dir():
            tar.add(path, arcname=path.name)
        else:
            for item in sorted(path.parent.glob(f"{path.name}*")):
                if item == path or item.name.startswith(f"{path.name}."):
                    tar.add(item, arcname=item.name)
    return buffer.getvalue()


def _unpack(blob: bytes, name: str) -> Path:
    """Unpack a shipped file or folder into a cache folder named by its content hash; returns its path there."""
    root = Path(tempfile.gettempdir()) / "escgraph-ray-files" / hashlib.sha256(blob).hexdigest()[:16]
    target = root / name
    if not target.exists():
        staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=root.parent if root.parent.exists() else None))
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
            tar.extractall(staging, filter="data")
        root.mkdir(parents=True, exist_ok=True)
        for item in staging.iterdir():
            if not (root / item.name).exists():
                os.replace(item, root / item.name)
    return target


def _frozen_bank(spec: RunSpec) -> dict[str, Any] | None:
    from escgraph.graphs import get_graph_info

    if not get_graph_info(spec.graph).uses_skills_bank:
        return None
    from escgraph.skills_bank import frozen_skills

    version, skills = frozen_skills(spec.bank_path, spec.bank_version)
    return {"version": version, "skills": {sid: s.model_dump(mode="json") for sid, s in skills.items()}}


# -- inside an actor ----------------------------------------------------------------------------------------------
class EpisodeActor:
    """Plays episodes of one run; built once per actor (and again by Ray after a restart)."""

    def __init__(self, payload: str, bank: dict[str, Any] | None, n_threads: int, files: dict[str, Any]) -> None:
        from escgraph.config import split_pin
        from escgraph.graphs import build_graph
        from escgraph.simulations.runner import applied_settings, load_role_models, run_breaker, warm_up

        spec = RunSpec.model_validate_json(payload)
        options = dict(spec.graph_options)
        for name, (blob_ref, original) in files.items():
            path, digest = split_pin(original)
            if not Path(path).exists():  # another machine: use the shipped copy (same content, same hash)
                options[name] = f"{_unpack(_ray().get(blob_ref), Path(path).name)}@{digest}"
        self.options = options
        self.spec = spec.model_copy(update={"graph_options": options})
        self.models = load_role_models(self.spec, n_threads=n_threads)
        self.graph = build_graph(self.spec.graph, **self.spec.graph_options)
        self.bank = _actor_bank(self.spec, bank)
        warm_up()
        self.breaker = run_breaker(self.spec)
        self.settings = applied_settings(self.models)

    def ready(self) -> dict[str, Any]:
        return self.settings

    def prepare(self, payload: str, bank: dict[str, Any] | None) -> dict[str, Any]:
        """Take the next run of the same models and graph (different profiles, bank version, turns...)."""
        from escgraph.simulations.runner import run_breaker

        spec = RunSpec.model_validate_json(payload)
        self.spec = spec.model_copy(update={"graph_options": self.options})
        self.bank = _actor_bank(self.spec, bank)
        self.breaker = run_breaker(self.spec)
        return self.settings

    async def play(self, profile_id: str, trial: int, seed: int, attempt: int) -> tuple:
        key = EpisodeKey(profile_id, trial, seed)
        try:
            return ("done", await play_episode(self.spec, key, self.graph, self.models, attempt=attempt,
                                               skills_bank=self.bank, breaker=self.breaker))
        except InfraError as exc:
            return ("error", str(exc))
        except RunStopped as exc:
            return ("stop", type(exc).__name__, str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug, not an outage: the driver fails the run with it
            return ("crash", f"{type(exc).__name__}: {exc}")


def _actor_bank(spec: RunSpec, shipped: dict[str, Any] | None) -> Any:
    if shipped is None:
        return None
    from escgraph.skills_bank import frozen_retriever, retriever_for_skills
    from escgraph.skills_bank.schema import Skill

    if spec.bank_path and Path(spec.bank_path).is_dir():
        return frozen_retriever(spec.bank_path, spec.bank_version)  # same machine: its own index is warm
    skills = {sid: Skill.model_validate(data) for sid, data in shipped["skills"].items()}
    digest = (spec.bank_version or "head").partition("@")[2] or shipped["version"]
    index = Path(tempfile.gettempdir()) / "escgraph-ray-banks" / digest / ".index"
    return retriever_for_skills(skills, shipped["version"], index)


# -- the driver's side --------------------------------------------------------------------------------------------
# Actors stay up between the runs of one driver that use the same models and graph (evolution's verification
# arms, a sweep over profiles): building them (imports, models, embedding index) costs seconds per actor.
_WARM: dict[str, Any] = {}


def _build_key(spec: RunSpec, shape: tuple[int, int, float]) -> str:
    import json

    fields = spec.model_dump(mode="json", include={"models", "settings", "base_url", "role_base_urls", "graph",
                                                   "graph_options", "ray_address", "ray_num_gpus"})
    session = _ray().get_runtime_context().get_job_id()  # actors of an earlier Ray (shut down since) are gone
    return json.dumps([fields, shape, session], sort_keys=True)


def _discard_warm() -> None:
    ray = _ray()
    for actor in _WARM.pop("actors", []):
        try:
            ray.kill(actor, no_restart=True)
        except Exception:  # noqa: BLE001 - already gone
            pass
    _WARM.clear()


class RayPool:
    """Episode actors on Ray; :meth:`play` is awaited like a local episode (same interface as ``WorkerPool``)."""

    def __init__(self, spec: RunSpec, episodes: int) -> None:
        self.spec, self.episodes = spec, episodes
        self.actors: list[Any] = []
        self.free: asyncio.Queue | None = None
        self.retired: set[int] = set()

    async def start(self) -> dict[str, Any]:
        """Start the actors (or take the warm ones of the previous run) and wait until each is ready; returns the
        settings they applied."""
        ray = _ray()
        connect(self.spec.ray_address, self.spec.graph)
        shape = ray_shape(self.spec, self.episodes, ray.cluster_resources().get("CPU", 1.0))
        count, slots, cpus_each = shape
        key = _build_key(self.spec, shape)
        self.payload, self.bank = self.spec.model_dump_json(), _frozen_bank(self.spec)
        try:
            if _WARM.get("key") == key:
                self.actors = _WARM["actors"]
                settings = await asyncio.gather(*(a.prepare.remote(self.payload, self.bank) for a in self.actors))
            else:
                _discard_warm()
                files = {name: (ray.put(_pack(path)), self.spec.graph_options[name])
                         for name, path in _pinned_paths(self.spec.graph_options).items()}
                remote = ray.remote(EpisodeActor).options(
                    num_cpus=cpus_each, num_gpus=self.spec.ray_num_gpus or None, max_concurrency=slots,
                    max_restarts=_MAX_RESTARTS, max_task_retries=0)
                self.actors = [remote.remote(self.payload, self.bank, int(cpus_each), files) for _ in range(count)]
                _WARM.update(key=key, actors=self.actors, files=files)  # the files stay referenced for restarts
                settings = await asyncio.gather(*(actor.ready.remote() for actor in self.actors))
        except Exception as exc:
            _discard_warm()
            raise ExecutorStartError(f"a Ray episode actor could not start: {_cause(exc)}") from exc
        self.free = asyncio.Queue()
        for _ in range(slots):
            for index in range(count):
                self.free.put_nowait(index)  # interleaved: the first episodes spread over the actors
        self.width = count * slots
        return settings[0]

    async def play(self, key: EpisodeKey, attempt: int) -> EpisodeResult:
        ray = _ray()
        while True:
            if len(self.retired) == len(self.actors):
                raise AllActorsLost("every Ray episode actor died and could not be restarted")
            index = await self.free.get()
            if index not in self.retired:
                break
        actor = self.actors[index]
        try:
            outcome = await actor.play.remote(key.profile_id, key.trial, key.seed, attempt)
        except ray.exceptions.RayActorError as exc:
            asyncio.get_running_loop().create_task(self._recover(index))  # slot comes back if the actor does
            raise InfraError(f"Ray actor {index} died while playing the episode: {_cause(exc)}") from exc
        except asyncio.CancelledError:
            self.free.put_nowait(index)
            raise
        self.free.put_nowait(index)
        kind, *rest = outcome
        if kind == "done":
            return rest[0]
        if kind == "error":
            raise InfraError(rest[0])
        if kind == "stop":
            raise stop_error(rest[0], rest[1])
        raise RuntimeError(rest[0])

    async def _recover(self, index: int) -> None:
        """After a death: wait for Ray's restart of the actor (rebuilt from its first run's spec, so it is given
        this run's again); retire it if it does not come back."""
        ray = _ray()
        try:
            await asyncio.wait_for(self.actors[index].prepare.remote(self.payload, self.bank), _RECOVERY_TIMEOUT)
        except (ray.exceptions.RayActorError, asyncio.TimeoutError, ray.exceptions.RayError):
            self.retired.add(index)
            self.free.put_nowait(index)  # wakes a waiting episode, which then sees the retirement
            return
        self.free.put_nowait(index)

    async def close(self, *, kill: bool = False) -> None:
        """Keep the actors warm for the next run of this driver; kill them after a stopped or failed run, or
        when some died (``kill``)."""
        if kill or self.retired:
            _discard_warm()
        self.actors = []


def _cause(exc: BaseException) -> str:
    """The line of a Ray error that says what went wrong: the worker's own exception when Ray carries one."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    raised = [line for line in lines if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b:?", line)]
    return re.sub(r"\x1b\[[0-9;]*m", "", (raised[-1] if raised else lines[0] if lines else type(exc).__name__))[:300]
