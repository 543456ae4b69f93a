"""Systematic agentic results (``{"result": [[step, ...]]}`` values) for every web-search and memory entry: the inputs
of the agentic parity test against the official evaluator (scripts/bfcl_parity.py ``--agentic``).

From each entry's accepted answers: the answer in BFCL's requested ``{'answer': ..., 'context': ...}`` form after
tool-call steps, alone, in other case and punctuation, with spaces changed, inside a longer word, as a list, after a
think block, followed by a later message without it; wrong answers and refusals; results of the wrong shape (a
string, an empty list, two turns), steps that are all calls, empty or non-string last steps; Hermes ``<tool_call>``
steps (valid, string arguments, broken); random character edits of the answer. Deterministic (seeded by the entry
id). Bump :data:`AGENTIC_MUTATIONS_VERSION` when the output changes.
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

from .agentic import AgenticEntry
from .mutations import random_char_edits

__all__ = ["AGENTIC_MUTATIONS_VERSION", "agentic_mutations", "agentic_digest"]

AGENTIC_MUTATIONS_VERSION = 1


def agentic_digest(items: list[tuple[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(items, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]


def _final(answer: str, context: str = "found in memory") -> str:
    return repr({"answer": answer, "context": context})


def agentic_mutations(entry: AgenticEntry) -> list[tuple[str, Any]]:
    """``(name, result)`` pairs for ``entry``, names unique, in a fixed order."""
    answers = [a for a in entry.ground_truth if isinstance(a, str)] or ["unknown"]
    first, last = answers[0], answers[-1]
    memory = entry.category.startswith("memory")
    tool = ("[core_memory_retrieve_all()]" if memory else f"[search_engine_query(keywords={first.split()[0]!r})]")
    tool_fc = ("<tool_call>\n" + json.dumps({"name": "core_memory_retrieve_all", "arguments": {}}) + "\n</tool_call>"
               if memory else "<tool_call>\n" + json.dumps({"name": "search_engine_query",
                                                             "arguments": {"keywords": first}}) + "\n</tool_call>")
    out: list[tuple[str, Any]] = [
        ("gold", [[tool, _final(first)]]),
        ("gold_last_alternative", [[tool, _final(last)]]),
        ("gold_alone", [[_final(first)]]),
        ("gold_plain_text", [[tool, f"The answer is {first}."]]),
        ("gold_upper", [[tool, _final(first.upper())]]),
        ("gold_punctuated", [[tool, _final(f"({first}).")]]),
        ("gold_hyphenated", [[tool, _final(first.replace(" ", "-"))]]),
        ("gold_spaces_removed", [[tool, _final(first.replace(" ", ""))]]),
        ("gold_double_spaces", [[tool, _final(first.replace(" ", "  "))]]),
        ("gold_inside_word", [[tool, _final(f"x{first}y")]]),
        ("gold_quoted", [[tool, _final(f"'{first}'")]]),
        ("gold_as_list_step", [[tool, [_final(first)]]]),
        ("gold_in_think", [[tool, f"<think>It is {first}.</think>{{'answer': 'I do not know', 'context': ''}}"]]),
        ("gold_then_other_message", [[_final(first), tool, _final("I do not know")]]),
        ("gold_then_call", [[_final(first), tool]]),
        ("gold_before_empty_step", [[_final(first), ""]]),
        ("gold_fc_steps", [[tool_fc, _final(first)]]),
        ("gold_fc_then_text", [[tool_fc, f"{tool_fc}\n{first}"]]),
        ("gold_in_call_args", [[f"[answer(text={first!r})]"]]),
        ("gold_in_broken_call", [[f"[answer(text={first!r}"]]),
        ("wrong_answer", [[tool, _final("I do not know", "I do not know")]]),
        ("cannot_answer", [[tool, _final("I cannot answer this question", "no data")]]),
        ("only_calls", [[tool, tool]]),
        ("empty_steps", [[]]),
        ("empty_last_step", [[tool, ""]]),
        ("none_last_step", [[tool, None]]),
        ("number_step", [[tool, 42]]),
        ("dict_step", [[tool, {"answer": first}]]),
        ("empty_list_step", [[tool, "[]"]]),
        ("not_a_list", _final(first)),
        ("error_string", "Error during inference: timeout"),
        ("empty_result", []),
        ("two_turns", [[_final(first)], [_final(first)]]),
        ("fc_string_arguments", [["<tool_call>\n" + json.dumps({"name": "f", "arguments": "{\"a\": 1}"})
                                  + "\n</tool_call>", _final(first)]]),
        ("fc_bad_arguments_last", [[_final(first), "<tool_call>\n" + json.dumps({"name": "f", "arguments": [1]})
                                    + "\n</tool_call>"]]),
        ("fc_no_name_last", [[_final(first), "<tool_call>\n" + json.dumps({"arguments": {}}) + "\n</tool_call>"]]),
        ("fc_broken_json_last", [[_final(first), "<tool_call>\n{not json}\n</tool_call>"]]),
        ("fc_list_block_last", [[_final(first), "<tool_call>\n[1, 2]\n</tool_call>"]]),
        ("python_call_last", [[_final(first), "[f(a=1)]"]]),
        ("python_empty_dict_arg_last", [[_final(first), "[f(a={})]"]]),
    ]
    rng = random.Random(f"funrl-agentic-mutations-v{AGENTIC_MUTATIONS_VERSION}:{entry.id}")
    for name, text in random_char_edits(rng, _final(first), 3, ",./-_*^() '\"x"):
        out.append((name, [[tool, text]]))
    seen: set[str] = set()
    return [(n, r) for n, r in out if not (n in seen or seen.add(n))]
