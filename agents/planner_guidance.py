"""What an agent that chooses the next strategy does with an external strategy planner (:mod:`escgraph.planner`):
one place for :class:`~escgraph.agents.strategy_counselor.StrategyCounselor` (and the skill counselor built on it)
and :class:`~escgraph.agents.initiative.InitiativeDecider`.

``planner_mode="planner"`` takes the planner's first strategy without asking the model (:meth:`planner_first`);
``"hybrid"`` shows the model the planner's ranking (:meth:`planner_note`) and lets it choose. Either way
``state["planner"]`` records the distribution, its top strategy and whether it was followed
(:meth:`with_planner_record`).
"""

from __future__ import annotations

from typing import Any

from escgraph.planner import case_from_state, top_strategies

__all__ = ["PlannerGuided", "PLANNER_MODES"]

PLANNER_MODES = ("planner", "hybrid")


class PlannerGuided:
    """Mixin: ``planner`` (an object with ``distributions(cases)``, or None) and ``planner_mode``."""

    planner: Any = None
    planner_mode: str = "planner"

    def set_planner(self, planner: Any, planner_mode: str) -> None:
        if planner_mode not in PLANNER_MODES:
            raise ValueError(f"planner_mode must be 'planner' or 'hybrid', not {planner_mode!r}")
        self.planner, self.planner_mode = planner, planner_mode

    def planner_distribution(self, state: dict) -> dict[str, float] | None:
        """The planner's probability per strategy for this turn (None without a planner)."""
        if self.planner is None:
            return None
        return self.planner.distributions([case_from_state(state)])[0]

    @staticmethod
    def planner_ranking(distribution: dict[str, float]) -> str:
        """``"Question 60%, Reflection of feelings 25%, …"``: the planner's first three."""
        return ", ".join(f"{s} {p:.0%}" for s, p in top_strategies(distribution, 3))

    @classmethod
    def planner_first(cls, distribution: dict[str, float]) -> tuple[str, str]:
        """(the planner's first strategy, a rationale naming its ranking): what "planner" mode follows."""
        return top_strategies(distribution, 1)[0][0], f"trained planner: {cls.planner_ranking(distribution)}"

    @classmethod
    def planner_note(cls, distribution: dict[str, float], *, another: str = "another strategy") -> str:
        """The line that shows the model the planner's ranking ("hybrid" mode)."""
        return (f"A trained strategy planner suggests: {cls.planner_ranking(distribution)}. Follow its first choice "
                f"unless the dialogue clearly needs {another}; if you choose another, say why in the rationale.")

    def with_planner_record(self, update: dict, distribution: dict[str, float] | None,
                            llm_choice: str | None) -> dict:
        """``update`` with ``planner``: mode, distribution, top strategy, whether the final strategy is it, and the
        model's own choice (hybrid)."""
        if distribution is None:
            return update
        top = max(distribution, key=distribution.get)
        update["planner"] = {"mode": self.planner_mode, "distribution": distribution, "top": top,
                             "followed": update["strategy"] == top,
                             **({"llm_choice": llm_choice} if llm_choice is not None else {})}
        return update
