"""The think-template table of results/base-0.5b-bfcl/README.md, from the raw outputs of the funrl-prompt run:
    python results/base-0.5b-bfcl/think_table.py outputs/base-bfcl/Qwen2.5-Coder-0.5B-Instruct-funrl 256
(the folder `funrl bfcl generate` wrote, and its --max-new-tokens)."""

from __future__ import annotations

import glob
import json
import sys


def main(folder: str, limit: int) -> None:
    rows = []
    for path in sorted(glob.glob(f"{folder}/*/BFCL_v4_*_result.json")):
        category = path.rsplit("BFCL_v4_", 1)[1][: -len("_result.json")]
        with open(path, encoding="utf-8") as f:
            for line in f:
                row = json.loads(line)
                # result_raw is stored only when stripping the think block changed the text
                rows.append((category, row.get("result_raw", row["result"]), row["result"], row["output_token_count"]))

    def cells(rs: list) -> str:
        return " | ".join(str(x) for x in (len(rs), sum("<think>" in r[1] for r in rs),
                                           sum("</think>" in r[1] for r in rs), sum(r[3] >= limit for r in rs),
                                           sum(bool(str(r[2]).strip()) for r in rs)))

    print(f"| category | entries | open `<think>` | close `</think>` | at the {limit}-token limit "
          "| non-empty answer after the think block |")
    print("|---|---|---|---|---|---|")
    for category in dict.fromkeys(r[0] for r in rows):
        print(f"| {category} | {cells([r for r in rows if r[0] == category])} |")
    print(f"| **all** | {cells(rows)} |")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
