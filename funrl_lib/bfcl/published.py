"""Published BFCL scores to compare against, each with the BFCL version and board it was measured on.

Sources: the leaderboard's own score table, ``data_overall.csv`` on the ``gh-pages`` branch of
github.com/ShishirPatil/gorilla (one commit per leaderboard update: v3 boards 2025-04-13, v4 boards 2025-08-26 and
2025-12-16), and the FunRL paper's table (arXiv 2508.05118, BFCL v2). For v4 rows the summary columns that make up
the Overall are all given (Non-Live AST, Live, Irrelevance, Multi-turn, Web search, Memory), so the board's formula
can be checked on them (tests/test_bfcl_board.py). Percentages as published. Versions differ in what the
summaries mean (v3 Live includes relevance and irrelevance; v4 Live does not; v2/v3/v4 Overall are different
formulas; FunRL's "overall" is mean(Non-Live, Live)), so a comparison is only like for like within one version.
Qwen2.5 models and ToolACE-8B were retired before v4 and have no v4 score; Qwen2.5-Coder-7B-Instruct never appeared
on the board.
"""

from __future__ import annotations

__all__ = ["PUBLISHED"]

PUBLISHED: list[dict] = [
    {"model": "FunRL Qwen2.5-Coder-7B-Instruct", "bfcl": "v2 (paper)", "board": "arXiv 2508.05118 v1",
     "non_live": 90.40, "live": 81.64, "overall": 86.02, "note": "overall = mean(Non-Live, Live)"},
    {"model": "Qwen2.5-Coder-7B-Instruct (base)", "bfcl": "v2 (paper)", "board": "arXiv 2508.05118 v1",
     "non_live": 84.08, "live": 69.78, "overall": 76.93, "note": "overall = mean(Non-Live, Live)"},
    {"model": "ToolACE-2-8B (FC)", "bfcl": "v4", "board": "2025-12-16", "non_live": 87.10, "live": 77.42,
     "irrelevance": 90.79, "multi_turn": 38.38, "web_search": 8.50, "memory": 18.49, "overall": 42.44},
    {"model": "ToolACE-8B (FC)", "bfcl": "v3", "board": "2025-04-13", "non_live": 87.54, "live": 78.59,
     "irrelevance": 87.88, "multi_turn": 7.75, "overall": 58.35},
    {"model": "xLAM-2-8b-fc-r (FC)", "bfcl": "v4", "board": "2025-12-16", "non_live": 84.58, "live": 67.95,
     "irrelevance": 63.28, "multi_turn": 70.00, "web_search": 6.50, "memory": 13.98, "overall": 46.68},
    {"model": "Hammer2.1-7b (FC)", "bfcl": "v4", "board": "2025-12-16", "non_live": 85.50, "live": 69.50,
     "irrelevance": 90.12, "multi_turn": 23.87, "web_search": 0.00, "memory": 0.00, "overall": 31.67},
    {"model": "Qwen2.5-7B-Instruct (FC)", "bfcl": "v3", "board": "2025-04-13", "non_live": 85.71, "live": 74.19,
     "irrelevance": 69.08, "multi_turn": 11.50, "overall": 55.81},
    {"model": "GPT-4o-2024-11-20 (FC)", "bfcl": "v4", "board": "2025-08-26", "non_live": 83.88, "live": 70.54,
     "irrelevance": 82.11, "multi_turn": 42.50, "web_search": 40.50, "memory": 28.82, "overall": 50.27},
]
