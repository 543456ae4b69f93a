#!/usr/bin/env python3
"""Streaming: time and peak memory of `funrl verify`, `funrl dialogs`, `funrl export`, `funrl bfcl evaluate` and the
dialogs' pool index at 1k, 10k and 50k, each size in a fresh process (peak RSS is that process's ``ru_maxrss``). Goal: time linear in the
size (CPU per 1,000 flat) and memory flat.

    python benchmarks/streaming.py                              # sizes 1000,10000,50000, one run each
    python benchmarks/streaming.py --sizes 1000,10000 --repeats 3
    python benchmarks/streaming.py --compare /tmp/funrl-before   # the same commands on another tree too
        #   mkdir /tmp/funrl-before && git archive REV funrl_lib data | tar -x -C /tmp/funrl-before

Inputs are made first (not timed): a pool of --apis APIs and max(--sizes) dialogs from it (`funrl pool`, `funrl
dialogs`); each size's input is the first N lines. Then, for each size, in a fresh process each:

    funrl verify  --in dialogs-N.jsonl --pool pool.jsonl --out kept.jsonl --rejected rejected.jsonl --report r.json
    funrl dialogs --pool pool.jsonl --n N --out dialogs.jsonl
    funrl export  --in dialogs-N.jsonl --to trl --out trl.jsonl
    funrl bfcl evaluate --results bfcl-N --out ...
    pool index:   load a pool of N APIs and build the dialogs' index of it (its load and build timed apart)

The BFCL results of size N are N result lines over the 11 single-turn AST categories (3,491 entries): line k is entry
k mod 3,491 of them all, with a mutated output (a different mutation on each pass), so the first 3,491 lines are
scored and every later one repeats an id, which BFCL evaluation reports and quarantines (the input that can grow
without bound: a result file cannot hold more scorable lines than its category has entries).

Sizes (and trees) are interleaved within each round. The pool index's memory grows with the pool, which it holds:
only its time is the point there. A child's ``ru_maxrss`` cannot be below what its parent held when it started it
(Linux carries the forked copy's peak through ``exec``), so this script keeps itself small (about 20 MiB) and says
its own peak at the end: a figure at that floor means "at most that".
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _proc import PYTHON, Run, bench_env, funrl_argv, interleaved, machine, run  # noqa: E402

INDEX_SCRIPT = """
import sys, time
sys.path.insert(0, sys.argv[1]) if sys.argv[1] else None
from funrl_lib.synth.api_pool import load_pool
from funrl_lib.synth.dialogs import _PoolIndex
t0 = time.process_time(); pool = load_pool(sys.argv[2]); t1 = time.process_time(); _PoolIndex(pool)
print(f"{t1 - t0} {time.process_time() - t1}")
"""

BFCL_SCRIPT = """
import json, sys
from pathlib import Path
from funrl_lib.bfcl.data import CATEGORY_GROUP, SUPPORTED_CATEGORIES, load_category
from funrl_lib.bfcl.mutations import mutations
root, n = Path(sys.argv[1]), int(sys.argv[2])
entries = [(c, i, e) for c in SUPPORTED_CATEGORIES for i, e in load_category(c).items()]
files = {}
for c in SUPPORTED_CATEGORIES:
    path = root / "model" / CATEGORY_GROUP[c] / f"BFCL_v4_{c}_result.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    files[c] = open(path, "w", encoding="utf-8")
for k in range(n):
    c, i, e = entries[k % len(entries)]
    m = mutations(e)
    files[c].write(json.dumps({"id": i, "result": m[(k // len(entries)) % len(m)][1]}) + "\\n")
for f in files.values():
    f.close()
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000,10000,50000")
    ap.add_argument("--apis", type=int, default=2000, help="the pool the dialogs are made from")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--commands", default="verify,dialogs,export,bfcl,index")
    ap.add_argument("--compare", metavar="DIR", help="a folder holding another funrl_lib (and data/) to time too")
    ap.add_argument("--compare-commands", default="verify,bfcl,index", help="which commands run on --compare too")
    ap.add_argument("--work", help="folder for the inputs (kept, so a second run skips making them)")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    wanted = args.commands.split(",")
    env = bench_env()
    tmp = tempfile.TemporaryDirectory(prefix="funrl-stream-bench-")
    work = Path(args.work or tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    print(machine(), flush=True)
    pool, dialogs = work / f"pool-{args.apis}.jsonl", work / f"dialogs-{max(sizes)}.jsonl"
    bfcl = {n: work / f"bfcl-{n}" for n in sizes}
    for n in sizes if "bfcl" in wanted else ():
        if not bfcl[n].exists():
            run([PYTHON, "-c", BFCL_SCRIPT, str(bfcl[n]), str(n)], env=env)
    if not set(wanted) & {"verify", "dialogs", "export"}:
        pass
    elif not pool.exists():
        run(funrl_argv("pool", "--n", str(args.apis), "--seed", "0", "--out", str(pool), "--no-progress"), env=env)
    if set(wanted) & {"verify", "export"} and not dialogs.exists():
        run(funrl_argv("dialogs", "--pool", str(pool), "--n", str(max(sizes)), "--seed", "0", "--out", str(dialogs),
                       "--no-progress"), env=env)
    inputs = {}
    for n in sizes if set(wanted) & {"verify", "export"} else ():  # line by line: this process stays small, and a child's peak RSS starts at its parent's size
        inputs[n] = work / f"dialogs-{n}.jsonl"
        if not inputs[n].exists() or inputs[n].stat().st_size == 0:
            with open(dialogs, "rb") as src, open(inputs[n], "wb") as dst:
                for _, line in zip(range(n), src):
                    dst.write(line)
    pools = {}
    if "index" in wanted:
        for n in sizes:
            pools[n] = work / f"pool-{n}.jsonl"
            if not pools[n].exists():
                run(funrl_argv("pool", "--n", str(n), "--seed", "0", "--out", str(pools[n]), "--no-progress"),
                    env=env)

    trees = {"this tree": None}
    if args.compare:
        trees["compare"] = args.compare
    index_parts: dict[str, list[tuple[float, float]]] = {}

    def command(what: str, n: int, src: str | None, tree: str):
        out = work / f"out-{tree[:4]}-{what}-{n}"

        def one(r: int) -> Run:
            shutil.rmtree(out, ignore_errors=True)
            Path(str(out) + ".quarantine.jsonl").unlink(missing_ok=True)
            out.mkdir()
            if what == "bfcl":
                return run(funrl_argv("bfcl", "evaluate", "--results", str(bfcl[n]), "--out", str(out), src=src),
                           env=env)
            if what == "verify":
                return run(funrl_argv("verify", "--in", str(inputs[n]), "--pool", str(pool), "--out",
                                      str(out / "kept.jsonl"), "--rejected", str(out / "rejected.jsonl"), "--report",
                                      str(out / "r.json"), "--no-progress", src=src), env=env)
            if what == "dialogs":
                return run(funrl_argv("dialogs", "--pool", str(pool), "--n", str(n), "--seed", "0", "--out",
                                      str(out / "dialogs.jsonl"), "--no-progress", src=src), env=env)
            if what == "export":
                return run(funrl_argv("export", "--in", str(inputs[n]), "--to", "trl", "--out",
                                      str(out / "trl.jsonl"), src=src), env=env)
            res = run([PYTHON, "-c", INDEX_SCRIPT, src or "", str(pools[n])], env=env)
            if r >= 0:
                load, build = map(float, res.stdout.split())
                index_parts.setdefault(f"{tree} {n}", []).append((load, build))
            return res
        return one

    cmds = {}
    for what in wanted:
        for n in sizes:
            for tree, src in trees.items():
                if src is not None and what not in args.compare_commands.split(","):
                    continue
                cmds[(what, n, tree)] = command(what, n, src, tree)
    series = interleaved(cmds, args.repeats, warmup=False)
    print(f"\n{args.repeats} run(s) per cell, sizes and trees interleaved; median (min / max) where repeated"
          + (f"; compare: funrl_lib from {args.compare}" if args.compare else ""))
    for what in wanted:
        head = ("APIs | load CPU s | index CPU s | index CPU ms per 1k APIs" if what == "index" else
                "records | wall s | CPU s | CPU s per 1k | peak RSS MiB")
        print(f"\n{_TITLES[what]}\n\n| tree | {head} |\n|---|{'---|' * head.count('|')}---|")
        for tree in trees:
            for n in sizes:
                s = series.get((what, n, tree))
                if s is None:
                    continue
                if what == "index":
                    parts = index_parts[f"{tree} {n}"]
                    load = statistics.median(p[0] for p in parts)
                    build = statistics.median(p[1] for p in parts)
                    print(f"| {tree} | {n:,} | {load:.2f} | {build:.2f} | {1000 * build / n * 1000:.0f} |")
                    continue
                wall, cpu, rss = (statistics.median(s.values(k)) for k in ("wall", "cpu", "maxrss_mib"))
                spread = (f" ({min(s.values('cpu')):.2f} / {max(s.values('cpu')):.2f})" if len(s.runs) > 1 else "")
                print(f"| {tree} | {n:,} | {wall:.2f} | {cpu:.2f}{spread} | {1000 * cpu / n:.3f} | {rss:.0f} |")
    import resource
    print(f"\n(this script's own peak RSS, the floor of every figure above: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)")
    return 0


_TITLES = {"verify": "funrl verify (rule + model layers, calls executed against the pool)",
           "dialogs": "funrl dialogs (programmatic, from a 2,000-API pool unless --apis)",
           "export": "funrl export --to trl",
           "bfcl": "funrl bfcl evaluate (11 single-turn AST categories; lines past the 3,491st repeat an id and are "
                   "quarantined)",
           "index": "dialogs' pool index (a fresh process per size)"}


if __name__ == "__main__":
    raise SystemExit(main())
