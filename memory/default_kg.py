"""Builds escgraph's authored default knowledge graph (``default_kg.yaml``) as a HEAL-schema networkx graph."""

from __future__ import annotations

from importlib import resources

import networkx as nx
import yaml

__all__ = ["build_default_graph"]


def build_default_graph() -> nx.Graph:
    data = yaml.safe_load(resources.files("escgraph.memory").joinpath("default_kg.yaml").read_text(encoding="utf-8"))
    from escgraph.memory.knowledge_graph import _NEGATIVE, _POSITIVE

    g = nx.Graph()
    for fid, text in data["feedback"].items():
        g.add_node(fid, kind="feedback", label=text, value=1, positive=bool(_POSITIVE.search(text))
                   and not _NEGATIVE.search(text))
    for eid, text in data["expectations"].items():
        g.add_node(eid, kind="expectation", label=text, value=1)
    for rid, spec in data["responses"].items():
        g.add_node(rid, kind="response", label=spec["text"], value=1)
        for eid in spec.get("expectations", []):
            g.add_edge(eid, rid, weight=1.0)
        for fid in spec.get("feedback", []):
            g.add_edge(rid, fid, weight=1.0)
    states = data["affective_states"]
    for s in data["stressors"]:
        g.add_node(s["id"], kind="stressor", label=s["label"], story=s["story"], value=1)
        for rid, weight in s["responses"].items():
            g.add_edge(s["id"], rid, weight=float(weight))
        for eid in s.get("expectations", []):
            g.add_edge(eid, s["id"], weight=1.0)
        for emotion in s.get("emotions", []):
            aid = f"e{states.index(emotion) + 1}-{s['id']}"  # HEAL: e<k>-<node>
            g.add_node(aid, kind="affective_state", label=emotion, value=1)
            g.add_edge(s["id"], aid, weight=1.0)
    return g
