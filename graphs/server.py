"""Entry points for ``langgraph dev`` / LangGraph Platform (see ``langgraph.json``).

The server supplies its own checkpointer and store, so graphs are compiled without one; models come from each
run's context, defaulting to the embedded local model.
"""

from escgraph.graphs import build_graph

sweetiechat = build_graph("sweetiechat")
skilled = build_graph("skilled")
mentalagora = build_graph("mentalagora")
madp = build_graph("madp")
kemi = build_graph("kemi")
