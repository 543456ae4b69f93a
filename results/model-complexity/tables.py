"""Markdown tables and summary.json from `funrl dialogs --complexity-model ... --stats` files (and, optionally, the
per-dialog JSONL of scripts that scored dialogs one at a time). Usage:
    python results/model-complexity/tables.py NAME=STATS.json [NAME=STATS.json ...] [--probe PROBE.jsonl] [--json OUT]
"""

from __future__ import annotations

import json
import sys

BANDS = ("easy", "medium", "hard")


def _share(counts: dict, n: int) -> str:
    return " / ".join(f"{counts.get(b, 0) / n:.2f}" for b in BANDS) if n else "-"


def main(argv: list[str]) -> int:
    runs, probe, out = {}, None, None
    it = iter(argv)
    for a in it:
        if a == "--probe":
            probe = next(it)
        elif a == "--json":
            out = next(it)
        else:
            name, path = a.split("=", 1)
            runs[name] = json.load(open(path))
    summary: dict = {"runs": {}}
    for name, st in runs.items():
        loss = st["loss"]
        n = st["n"]
        print(f"\n### {name}: loss per dialog type (kept dialogs)\n")
        print("| type | n | min | q1 | median | q3 | max | edges (easy\\|medium, medium\\|hard) |")
        print("|---|---|---|---|---|---|---|---|")
        for t, d in loss["by_type"].items():
            e = loss["edges"].get(t, ["-", "-"])
            print(f"| {t} | {d['n']} | {d['min']:.3f} | {d['q1']:.3f} | {d['median']:.3f} | {d['q3']:.3f} | "
                  f"{d['max']:.3f} | {e[0]:.3f}, {e[1]:.3f} |")
        b = loss["bands"]
        print(f"\n{name}: band shares easy / medium / hard (n = {n})\n")
        print("| requested | first candidate (unsteered) | obtained (steered) | in target band | mean resamples |")
        print("|---|---|---|---|---|")
        print(f"| {_share(b['target'], n)} | {_share(b['first_candidate'], n)} | {_share(b['realised'], n)} | "
              f"{b['hit_rate']:.3f} | {loss['resamples_mean']} |")
        summary["runs"][name] = {"n": n, "loss_by_type": loss["by_type"], "edges": loss["edges"], "bands": b,
                                 "resamples_mean": loss["resamples_mean"]}
    if probe:
        rows = [json.loads(x) for x in open(probe)]
        print(f"\n### one-at-a-time scoring ({len(rows)} dialogs)\n")
        print("| type | knob level of | tokens | assistant tokens | loss | formula complexity | wall s | CPU s |")
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['type']} | {r['level_of']} | {r['tokens']} | {r['scored_tokens']} | {r['loss']:.3f} | {r['complexity']} | "
                  f"{r['wall_s']} | {r['cpu_s']} |")
        summary["probe"] = rows
    if out:
        with open(out, "w") as f:
            json.dump(summary, f, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
