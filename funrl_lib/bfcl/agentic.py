"""BFCL v4 agentic categories: loading, scoring of result files, and where generation can run.

Five categories, 665 entries: ``web_search_base`` and ``web_search_no_snippet`` (both the 100 questions of
``BFCL_v4_web_search.json``; the second hides search snippets), ``memory_kv``, ``memory_vector`` and
``memory_rec_sum`` (the 155 questions of ``BFCL_v4_memory.json`` in 5 scenarios, asked after warm-up dialogues that the
model stored in a memory backend: key-value, vector, recursive summary).

**Scoring** is a port of ``eval_runner._evaluate_single_agentic_entry`` and ``agentic_eval/agentic_checker.py``
(bfcl-eval 2026.3.23, Apache-2.0). It needs no network and no model: only strings are compared.

* A result line is ``{"id", "result": [[step output, ...]]}``: a list holding **one** list of the model's step outputs
  (else ``agentic:inference_error``). Ids are BFCL's (``memory_kv_0-customer-0``, ``web_search_base_0``).
* Each step is decoded as an execution (prompt models: BFCL's Python decoder; FC models: ``QwenFCHandler``'s
  ``<tool_call>`` blocks). The answer is the **last step that does not decode to a call**; when there is none, or it
  is empty (``""``, ``None``), ``agentic:no_last_message``.
* The answer passes when one ground-truth answer, normalised (lower case, ``,./-_*^()`` removed, ``'`` -> ``"``,
  **spaces kept**), occurs as a whole word (regex ``\\b...\\b``) in the normalised answer; else
  ``agentic:answer_not_found``. A list answer is replaced by its first element, anything else by its ``str``.

**Result layout** (BFCL's): ``<model>/agentic/BFCL_v4_web_search_<base|no_snippet>_result.json`` and
``<model>/agentic/memory/<kv|vector|rec_sum>/BFCL_v4_memory_<backend>_result.json``.

Parity: tests/test_bfcl_agentic_parity.py, on fixtures recorded with the official evaluator
(``scripts/bfcl_parity.py --agentic``). Generation: :mod:`funrl_lib.bfcl.agentic_generate`.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from ..calls import qwen_fc_response, strip_think
from .data import VERSION_PREFIX, BFCLDataError, _read_jsonl, find_data_dir
from .multi_turn import execution_strings
from .score import LineProblem, ScoreReport, score_lines

__all__ = ["AGENTIC_CATEGORIES", "MEMORY_CATEGORIES", "MEMORY_SCENARIOS", "WEB_SEARCH_CATEGORIES", "AgenticEntry",
           "agentic_checker", "agentic_standardize", "check_agentic_result", "is_agentic", "load_agentic",
           "result_group", "score_agentic", "score_agentic_file"]

WEB_SEARCH_CATEGORIES = ("web_search_base", "web_search_no_snippet")
MEMORY_CATEGORIES = ("memory_kv", "memory_vector", "memory_rec_sum")
AGENTIC_CATEGORIES = WEB_SEARCH_CATEGORIES + MEMORY_CATEGORIES
MEMORY_SCENARIOS = ("student", "customer", "finance", "healthcare", "notetaker")  # category_mapping order
# The memory backend classes (MemoryAPI_<backend>) and the web-search class, as BFCL names them
BACKEND_CLASS = {"memory_kv": "MemoryAPI_kv", "memory_vector": "MemoryAPI_vector",
                 "memory_rec_sum": "MemoryAPI_rec_sum", "web_search_base": "WebSearchAPI",
                 "web_search_no_snippet": "WebSearchAPI"}
_STRIP = re.compile(r"[\,\.\/\-\_\*\^\(\)]")


def is_agentic(category: str) -> bool:
    return category in AGENTIC_CATEGORIES


def result_group(category: str) -> str:
    """BFCL's folder for a category's result file (``get_directory_structure_by_category``)."""
    if category in MEMORY_CATEGORIES:
        return os.path.join("agentic", "memory", category[len("memory_"):])
    return "agentic"


@dataclass
class AgenticEntry:
    """One agentic question: its turns (one user turn), the scenario (memory), the accepted answers."""

    id: str
    category: str
    question: list
    ground_truth: list
    involved_classes: list
    scenario: str | None
    raw: dict


@lru_cache(maxsize=8)
def _load(category: str, data_dir: Path) -> dict[str, AgenticEntry]:
    stem = "memory" if category in MEMORY_CATEGORIES else "web_search"
    questions = _read_jsonl(data_dir / f"{VERSION_PREFIX}_{stem}.json")
    answers = _read_jsonl(data_dir / "possible_answer" / f"{VERSION_PREFIX}_{stem}.json")
    if len(answers) != len(questions):
        raise BFCLDataError(f"{category}: {len(questions)} questions but {len(answers)} possible answers")
    entries: dict[str, AgenticEntry] = {}
    for q, a in zip(questions, answers):  # aligned by position, as BFCL does
        if q.get("id") != a.get("id"):
            raise BFCLDataError(f"{category}: question {q.get('id')!r} but possible answer {a.get('id')!r}")
        # process_web_search_test_case / process_memory_test_case: the category goes into the id
        entry_id = q["id"].replace(stem, category)
        entries[entry_id] = AgenticEntry(entry_id, category, q.get("question", []), a.get("ground_truth", []),
                                         [BACKEND_CLASS[category]], q.get("scenario"), q)
    return entries


def load_agentic(category: str, data_dir: str | os.PathLike | None = None) -> dict[str, AgenticEntry]:
    """Entries of one agentic category keyed by BFCL's id (``memory_kv_0-customer-0``), in file order (cached)."""
    if category not in AGENTIC_CATEGORIES:
        raise BFCLDataError(f"{category!r} is not an agentic category ({', '.join(AGENTIC_CATEGORIES)})")
    return _load(category, find_data_dir(data_dir))


def agentic_standardize(text: str) -> str:
    """``agentic_checker.standardize_string``: drop ``,./-_*^()`` (spaces are kept), lower case, ``'`` -> ``"``."""
    return _STRIP.sub("", text).lower().replace("'", '"')


def agentic_checker(model_response: Any, possible_answers: list) -> dict[str, Any]:
    """``agentic_checker``: does one normalised answer occur as a whole word in the normalised response?"""
    standardized_answers = [agentic_standardize(a) for a in possible_answers]
    if type(model_response) is list:
        model_response = model_response[0]
    if type(model_response) is not str:
        model_response = str(model_response)
    response = agentic_standardize(model_response)
    for answer in standardized_answers:
        if re.search(rf"\b{re.escape(answer)}\b", response):
            return {"valid": True, "error_type": None}
    return {"valid": False, "error_type": "agentic:answer_not_found",
            "error": "None of the expected answers were found in the model response."}


_QWEN_FC_BLOCK = re.compile(r"<tool_call>\n(.*?)\n</tool_call>", re.DOTALL)  # QwenFCHandler._extract_tool_calls


def _qwen_fc_executes(step: Any) -> bool:
    """``QwenFCHandler.decode_execute`` succeeds with at least one call: every ``<tool_call>`` block that parses as
    JSON must be an object with ``name`` (hashable) and ``arguments`` (an object, or a string holding one, which
    ``convert_to_function_call`` parses)."""
    if not isinstance(step, str):
        return False  # re.findall on a non-string raises
    parsed = []
    for block in _QWEN_FC_BLOCK.findall(step):
        try:
            parsed.append(json.loads(block))
        except Exception:  # noqa: BLE001 - BFCL skips a block that does not parse
            pass
    if any(type(item) != dict for item in parsed):
        return False
    try:
        for item in parsed:
            {item["name"]: None}  # noqa: B018 - the dict BFCL builds: a missing or unhashable name raises
            value = item["arguments"]
            if type(value) == str:
                value = json.loads(value)
            [f"{k}={v!r}" for k, v in value.items()]  # noqa: B018 - raises where BFCL's rendering raises
    except Exception:  # noqa: BLE001
        return False
    return bool(parsed)


def _decodes_to_calls(step: Any, fc: bool) -> bool:
    """Does ``handler.decode_execute(step)`` succeed with a non-empty execution list (``is_empty_execute_response``
    false)? Prompt models: BFCL's Python decoder; FC models: QwenFCHandler's blocks."""
    if fc:
        return _qwen_fc_executes(step)
    try:
        strings = execution_strings(step)
    except Exception:  # noqa: BLE001 - BFCL: any decoding failure makes the step a candidate answer
        return False
    return not (len(strings) == 0 or (len(strings) == 1 and len(strings[0]) == 0))


def check_agentic_result(entry: AgenticEntry, result: Any, *, fc: bool = False,
                         strip_thinking: bool = False) -> dict[str, Any]:
    """The verdict of one result (``_evaluate_single_agentic_entry``): ``{"valid", "error_type", ...}``."""
    if type(result) != list or len(result) != 1:
        return {"valid": False, "error_type": "agentic:inference_error",
                "error": "Error during inference phase. Model did not output a list of model responses."}
    last = None
    steps = result[0]
    for step in steps:
        if strip_thinking:
            step = strip_think(step)
        if fc:
            step = qwen_fc_response(step)
        if not _decodes_to_calls(step, fc):
            last = step
    if not last:
        return {"valid": False, "error_type": "agentic:no_last_message",
                "error": "Cannot find the last chat message that is not a function call."}
    verdict = agentic_checker(last, entry.ground_truth)
    if not verdict["valid"]:
        verdict["answer"] = str(last)[:300]
    return verdict


def score_agentic(category: str, lines: Iterable[str], *, entries: dict[str, AgenticEntry] | None = None,
                  data_dir: str | os.PathLike | None = None, source: str = "<results>", fc: bool = False,
                  strip_thinking: bool = False) -> ScoreReport:
    """Score agentic result lines of one category; one verdict per line (engine of ``funrl bfcl score``)."""
    if entries is None:
        entries = load_agentic(category, data_dir)

    def check(entry: AgenticEntry, result: Any) -> dict[str, Any]:
        try:
            return check_agentic_result(entry, result, fc=fc, strip_thinking=strip_thinking)
        except Exception as e:  # noqa: BLE001 - where the official checker raises (e.g. an empty list answer)
            raise LineProblem("funrl:checker_error", f"BFCL's agentic checker fails here ({type(e).__name__}: "
                                                     f"{str(e)[:200]})") from None

    return score_lines(category, lines, entries, check, source=source)


def score_agentic_file(category: str, path: str | os.PathLike, **kwargs: Any) -> ScoreReport:
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        return score_agentic(category, f, source=str(path), **kwargs)
