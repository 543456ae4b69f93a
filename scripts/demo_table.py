"""The README's demo table, rendered from the table the demo wrote (``results/demo/table.json``, a copy of
``outputs/demo/table.json`` from the run that ``results/demo/README.md`` describes).

    python scripts/demo_table.py            # print the block README.md shows between its demo-table markers
    python scripts/demo_table.py --write    # rewrite that part of README.md in place

tests/test_project.py checks that README.md matches this output, so the README cannot print figures the demo did
not produce. After a new demo run: copy its table.json (and the stage lines) into results/demo/, then --write.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from funrl_lib.evaluation import metric_cell

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TABLE = ROOT / "results" / "demo" / "table.json"
BEGIN, END = "<!-- demo-table:begin (python scripts/demo_table.py --write) -->", "<!-- demo-table:end -->"

# The rows the README shows, in this order, with their labels; results/demo/table.md has every metric.
ROWS = [
    ("heldout/template_ok", "held-out: think template followed"),
    ("heldout/answer_ok", "held-out: exact-call accuracy"),
    ("heldout/reward", "held-out: binary reward (template and call)"),
    ("bfcl/[non_live]", "BFCL v4 Non-Live"),
    ("bfcl/[live]", "BFCL v4 Live"),
    ("bfcl/[irrelevance]", "BFCL v4 irrelevance"),
]


def render(table: dict) -> str:
    """The markdown block (a sentence on seeds and spread, then the table) for ``table`` (a table.json)."""
    arms, seeds, metrics = table["arms"], table["seeds"], table["metrics"]
    spread = ("mean ± half-width of the 95% interval over seeds" if table.get("spread") == "ci95"
              else "one seed, so no spread")
    lines = [f"Seed{'s' if len(seeds) > 1 else ''} {', '.join(str(s) for s in seeds)} ({spread}); % correct, rounded "
             "to 0.1; every metric in [results/demo/table.md](results/demo/table.md).", "",
             "| | " + " | ".join(a.upper() for a in arms) + " |", "|---|" + "---|" * len(arms)]
    for key, label in ROWS:
        cells = metrics.get(key, {})
        lines.append(f"| {label} | " + " | ".join(metric_cell(cells.get(a)) for a in arms) + " |")
    return "\n".join(lines) + "\n"


def current_readme_section(text: str | None = None) -> str:
    text = README.read_text(encoding="utf-8") if text is None else text
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{README}: the markers {BEGIN!r} and {END!r} are missing")
    return text.split(BEGIN, 1)[1].split(END, 1)[0].lstrip("\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help="rewrite README.md's demo table in place")
    args = ap.parse_args(argv)
    block = render(json.loads(TABLE.read_text(encoding="utf-8")))
    if not args.write:
        print(block, end="")
        return 0
    text = README.read_text(encoding="utf-8")
    current_readme_section(text)  # the markers must be there
    head, rest = text.split(BEGIN, 1)
    README.write_text(head + BEGIN + "\n" + block + END + rest.split(END, 1)[1], encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
