"""How steering moved the real model's dialogs (results/model-complexity/README.md, section c), from the dialogs file
of `funrl dialogs --complexity-model ...`: first candidates and kept dialogs in their target band, and whether each
resample's loss moved the way the band needed.
    python results/model-complexity/steering_moves.py outputs/mc-real/d.jsonl"""

from __future__ import annotations

import json
import sys
from collections import Counter

from funrl_lib.synth.dialogs.model_guided import loss_band as band  # the generator's own band edges

ORDER = {"easy": 0, "medium": 1, "hard": 2}


def main(path: str) -> None:
    metas = [json.loads(line)["meta"] for line in open(path, encoding="utf-8") if line.strip()]
    first = sum(band(m["loss_tries"][0], m["loss_edges"]) == m["band"] for m in metas)
    kept = sum(m["loss_band"] == m["band"] for m in metas)
    moves: Counter = Counter()
    for m in metas:
        tries, target = m["loss_tries"], ORDER[m["band"]]
        for a, b in zip(tries, tries[1:]):
            level = ORDER[band(a, m["loss_edges"])]
            if level < target:
                moves["needed up, went up" if b > a else "needed up, did not"] += 1
            elif level > target:
                moves["needed down, went down" if b < a else "needed down, did not"] += 1
    print(f"dialogs {len(metas)}; first candidate in target band {first}; kept in target band {kept}")
    print("resamples:", dict(sorted(moves.items())))


if __name__ == "__main__":
    main(sys.argv[1])
