#!/usr/bin/env python3
"""Startup: how long `funrl --help`, `funrl verify --help`, ... take, as a ratio to `python -c pass`.

    python benchmarks/startup.py                      # 15 interleaved rounds
    python benchmarks/startup.py --repeats 30 --compare /tmp/funrl-before
        # also the same commands run on another tree's funrl_lib, e.g. before a change:
        #   mkdir /tmp/funrl-before && git archive HEAD~5 funrl_lib data | tar -x -C /tmp/funrl-before

Each round runs every command once, in a rotating order (interleaved), each in a fresh process; the ratio is taken
within a round (command / `python -c pass` of the same round), so a load that changes between rounds cancels out.
Wall time and CPU time (user + system) are both given; on a machine another job keeps busy, CPU time is the steadier
of the two. Bytecode caches are on (an installed funrl has them), one warm-up round is not counted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _proc import PYTHON, bench_env, fmt_mmm, funrl_argv, interleaved, machine, run  # noqa: E402

COMMANDS = [
    ("funrl --help", ["--help"]),
    ("funrl --version", ["--version"]),
    ("funrl verify --help", ["verify", "--help"]),
    ("funrl dialogs --help", ["dialogs", "--help"]),
    ("funrl export --help", ["export", "--help"]),
    ("funrl bfcl evaluate --help", ["bfcl", "evaluate", "--help"]),
    ("funrl demo --help", ["demo", "--help"]),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--compare", metavar="DIR", help="a folder holding another funrl_lib (and data/) to time too")
    ap.add_argument("--torch", action="store_true", help="also time `python -c 'import torch'` (what every command "
                                                         "paid before imports were made lazy)")
    args = ap.parse_args()
    env = bench_env()
    funrl_exe = str(Path(PYTHON).parent / "funrl")
    cmds = {"python -c pass": lambda r: run([PYTHON, "-c", "pass"], env=env)}
    for name, argv in COMMANDS:
        cmds[name] = (lambda argv: lambda r: run([funrl_exe, *argv], env=env))(argv)
        if args.compare:
            cmds[f"{name} [compare]"] = (lambda argv: lambda r: run(funrl_argv(*argv, src=args.compare),
                                                                    env=env))(argv)
    if args.torch:
        cmds["python -c 'import torch'"] = lambda r: run([PYTHON, "-c", "import torch"], env=env)
    series = interleaved(cmds, args.repeats)
    anchor = series["python -c pass"]
    print(machine())
    print(f"\n{args.repeats} interleaved rounds; median (min / max); ratio = command / `python -c pass` in the same "
          "round")
    if args.compare:
        print(f"[compare]: funrl_lib from {args.compare}")
    print("\n| command | wall s | wall ratio | CPU s | CPU ratio |\n|---|---|---|---|---|")
    for name, s in series.items():
        wr = [a / b for a, b in zip(s.values("wall"), anchor.values("wall"))]
        cr = [a / b for a, b in zip(s.values("cpu"), anchor.values("cpu")) if b > 0]
        ratio = (lambda v: f"{statistics.median(v):.1f}x ({min(v):.1f} / {max(v):.1f})" if v else "-")
        print(f"| `{name}` | {fmt_mmm(s.mmm('wall'), '.3f')} | {ratio(wr)} | {fmt_mmm(s.mmm('cpu'), '.3f')} | "
              f"{ratio(cr)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
