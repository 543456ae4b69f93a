"""Print the library's layout, one line per module: path, line count, and the first sentence of its docstring.

    python scripts/layout.py            # the table docs/library.md shows between its layout markers
    python scripts/layout.py --write    # rewrite that part of docs/library.md in place

tests/test_project.py checks that docs/library.md matches this output, so the layout cannot drift from the code.
"""
from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "library.md"
BEGIN, END = "<!-- layout:begin (python scripts/layout.py --write) -->", "<!-- layout:end -->"


def _summary(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    text = " ".join(doc.split("\n\n", 1)[0].split())  # the first paragraph
    first = text
    for m in re.finditer(r"\.\s+(?=[A-Z`(*])", text):  # the first sentence end that is not an abbreviation
        if not re.search(r"(?:\b(?:App|Eq|Eqs|Fig|Figs|Tab|Sec|e\.g|i\.e|cf|vs|etc|v\d)|\d)$", text[:m.start()]):
            first = text[:m.start()]
            break
    first = first.rstrip(".:; ")
    return first if len(first) <= 110 else first[:107].rstrip() + "..."


def layout() -> str:
    """The markdown table of every module under funrl_lib/ (sorted by path)."""
    rows = ["| module | lines | what it is |", "|---|---|---|"]
    for path in sorted((ROOT / "funrl_lib").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        lines = len(path.read_text(encoding="utf-8").splitlines())
        rows.append(f"| `{rel}` | {lines} | {_summary(path).replace('|', '/')} |")
    return "\n".join(rows) + "\n"


def current_doc_section() -> str | None:
    text = DOC.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        return None
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="rewrite the layout section of docs/library.md")
    args = ap.parse_args()
    table = layout()
    if not args.write:
        print(table, end="")
        return
    text = DOC.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{DOC}: no layout markers ({BEGIN} ... {END})")
    head, rest = text.split(BEGIN, 1)
    DOC.write_text(head + BEGIN + "\n" + table + END + rest.split(END, 1)[1], encoding="utf-8")


if __name__ == "__main__":
    main()
