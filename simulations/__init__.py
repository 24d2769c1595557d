"""Simulations: self-play of simulated seekers against counselor graphs.

``run_simulation(graph=..., profiles=..., models=..., out=...)`` (and ``arun_simulation``) run any graph;
``run_evolution(...)`` evolves a skills bank against one. The lower-level runner that takes a
:class:`~escgraph.simulations.spec.RunSpec` is :mod:`escgraph.simulations.runner`.
"""

from escgraph.simulations.api import arun_simulation, graph_reference, run_evolution, run_simulation
from escgraph.simulations.spec import RunSpec

__all__ = ["run_simulation", "arun_simulation", "run_evolution", "graph_reference", "RunSpec"]
