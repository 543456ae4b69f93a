"""BFCL v4 data: where it is, and the questions and possible answers of one category.

The data ships inside the official ``bfcl-eval`` wheel (``bfcl_eval/data/``), installed without its dependencies::

    pip install --no-deps bfcl-eval==2026.3.23

The folder is found with ``importlib.util.find_spec`` (which does not run the package) so none of bfcl_eval's heavy
modules is imported. A gorilla checkout works too: pass its ``data`` folder, the ``berkeley-function-call-leaderboard``
folder or the repository root as ``data_dir`` (or set ``FUNRL_BFCL_DATA``).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from ..io import read_records
from ..tools import ToolDef

__all__ = [
    "AST_CATEGORIES",
    "BFCLDataError",
    "BFCLEntry",
    "CATEGORY_GROUP",
    "JAVA_JS_CATEGORIES",
    "RELEVANCE_CATEGORIES",
    "SUPPORTED_CATEGORIES",
    "VERSION_PREFIX",
    "bfcl_data_version",
    "find_data_dir",
    "load_category",
]

VERSION_PREFIX = "BFCL_v4"
PINNED_BFCL_EVAL = "2026.3.23"

# Python single-turn categories scored by funrl's checker, with the result-file group folder BFCL uses.
AST_CATEGORIES = ("simple_python", "multiple", "parallel", "parallel_multiple",
                  "live_simple", "live_multiple", "live_parallel", "live_parallel_multiple")
RELEVANCE_CATEGORIES = ("irrelevance", "live_irrelevance", "live_relevance")
SUPPORTED_CATEGORIES = AST_CATEGORIES + RELEVANCE_CATEGORIES
# Java and JavaScript (non-live "simple"): loaded here too, decoded and checked by funrl_lib.bfcl.java_js.
JAVA_JS_CATEGORIES = ("simple_java", "simple_javascript")
CATEGORY_GROUP = {c: ("live" if c.startswith("live_") else "non_live") for c in SUPPORTED_CATEGORIES + JAVA_JS_CATEGORIES}
# Categories BFCL has that this module does not load (multi-turn, agentic and format sensitivity have their own
# modules); :func:`check_category` says where they are handled.
OTHER_CATEGORIES = ("simple_java", "simple_javascript", "multi_turn_base", "multi_turn_miss_func",
                    "multi_turn_miss_param", "multi_turn_long_context", "web_search_base", "web_search_no_snippet",
                    "memory_kv", "memory_vector", "memory_rec_sum", "format_sensitivity")

INSTALL_HINT = (f"install it with `pip install --no-deps bfcl-eval=={PINNED_BFCL_EVAL}` (or `make setup`), "
                "or pass --data-dir pointing at a gorilla checkout's berkeley-function-call-leaderboard/bfcl_eval/data")


class BFCLDataError(RuntimeError):
    """BFCL data missing, unreadable or inconsistent; the message says what and where."""


@dataclass
class BFCLEntry:
    """One BFCL test entry: the question turns, the functions offered, and (for AST categories) the possible answer
    ``[{func_name: {param: [allowed values, "" = may be omitted]}}]``."""

    id: str
    category: str
    question: list
    functions: list[ToolDef]
    raw_functions: list[dict]
    possible_answer: list[dict] | None


def _is_data_dir(path: Path) -> bool:
    return (path / f"{VERSION_PREFIX}_simple_python.json").is_file()


def _installed_data_dirs() -> list[Path]:
    """``data`` folders of the installed bfcl_eval package, found without importing it."""
    try:
        spec = importlib.util.find_spec("bfcl_eval")
    except (ImportError, ValueError):
        return []
    return [Path(p) / "data" for p in (spec.submodule_search_locations or [])] if spec else []


def find_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding ``BFCL_v4_*.json`` and ``possible_answer/``.

    Order: ``data_dir`` (a data folder, a ``berkeley-function-call-leaderboard`` folder or a gorilla root), then the
    ``FUNRL_BFCL_DATA`` environment variable, then the installed ``bfcl_eval`` package.
    """
    given = data_dir if data_dir is not None else os.environ.get("FUNRL_BFCL_DATA")
    if given:
        root = Path(given).expanduser()
        for sub in ("", "bfcl_eval/data", "data", "berkeley-function-call-leaderboard/bfcl_eval/data"):
            path = root / sub if sub else root
            if _is_data_dir(path):
                return path
        source = "--data-dir" if data_dir is not None else "FUNRL_BFCL_DATA"
        raise BFCLDataError(f"{source}={given}: no {VERSION_PREFIX}_simple_python.json there or in its bfcl_eval/data, "
                            "data or berkeley-function-call-leaderboard/bfcl_eval/data sub-folders")
    for path in _installed_data_dirs():
        if _is_data_dir(path):
            return path
    raise BFCLDataError(f"BFCL v4 data not found: the bfcl_eval package is not installed; {INSTALL_HINT}")


def bfcl_data_version(data_dir: Path | None = None) -> str:
    """``bfcl-eval==<version>`` for the installed wheel's data, or the folder for a checkout."""
    if data_dir is not None:
        if Path(data_dir).resolve() not in [p.resolve() for p in _installed_data_dirs()]:
            return f"data folder {data_dir}"
    try:
        return f"bfcl-eval=={importlib.metadata.version('bfcl-eval')}"
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        raise BFCLDataError(f"{path}: file not found")
    rows = []
    for rec in read_records(path):
        if rec.error is not None:
            raise BFCLDataError(str(rec.error))
        rows.append(rec.value)
    return rows


def check_category(category: str) -> None:
    if category in SUPPORTED_CATEGORIES or category in JAVA_JS_CATEGORIES:
        return
    if category.startswith("multi_turn_"):
        raise BFCLDataError(f"category {category!r} is multi-turn: load it with funrl_lib.bfcl.multi_turn."
                            f"load_multi_turn (entries run on BFCL's simulated backends)")
    if category in OTHER_CATEGORIES:
        raise BFCLDataError(f"category {category!r} is not a single-turn category: this loader and `funrl bfcl "
                            f"score` cover {', '.join(SUPPORTED_CATEGORIES + JAVA_JS_CATEGORIES)} (and multi-turn); "
                            f"agentic and format-sensitivity result files are scored by `funrl bfcl evaluate`")
    raise BFCLDataError(f"unknown BFCL category {category!r}; expected one of: "
                        f"{', '.join(SUPPORTED_CATEGORIES + JAVA_JS_CATEGORIES)}")


@lru_cache(maxsize=32)
def _load(category: str, data_dir: Path) -> dict[str, BFCLEntry]:
    questions = _read_jsonl(data_dir / f"{VERSION_PREFIX}_{category}.json")
    answers: list[dict] | None = None
    if category in AST_CATEGORIES or category in JAVA_JS_CATEGORIES:
        answers = _read_jsonl(data_dir / "possible_answer" / f"{VERSION_PREFIX}_{category}.json")
        if len(answers) != len(questions):
            raise BFCLDataError(f"{category}: {len(questions)} questions but {len(answers)} possible answers")
    entries: dict[str, BFCLEntry] = {}
    for i, q in enumerate(questions):
        entry_id = q.get("id")
        if not isinstance(entry_id, str):
            raise BFCLDataError(f"{data_dir / f'{VERSION_PREFIX}_{category}.json'}:{i + 1}: entry without an id")
        possible = None
        if answers is not None:
            # BFCL aligns questions and answers by position (eval_runner._subset_entries_by_model_ids).
            possible = answers[i].get("ground_truth")
            if answers[i].get("id") != entry_id:
                raise BFCLDataError(f"{category}: question {i} is {entry_id!r} but its possible answer is "
                                    f"{answers[i].get('id')!r}")
        raw_functions = q.get("function", [])
        functions = [ToolDef.from_dict(f, where=f"{entry_id}.function[{j}]") for j, f in enumerate(raw_functions)]
        entries[entry_id] = BFCLEntry(entry_id, category, q.get("question", []), functions, raw_functions, possible)
    return entries


def load_category(category: str, data_dir: str | os.PathLike | None = None) -> dict[str, BFCLEntry]:
    """Entries of one single-turn category (Python, Java or JavaScript), keyed by id, in file order."""
    check_category(category)
    return _load(category, find_data_dir(data_dir))

