#!/usr/bin/env python3
"""Synthesis throughput: verified samples per second per core, timed as a user runs it (three fresh processes on
fresh inputs), and the OpenAI backend's requests per second against a loopback server.

    python benchmarks/synthesis_speed.py --skip-openai                 # the programmatic table, 3 rounds
    python benchmarks/synthesis_speed.py --skip-openai --repeats 5 --compare /tmp/funrl-before
        # the same rounds on another tree's funrl_lib too, interleaved:
        #   mkdir /tmp/funrl-before && git archive REV funrl_lib data | tar -x -C /tmp/funrl-before

Programmatic (goal: at least 1,000 verified samples/s on one core). Each round, in a fresh folder and with a seed
of its own (so no input, output or cache of an earlier round is reused):

    funrl pool    --backend programmatic --n APIS --seed S --out pool.jsonl
    funrl dialogs --pool pool.jsonl --n DIALOGS --seed S --out dialogs.jsonl
    funrl verify  --in dialogs.jsonl --pool pool.jsonl --out kept.jsonl --rejected rejected.jsonl --report report.json

each one process (so one core), startup included. Verified samples = the kept lines of that round's report; the
rate per core divides them by the CPU seconds (user + system) of the three processes, the wall rate by their wall
seconds. On a machine another job keeps busy the wall rate falls and the CPU rate much less: both are given. The
pool is built every round and counted, although a real run reuses one pool for many dialog batches. Rounds of the
compared trees alternate (A B, B A, ...), so both see the same load.

OpenAI-compatible backend: see synthesis_speed_openai.py.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _proc import Run, bench_env, fmt_mmm, funrl_argv, interleaved, machine, run  # noqa: E402

GOAL = 1000.0
STAGES = ("pool", "dialogs", "verify")


def pipeline(work: Path, apis: int, dialogs: int, seed: int, src: str | None) -> dict[str, Run | int]:
    """One round: the three commands in a fresh folder; their runs and the kept count."""
    work.mkdir(parents=True, exist_ok=True)
    env = bench_env()
    f = lambda *a: funrl_argv(*a, src=src)  # noqa: E731
    out: dict[str, Run | int] = {}
    out["pool"] = run(f("pool", "--backend", "programmatic", "--n", str(apis), "--seed", str(seed), "--out",
                        "pool.jsonl", "--no-progress"), env=env, cwd=work)
    out["dialogs"] = run(f("dialogs", "--pool", "pool.jsonl", "--n", str(dialogs), "--seed", str(seed), "--out",
                           "dialogs.jsonl", "--no-progress"), env=env, cwd=work)
    out["verify"] = run(f("verify", "--in", "dialogs.jsonl", "--pool", "pool.jsonl", "--out", "kept.jsonl",
                          "--rejected", "rejected.jsonl", "--report", "report.json", "--no-progress"), env=env,
                        cwd=work)
    out["kept"] = json.loads((work / "report.json").read_text())["totals"]["kept"]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--apis", type=int, default=2000)
    ap.add_argument("--dialogs", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--compare", metavar="DIR", help="a folder holding another funrl_lib (and data/) to time too")
    ap.add_argument("--skip-openai", action="store_true")
    args = ap.parse_args()
    trees = {"this tree": None}
    if args.compare:
        trees[f"compare ({args.compare})"] = args.compare
    rounds: dict[str, list[dict]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory(prefix="funrl-synth-bench-") as tmp:
        def command(name: str, src: str | None):
            def one(r: int) -> Run:
                seed = 1000 + max(r, 0)  # a fresh seed per round: fresh pool, dialogs and outputs
                res = pipeline(Path(tmp) / f"{len(rounds[name])}-{name[:4]}-{r}", args.apis, args.dialogs, seed,
                               src)
                if r >= 0:
                    rounds[name].append(res)
                return res["verify"]  # type: ignore[return-value]
            return one

        interleaved({name: command(name, src) for name, src in trees.items()}, args.repeats, warmup=True)
    print(machine())
    print(f"\n{args.repeats} rounds per tree (interleaved), {args.apis} APIs and {args.dialogs} dialogs per round, "
          "a fresh seed and folder per round; median (min / max)")
    ok = True
    for name, rs in rounds.items():
        print(f"\n{name}\n\n| stage | items | wall s | CPU s | items per CPU s | peak RSS MiB |\n"
              "|---|---|---|---|---|---|")
        for stage, items in zip(STAGES, (args.apis, args.dialogs, args.dialogs)):
            wall = [r[stage].wall for r in rs]
            cpu = [r[stage].cpu for r in rs]
            rss = [r[stage].maxrss_mib for r in rs]
            rate = [items / c for c in cpu]
            print(f"| funrl {stage} | {items} | {_mmm(wall)} | {_mmm(cpu)} | {_mmm(rate, ',.0f')} | "
                  f"{_mmm(rss, '.0f')} |")
        kept = [r["kept"] for r in rs]
        per_cpu = [k / sum(r[s].cpu for s in STAGES) for k, r in zip(kept, rs)]
        per_wall = [k / sum(r[s].wall for s in STAGES) for k, r in zip(kept, rs)]
        print(f"| all three: verified samples | {_mmm(kept, '.0f')} kept | "
              f"{_mmm([sum(r[s].wall for s in STAGES) for r in rs])} | "
              f"{_mmm([sum(r[s].cpu for s in STAGES) for r in rs])} | {_mmm(per_cpu, ',.0f')} | |")
        print(f"\nverified samples per CPU second (one core): {_mmm(per_cpu, ',.0f')}; per wall second: "
              f"{_mmm(per_wall, ',.0f')}; goal {GOAL:,.0f} per core: ratio {statistics.median(per_cpu) / GOAL:.2f}")
        if name == "this tree":
            ok = statistics.median(per_cpu) >= GOAL
    if args.compare and len(rounds) == 2:
        (a, ra), (b, rb) = rounds.items()
        cpu_ratio = [sum(y[s].cpu for s in STAGES) / sum(x[s].cpu for s in STAGES) for x, y in zip(ra, rb)]
        print(f"\nCPU seconds, compare / this tree, per round: {_mmm(cpu_ratio)}x")
    if not args.skip_openai:
        from synthesis_speed_openai import markdown, openai_throughput_rows

        orows = openai_throughput_rows()
        print("\nOpenAI-compatible backend, loopback server with 200 ms latency, cache off")
        print(markdown(orows))
        ok = ok and all(r["ratio"] >= 1 for r in orows)
    return 0 if ok else 1


def _mmm(values: list[float], spec: str = ".2f") -> str:
    return fmt_mmm((min(values), statistics.median(values), max(values)), spec)


if __name__ == "__main__":
    raise SystemExit(main())
