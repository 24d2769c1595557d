"""How often does evolution accept an edit, by its true effect and the verification sample size? (scripted world)

The world of ``escgraph.testing.noisy_world``: 12 profiles (3 avoidant), 4 judged turns, the judge's change is
the scripted effect plus uniform noise of ±``--noise`` per turn from a generator independent of the episode seeds.
Each evolution is one round of the real loop (analysis, analyst, control arm, Holm, confirmation, commit).

Prints:
1. the false-positive rate of a null edit at the default policy, with its exact 95 % interval;
2. for each effect size, the acceptance rate per ``--verify-trials`` and the smallest setting reaching 80 %
   power, with the episodes one round simulates at that setting (the README's table);
3. the cost of one round at the defaults as a ratio against its own base simulation, measured in the same run on
   the real runner and ``skilled`` graph with fake models that take ``--latency`` seconds per call.

    python bench/bench_verify_power.py                       # ~10 minutes on 2 cores
    python bench/bench_verify_power.py --evolutions 100 --null 400
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from escgraph.skills_bank.evolution import VerifyPolicy
from escgraph.testing.noisy_world import HELPFUL_STEP, NULL_STEP, WorldSettings, acceptance_study


def power_table(args: argparse.Namespace, root: Path) -> None:
    print(f"\n== acceptance of a helpful edit by effect size and --verify-trials ({args.evolutions} evolutions "
          f"each; defaults otherwise; noise ±{args.noise:g}/turn) ==")
    trials = [int(t) for t in args.trials.split(",")]
    print(f"{'effect':>7} | " + " | ".join(f"vt={t:<2} rate  eps" for t in trials) + " | 80% power at")
    for effect in [float(e) for e in args.effects.split(",")]:
        cells, first = [], None
        for t in trials:
            study = acceptance_study(HELPFUL_STEP, args.evolutions, root / f"e{effect}-t{t}",
                                     world=WorldSettings(effect=effect, noise=args.noise),
                                     policy=VerifyPolicy(verify_trials=t))
            per_round = study.episodes / study.evolutions
            cells.append(f"{study.rate:6.0%} {per_round:4.0f}")
            if first is None and study.rate >= 0.8:
                first = (t, per_round)
        where = f"vt={first[0]} (~{first[1]:.0f} episodes/round)" if first else "not within the grid"
        print(f"{effect:>7g} | " + " | ".join(cells) + f" | {where}")
        sys.stdout.flush()


def null_rate(args: argparse.Namespace, root: Path) -> None:
    study = acceptance_study(NULL_STEP, args.null, root / "null", world=WorldSettings(noise=args.noise))
    print(f"\n== null edit at the default policy ==\n{study.describe()}; {study.stages}")


def round_cost(args: argparse.Namespace, root: Path) -> None:
    """Wall time of one default round against its own base simulation, on the real runner."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import evolve_fakes as world

    from escgraph.agents.skill_analyst import SkillAnalyst
    from escgraph.simulations.evolve_adapter import RunnerSimulator
    from escgraph.simulations.spec import RunSpec
    from escgraph.skills_bank.evolution import EvolutionSettings, run_evolution
    from escgraph.skills_bank.store import SkillBank
    from escgraph.testing.noisy_world import world_profiles

    profiles = world_profiles(12, 3)
    bank = SkillBank.create(root / "cost" / "bank", world.bank_skills(), author="bench", message="m")
    template = RunSpec(run_id="cost", graph="skilled", profiles=profiles, max_turns=4, models={"counselor": "fake"},
                       concurrency=4, call_retries=0)
    simulator = RunnerSimulator(template, models=world.world_models(args.latency))
    # warm-up (models, embedder, first-call costs) so the base simulation is timed like every later one
    simulator.simulate(root / "cost" / "warm-up", profiles[:2], bank.path, bank.head)
    began = time.perf_counter()
    timings: dict[str, float] = {}

    def log(message: str) -> None:
        timings.setdefault(message, time.perf_counter() - began)

    state = run_evolution(bank, profiles, simulator, SkillAnalyst(world.analyst_model(), spec="fake"),
                          out_dir=root / "cost" / "evo", settings=EvolutionSettings(rounds=1), log=log)
    total = time.perf_counter() - began
    base_done = next(t for m, t in timings.items() if "finding" in m)
    from escgraph.simulations.store import load_run

    runs = {str(p.parent.relative_to(root / "cost" / "evo")): len(load_run(p.parent).episodes)
            for p in sorted((root / "cost" / "evo").rglob("run.sqlite"))}
    episodes, base_n = sum(runs.values()), runs["round-1/base"]
    cited = len(state["rounds"][0]["analysis"]["selected"])
    print(f"\n== one round at the defaults (12 profiles × 4 turns, {args.latency * 1000:.0f} ms per model call) ==")
    print(f"base simulation {base_done:.1f} s; whole round {total:.1f} s; ratio round/base "
          f"{total / base_done:.1f}x; committed {state['rounds'][0]['committed']}")
    print(f"episodes simulated: {episodes} = " + " + ".join(f"{n} {k.split('/', 1)[1]}" for k, n in runs.items())
          + f"; {episodes / base_n:.1f}x the base run (before the control arm a round re-ran only the {cited} "
            f"cited episode(s) plus 4 regression episodes: {(base_n + cited + 4) / base_n:.1f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--evolutions", type=int, default=40, help="evolutions per cell of the power table")
    parser.add_argument("--null", type=int, default=200, help="evolutions for the false-positive rate")
    parser.add_argument("--effects", default="4,6,8,10,15", help="effect sizes (points on the target group)")
    parser.add_argument("--trials", default="1,2,3,5,8", help="--verify-trials values")
    parser.add_argument("--noise", type=float, default=4.0, help="judge noise half-width per turn")
    parser.add_argument("--latency", type=float, default=0.01, help="seconds per fake model call (round cost)")
    parser.add_argument("--skip", default="", help="comma list of parts to skip: null,power,cost")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        if "cost" not in skip:
            round_cost(args, root)
        if "null" not in skip:
            null_rate(args, root)
        if "power" not in skip:
            power_table(args, root)


if __name__ == "__main__":
    main()
