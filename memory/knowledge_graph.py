"""Knowledge graph of distress cases in the HEAL schema (ARCHITECTURE.md §5), on networkx, with HEAL-style retrieval.

Nodes have a ``kind`` — stressor, expectation, response, feedback, affective_state — with ``label``, ``value``
and, for stressors, a ``story``; edges are undirected co-occurrence links with a ``weight``. :func:`load_heal`
reads a HEAL folder (missing files are skipped and reported, malformed entries named); :meth:`KnowledgeGraph.save`
writes escgraph's compact JSON form, with the stressor-story embeddings beside it (``.emb.npy``) so loading and
querying never re-embed the whole graph.

Retrieval: embed the query, keep stressor stories above a similarity threshold, rank the responses connected to
them by edge weight, and prefer responses linked to the seeker's expectation and to positive feedback.

Why one module: reading a HEAL folder, retrieval and the saved form share the node kinds, edge files and entry
checks, and none of the three is long enough to stand alone.
"""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from escgraph.files import atomic_write

__all__ = ["KnowledgeGraph", "KnowledgeGraphError", "LoadReport", "KnowledgeHit", "ResponseHit", "load_heal",
           "pin_knowledge_graph", "resolve_knowledge_graph",
           "NODE_FILES", "EDGE_FILES", "default_knowledge_graph"]

FORMAT = "escgraph-knowledge-graph"
NODE_FILES: dict[str, str] = {"stressors": "stressor", "expectations": "expectation", "responses": "response",
                              "feedback": "feedback", "affective_states": "affective_state"}
EDGE_FILES: tuple[str, ...] = ("stressors-responses", "expectations-responses", "expectations-stressors",
                               "responses-feedback", "affective_states")
_POSITIVE = re.compile(r"\b(thank|thanks|helps?|helped|helpful|better|good|great|appreciate|relie(f|ved)|"
                       r"makes sense|i will|i'll try|calmer|hope)\b", re.IGNORECASE)
_NEGATIVE = re.compile(r"\b(not help|doesn'?t help|didn'?t help|worse|useless|you don'?t understand|no point|"
                       r"not really)\b", re.IGNORECASE)


class KnowledgeGraphError(ValueError):
    """A knowledge-graph file or folder cannot be used; the message names the file and entry."""


@dataclass
class LoadReport:
    folder: str
    nodes: dict[str, int] = field(default_factory=dict)  # per node file
    edges: dict[str, int] = field(default_factory=dict)  # per edge file
    missing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # malformed entries, skipped (file, index, why)
    dangling_edges: int = 0  # edges naming a node no node file defines (skipped)

    @property
    def total_nodes(self) -> int:
        return sum(self.nodes.values())

    @property
    def total_edges(self) -> int:
        return sum(self.edges.values())

    def describe(self) -> str:
        lines = [f"loaded {self.total_nodes} nodes and {self.total_edges} edges from {self.folder}"]
        lines += [f"  nodes/{name}.txt: {count}" for name, count in self.nodes.items()]
        lines += [f"  edges/{name}.txt: {count}" for name, count in self.edges.items()]
        if self.missing:
            lines.append("skipped missing files: " + ", ".join(self.missing))
        if self.dangling_edges:
            lines.append(f"skipped {self.dangling_edges} edge(s) naming unknown nodes")
        lines += [f"skipped: {p}" for p in self.problems[:20]]
        if len(self.problems) > 20:
            lines.append(f"... and {len(self.problems) - 20} more malformed entries")
        return "\n".join(lines)


@dataclass
class ResponseHit:
    id: str
    text: str
    weight: float
    score: float
    why: list[str]


@dataclass
class KnowledgeHit:
    stressor_id: str
    stressor: str
    similarity: float
    responses: list[ResponseHit]
    expectations: list[str]
    affective_states: list[str]

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _read_json(path: Path, key: str) -> list[Any]:
    """A HEAL file's list (strict JSON, bounded size and nesting: :mod:`escgraph.datafiles`)."""
    from escgraph.datafiles import MAX_DATASET_BYTES, DataFileError, parse_json, read_text

    try:
        doc = parse_json(read_text(path, max_bytes=MAX_DATASET_BYTES), str(path))
    except OSError as exc:
        raise KnowledgeGraphError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except DataFileError as exc:
        raise KnowledgeGraphError(str(exc)) from None
    if not isinstance(doc, dict) or not isinstance(doc.get(key), list):
        raise KnowledgeGraphError(f"{path}: expected an object with a {key!r} list")
    return doc[key]


def load_heal(folder: str | Path) -> tuple["KnowledgeGraph", LoadReport]:
    """Read a HEAL folder (``nodes/*.txt`` and ``edges/*.txt``, each a JSON object). Missing files are skipped
    and reported; an entry without the required fields is skipped and named; a folder with no node file at all
    is an error."""
    root = Path(folder)
    if not root.is_dir():
        raise KnowledgeGraphError(f"{root}: no such folder")
    report = LoadReport(folder=str(root))
    graph = nx.Graph()
    for name, kind in NODE_FILES.items():
        path = root / "nodes" / f"{name}.txt"
        if not path.is_file():
            report.missing.append(f"nodes/{name}.txt")
            continue
        count = 0
        for i, node in enumerate(_read_json(path, "nodes")):
            if not isinstance(node, dict) or not node.get("id") or not isinstance(node.get("label", ""), str):
                report.problems.append(f"nodes/{name}.txt entry {i}: needs an 'id' and a text 'label'")
                continue
            nid = str(node["id"])
            attrs = {"kind": kind, "label": " ".join(str(node.get("label") or "").split()),
                     "value": node.get("value")}
            if kind == "stressor":
                attrs["story"] = " ".join(str(node.get("story") or "").split())
            if kind == "feedback":
                text = attrs["label"]
                attrs["positive"] = bool(_POSITIVE.search(text)) and not _NEGATIVE.search(text)
            graph.add_node(nid, **attrs)
            count += 1
        report.nodes[name] = count
    if not report.nodes:
        raise KnowledgeGraphError(f"{root}: no HEAL node files found (expected nodes/stressors.txt, ...)")
    for name in EDGE_FILES:
        path = root / "edges" / f"{name}.txt"
        if not path.is_file():
            report.missing.append(f"edges/{name}.txt")
            continue
        count = 0
        for i, edge in enumerate(_read_json(path, "edges")):
            if not isinstance(edge, dict) or not edge.get("from") or not edge.get("to"):
                report.problems.append(f"edges/{name}.txt entry {i}: needs 'from' and 'to'")
                continue
            u, v = str(edge["from"]), str(edge["to"])
            try:
                weight = float(edge.get("value", 1) or 1)
            except (TypeError, ValueError, OverflowError):
                report.problems.append(f"edges/{name}.txt entry {i}: value {_short(edge.get('value'))} is not a "
                                       f"number")
                continue
            if not math.isfinite(weight):  # "nan", "inf" as text: every score and --json output would break
                raise KnowledgeGraphError(f"{path}: entry {i} ({_short(u)} - {_short(v)}): weight "
                                          f"{_short(edge.get('value'))} is not a finite number")
            if u not in graph or v not in graph:
                report.dangling_edges += 1
                continue
            total = graph[u][v]["weight"] + weight if graph.has_edge(u, v) else weight
            if not math.isfinite(total):
                raise KnowledgeGraphError(f"{path}: entry {i} ({_short(u)} - {_short(v)}): the summed weight of "
                                          f"this edge overflows")
            graph.add_edge(u, v, weight=total)
            count += 1
        report.edges[name] = count
    return KnowledgeGraph(graph), report


class KnowledgeGraph:
    """A HEAL-schema knowledge graph with embedding retrieval over stressor stories."""

    def __init__(self, graph: nx.Graph, *, story_vectors: np.ndarray | None = None) -> None:
        self.graph = graph
        self._stressors = [n for n, d in graph.nodes(data=True) if d.get("kind") == "stressor"]
        self._vectors = story_vectors if story_vectors is not None and len(story_vectors) == len(self._stressors) \
            else None
        self._expectation_ids: list[str] | None = None
        self._expectation_vectors: np.ndarray | None = None

    # -- size and text ---------------------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        kinds: dict[str, int] = {}
        for _, d in self.graph.nodes(data=True):
            kinds[d.get("kind", "?")] = kinds.get(d.get("kind", "?"), 0) + 1
        return {**kinds, "edges": self.graph.number_of_edges()}

    def text(self, node_id: str) -> str:
        d = self.graph.nodes[node_id]
        return d.get("story") or d.get("label") or node_id

    # -- persistence -----------------------------------------------------------------------------------------
    def save(self, path: str | Path, *, with_vectors: bool = True) -> Path:
        """Write the compact JSON form (and the story embeddings beside it), atomically."""
        path = Path(path)
        nodes = [[n, d.get("kind"), d.get("label", ""), d.get("value"), d.get("story", ""),
                  int(bool(d.get("positive")))] for n, d in self.graph.nodes(data=True)]
        edges = [[u, v, d.get("weight", 1.0)] for u, v, d in self.graph.edges(data=True)]
        doc = {"format": FORMAT, "format_version": 1, "counts": self.counts(), "nodes": nodes, "edges": edges}
        atomic_write(path, json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode())
        if with_vectors:
            buffer = io.BytesIO()
            np.save(buffer, self.story_vectors())
            atomic_write(_vector_path(path), buffer.getvalue())
        return path

    @classmethod
    def load(cls, path: str | Path) -> "KnowledgeGraph":
        """A graph saved by :meth:`save`; a file of another shape, with a non-finite weight or too deeply nested is
        a :class:`KnowledgeGraphError` naming it (and the entry)."""
        from escgraph.datafiles import MAX_DATASET_BYTES, MAX_DEPTH, DataFileError, parse_json, read_text

        path = Path(path)
        try:
            # a saved row nests 3 levels above a HEAL node's value, which the import bounded at MAX_DEPTH
            doc = parse_json(read_text(path, max_bytes=MAX_DATASET_BYTES), str(path), max_depth=MAX_DEPTH + 4)
        except FileNotFoundError:
            raise KnowledgeGraphError(f"{path}: no such knowledge-graph file") from None
        except OSError as exc:
            raise KnowledgeGraphError(f"{path}: not a knowledge-graph file ({exc.strerror or exc})") from None
        except DataFileError as exc:
            raise KnowledgeGraphError(f"{exc.where}: not a knowledge-graph file ({exc.problem})") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise KnowledgeGraphError(f"{path}: not an escgraph knowledge-graph file (import a HEAL folder with "
                                      f"`escgraph kg import-heal`)")
        graph = nx.Graph()
        graph.add_nodes_from(_saved_node(path, i, row) for i, row in enumerate(_saved_rows(path, doc, "nodes")))
        graph.add_weighted_edges_from(_saved_edge(path, i, row) for i, row in enumerate(_saved_rows(path, doc,
                                                                                                    "edges")))
        vectors = None
        if _vector_path(path).is_file():
            try:
                vectors = np.load(_vector_path(path), allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise KnowledgeGraphError(f"{_vector_path(path)}: not an embeddings file ({exc}); delete it to "
                                          f"re-embed") from None
            if vectors.ndim != 2 or not np.isfinite(vectors).all():
                vectors = None  # unusable: re-embed rather than score with garbage
        return cls(graph, story_vectors=vectors)

    # -- retrieval -------------------------------------------------------------------------------------------
    def story_vectors(self) -> np.ndarray:
        if self._vectors is None:
            from escgraph.embeddings import embed

            self._vectors = embed([self.text(n) for n in self._stressors])
        return self._vectors

    def _expectations(self) -> tuple[list[str], np.ndarray]:
        if self._expectation_vectors is None:
            from escgraph.embeddings import embed

            self._expectation_ids = [n for n, d in self.graph.nodes(data=True) if d.get("kind") == "expectation"]
            self._expectation_vectors = embed([self.text(n) for n in self._expectation_ids])
        return self._expectation_ids or [], self._expectation_vectors

    def _neighbours(self, node: str, kind: str) -> list[tuple[str, float]]:
        return [(v, float(d.get("weight", 1.0))) for v, d in self.graph[node].items()
                if self.graph.nodes[v].get("kind") == kind]

    def retrieve(self, query: str, *, expectation: str | None = None, k: int = 3, responses: int = 3,
                 threshold: float = 0.35) -> list[KnowledgeHit]:
        """Stressors whose story matches ``query`` (cosine ≥ ``threshold``, best ``k``), each with its best
        responses: edge weight (normalised per stressor) × story similarity, +30% when the response is linked to
        the seeker's expectation (the given text, or the stressor's own expectations), +20% per positive feedback
        link (capped), -20% when its feedback is only negative."""
        if not self._stressors or not query.strip():
            return []
        from escgraph.embeddings import embed

        q = embed(query)[0]
        sims = self.story_vectors() @ q
        order = np.argsort(-sims)[: max(k * 4, k)]
        wanted_expectations: set[str] = set()
        if expectation:
            ids, vectors = self._expectations()
            if ids:
                e_sims = vectors @ embed(expectation)[0]
                wanted_expectations = {ids[i] for i in np.argsort(-e_sims)[:2] if e_sims[i] >= threshold}
        hits = []
        for i in order:
            if sims[i] < threshold or len(hits) >= k:
                break
            sid = self._stressors[int(i)]
            expected = {e for e, _ in self._neighbours(sid, "expectation")}
            targets = wanted_expectations or expected
            linked = self._neighbours(sid, "response")
            top = max((w for _, w in linked), default=1.0) or 1.0
            ranked = []
            for rid, weight in linked:
                why = [f"co-occurs with this stressor (weight {weight:g})"]
                score = float(sims[i]) * (weight / top)
                meets = [e for e, _ in self._neighbours(rid, "expectation") if e in targets]
                if meets:
                    score *= 1.3
                    why.append("meets the expectation: " + self.text(meets[0])[:80])
                feedback = self._neighbours(rid, "feedback")
                positive = [f for f, _ in feedback if self.graph.nodes[f].get("positive")]
                if positive:
                    score *= 1 + 0.2 * min(len(positive), 3)
                    why.append(f"{len(positive)} positive feedback link(s)")
                elif feedback:
                    score *= 0.8
                    why.append("only non-positive feedback")
                ranked.append(ResponseHit(rid, self.text(rid), weight, round(score, 4), why))
            ranked.sort(key=lambda r: (-r.score, r.id))
            affective = [self.text(a) for a, _ in sorted(self._neighbours(sid, "affective_state"), key=lambda x: -x[1])]
            hits.append(KnowledgeHit(sid, self.text(sid), round(float(sims[i]), 4), ranked[:responses],
                                     [self.text(e) for e in sorted(expected)][:3], affective[:3]))
        return hits


def _saved_rows(path: Path, doc: dict[str, Any], key: str) -> list[Any]:
    rows = doc.get(key)
    if not isinstance(rows, list):
        raise KnowledgeGraphError(f"{path}: not a knowledge-graph file ({key!r} is not a list)")
    return rows


def _saved_node(path: Path, i: int, row: Any) -> tuple[str, dict[str, Any]]:
    if not (isinstance(row, list) and len(row) == 6 and isinstance(row[0], str) and isinstance(row[1], str)):
        raise KnowledgeGraphError(f"{path}: node #{i} is not [id, kind, label, value, story, positive]")
    node, kind, label, value, story, positive = row
    return node, {"kind": kind, "label": str(label or ""), "value": value, "story": str(story or ""),
                  "positive": bool(positive)}


def _saved_edge(path: Path, i: int, row: Any) -> tuple[str, str, float]:
    if not (isinstance(row, list) and len(row) == 3 and isinstance(row[0], str) and isinstance(row[1], str)
            and isinstance(row[2], (int, float)) and not isinstance(row[2], bool)):
        raise KnowledgeGraphError(f"{path}: edge #{i} is not [from, to, weight]")
    if not math.isfinite(row[2]):
        raise KnowledgeGraphError(f"{path}: edge #{i} ({_short(row[0])} - {_short(row[1])}): weight {row[2]} is "
                                  f"not a finite number")
    return row[0], row[1], float(row[2])


def _file_hash(path: Path) -> str:
    import hashlib

    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except FileNotFoundError:
        raise KnowledgeGraphError(f"{path}: no such knowledge-graph file") from None


def pin_knowledge_graph(path: str | Path) -> str:
    """``"<absolute file>@<content hash>"``, checked to load: what a simulation records, so a changed graph file
    fails on resume instead of silently mixing two graphs in one run."""
    path = Path(path)
    KnowledgeGraph.load(path)
    return f"{path.resolve()}@{_file_hash(path)}"


def resolve_knowledge_graph(spec: Any) -> Any:
    """A graph object from a graph option: an object (returned as is), a file, or a pinned ``file@hash``."""
    if spec is None or not isinstance(spec, (str, Path)):
        return spec
    from escgraph.config import split_pin

    file, expected = split_pin(str(spec))
    if expected and (actual := _file_hash(Path(file))) != expected:
        raise KnowledgeGraphError(f"knowledge graph {file} has content {actual}, not {expected} "
                                  f"(changed since the run started?)")
    return KnowledgeGraph.load(file)


def _vector_path(path: Path) -> Path:
    return path.with_name(path.name + ".emb.npy")


_DEFAULT: KnowledgeGraph | None = None


def default_knowledge_graph() -> KnowledgeGraph:
    """escgraph's own small authored graph in the HEAL schema (``memory/default_kg.yaml``), built once."""
    global _DEFAULT
    if _DEFAULT is None:
        from escgraph.memory.default_kg import build_default_graph

        _DEFAULT = KnowledgeGraph(build_default_graph())
    return _DEFAULT


def iter_heal_documents(graph: nx.Graph) -> Iterable[tuple[str, dict[str, Any]]]:
    """The graph as HEAL files: (relative path, JSON document) — for exporting a graph to the HEAL layout."""
    for name, kind in NODE_FILES.items():
        nodes = []
        for n, d in graph.nodes(data=True):
            if d.get("kind") != kind:
                continue
            item = {"id": n, "label": d.get("label", ""), "value": d.get("value")}
            if kind == "stressor":
                item["story"] = d.get("story", "")
            nodes.append(item)
        yield f"nodes/{name}.txt", {"nodes": nodes}
    pairs = {"stressors-responses": ("stressor", "response"), "expectations-responses": ("expectation", "response"),
             "expectations-stressors": ("expectation", "stressor"), "responses-feedback": ("response", "feedback")}
    buckets: dict[str, list[dict[str, Any]]] = {name: [] for name in EDGE_FILES}
    for u, v, d in graph.edges(data=True):
        ku, kv = graph.nodes[u].get("kind"), graph.nodes[v].get("kind")
        name = next((f for f, (a, b) in pairs.items() if (ku, kv) in ((a, b), (b, a))), "affective_states")
        a, b = pairs.get(name, (ku, kv))
        src, dst = (u, v) if ku == a else (v, u)
        buckets[name].append({"from": src, "to": dst, "value": d.get("weight", 1.0)})
    for name in EDGE_FILES:
        yield f"edges/{name}.txt", {"edges": buckets[name]}
