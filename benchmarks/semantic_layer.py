"""Recall of the offline model layer on semantic defects of final answers, and its false rejections on clean dialogs
(issue 16 item 3; the rule is ``answer_grounding``, :mod:`funrl_lib.synth.verify.answers`, ToolACE §2.3's
consistency expert made deterministic).

A programmatic pool and dialogs are built in memory (what ``funrl pool --n POOL --seed S`` and ``funrl dialogs --n
N --seed S`` write), every clean dialog is verified with the pool (rule and model layers, as ``funrl verify --pool``),
then each semantic corruption kind (:data:`funrl_lib.synth.corrupt.CORRUPTIONS`) is applied to every dialog it
applies to and verified again. "caught": the sample fails a rule that ``EXPECTED_RULES`` names for the kind;
"rejected": it fails anything. Prints one markdown table.

    python benchmarks/semantic_layer.py --seed 0 --pool 300 --n 2000
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SEMANTIC = ("misreported_number", "wrong_date", "invented_entity")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pool", type=int, default=300, help="APIs in the pool")
    ap.add_argument("--n", type=int, default=2000, help="dialogs")
    ap.add_argument("--kinds", default=",".join(SEMANTIC), help="corruption kinds, comma-separated")
    ap.add_argument("--without", default="", help="rules left out, comma-separated (--without answer_grounding: "
                    "the verifier as it was before the rule)")
    args = ap.parse_args(argv)

    from funrl_lib.synth.api_pool import build_pool
    from funrl_lib.synth.corrupt import CORRUPTIONS, EXPECTED_RULES
    from funrl_lib.synth.dialogs import generate_dialogs
    from funrl_lib.synth.verify import RULES, VerifyContext, verify_sample

    t0 = time.perf_counter()
    pool = build_pool(args.pool, seed=args.seed, progress=False)
    dialogs = generate_dialogs(pool, args.n, seed=args.seed, progress=False)
    left_out = {r for r in args.without.split(",") if r}
    ctx = VerifyContext(pool=pool, rules=[r for r in RULES if r not in left_out])
    false = [d.id for d in dialogs if not verify_sample(d, ctx).kept]
    rows = []
    for kind in args.kinds.split(","):
        injected = caught = rejected = 0
        for j, d in enumerate(dialogs):
            bad = CORRUPTIONS[kind](d, random.Random(f"{kind}:{args.seed}:{j}"))
            if bad is None:
                continue
            v = verify_sample(bad, ctx)
            injected += 1
            caught += bool(set(v.failed) & set(EXPECTED_RULES[kind]))
            rejected += not v.kept
        rows.append((kind, injected, caught, rejected))
    print(f"seed {args.seed}, pool {args.pool} APIs, {args.n} programmatic dialogs"
          + (f", without {', '.join(sorted(left_out))}" if left_out else "") + f" ({time.perf_counter() - t0:.0f} s)\n")
    print("| defect kind | injected | caught | recall | rejected (any rule) |")
    print("|---|---|---|---|---|")
    for kind, injected, caught, rejected in rows:
        recall = f"{caught / injected:.3f}" if injected else "-"
        print(f"| {kind} | {injected} | {caught} | {recall} | {rejected} |")
    print("\n| clean dialogs | falsely rejected | rate |")
    print("|---|---|---|")
    print(f"| {len(dialogs)} | {len(false)} | {len(false) / len(dialogs):.4f} |")
    if false:
        print("\nfalsely rejected: " + ", ".join(map(str, false[:20])))


if __name__ == "__main__":
    main()
