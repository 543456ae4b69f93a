"""A seeded sample of programmatic dialogs as markdown, to read their text (issue 16 item 4, ToolACE arXiv
2409.00920v2 §2.2's user and assistant agents): a pool and dialogs are built in memory (as ``funrl pool --n POOL
--seed S`` + ``funrl dialogs --n N --seed S``), then ``--show`` of them, drawn with ``random.Random(S)``, are
printed turn by turn: user and assistant text, calls as JSON, tool outputs as JSON.

    python scripts/dialog_text_sample.py --seed 0 --pool 300 --n 2000 --show 10 > results/dialog-text/after.md

Run with ``PYTHONPATH=<another checkout>`` to print that checkout's dialogs (the script imports only the public
``build_pool`` and ``generate_dialogs``).
"""

from __future__ import annotations

import argparse
import json
import random


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pool", type=int, default=300, help="APIs in the pool")
    ap.add_argument("--n", type=int, default=2000, help="dialogs generated")
    ap.add_argument("--show", type=int, default=10, help="dialogs printed")
    args = ap.parse_args(argv)

    from funrl_lib.synth.api_pool import build_pool
    from funrl_lib.synth.dialogs import generate_dialogs

    pool = build_pool(args.pool, seed=args.seed, progress=False)
    dialogs = generate_dialogs(pool, args.n, seed=args.seed, progress=False)
    picked = sorted(random.Random(args.seed).sample(range(len(dialogs)), min(args.show, len(dialogs))))
    print(f"# {len(picked)} of {len(dialogs)} programmatic dialogs (pool {args.pool} APIs, seed {args.seed})\n")
    for k in picked:
        d = dialogs[k]
        print(f"## {d.id}: {d.type} (style {d.meta.get('style')}, band {d.meta.get('band')})\n")
        for m in d.messages:
            if m.role == "tool":
                for r in m.results or []:
                    print(f"- **tool** `{r.get('name')}`: `{json.dumps(r.get('results'), ensure_ascii=False)}`")
            elif m.calls:
                calls = "; ".join(f"`{c.name}({json.dumps(c.arguments, ensure_ascii=False)})`" for c in m.calls)
                print(f"- **assistant** calls {calls}")
            else:
                text = (m.content or "").replace("\n", " / ")
                print(f"- **{m.role}**: {text}")
        print()


if __name__ == "__main__":
    main()
