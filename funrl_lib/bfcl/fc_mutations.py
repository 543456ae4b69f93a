"""Raw FC-style (Hermes / Qwen ``<tool_call>``) outputs for every BFCL entry: the inputs of the FC parity test.

The FC counterpart of :mod:`funrl_lib.bfcl.mutations`. For an AST entry the correct answer is built from its possible
answer (:func:`~funrl_lib.bfcl.checker.gold_calls`) and written as ``<tool_call>\\n{"name": ..., "arguments": ...}
\\n</tool_call>`` blocks, then varied the ways a model's FC reply varies: think text before the blocks (closed,
unclosed, holding a call of its own), prose before or after, several blocks, compact or indented JSON, blocks without
the newlines BFCL's pattern needs, ``\\r\\n``, a missing closing tag, broken JSON in one or all blocks, a bare JSON list
or object without tags, Python-list syntax, a JSON list inside a block, arguments as a JSON string, ``parameters``
for ``arguments``, OpenAI's nested form, names that are not strings, duplicate JSON keys, ``NaN``; and wrong answers:
wrong name, dots as underscores, a missing / extra / wrong / int-float-swapped argument, reordered, missing and
duplicated calls, seeded character edits. For a relevance entry the same decoding variants are applied to a call of
the first function offered, plus refusals and degenerate blocks (``{}``, ``[]``, a string, an empty block).

Each output is ``(name, raw text)``; the list is deterministic, so the committed official verdicts
(``tests/fixtures/bfcl_fc_parity``, written by ``scripts/bfcl_parity.py --fc``) match regenerated texts by digest
(:func:`funrl_lib.bfcl.mutations.mutations_digest`). Bump :data:`FC_MUTATIONS_VERSION` when the output changes.
"""

from __future__ import annotations

import json
import random
from typing import Any

from ..calls import Call
from .checker import gold_calls
from .data import BFCLEntry
from .mutations import _dummy, _wrong_value, mutations_digest, random_char_edits

__all__ = ["FC_MUTATIONS_VERSION", "fc_mutations", "mutations_digest"]

FC_MUTATIONS_VERSION = 1
_RANDOM_EDITS = 6
_EDIT_CHARS = "{}[]\",:<>/\n \\"


def _obj(call: Call) -> dict[str, Any]:
    return {"name": call.name, "arguments": call.arguments}


def _dumps(obj: Any, **kwargs: Any) -> str | None:
    kwargs.setdefault("ensure_ascii", False)
    try:
        return json.dumps(obj, allow_nan=False, **kwargs)
    except (TypeError, ValueError):
        return None


def _block(body: str) -> str:
    return f"<tool_call>\n{body}\n</tool_call>"


def _blocks(bodies: list[str], sep: str = "\n") -> str:
    return sep.join(_block(b) for b in bodies)


def _render(calls: list[Call], **kwargs: Any) -> str | None:
    bodies = [_dumps(_obj(c), **kwargs) for c in calls]
    return None if any(b is None for b in bodies) else _blocks(bodies)  # type: ignore[arg-type]


def fc_mutations(entry: BFCLEntry) -> list[tuple[str, str]]:
    """All raw FC outputs for ``entry`` (AST or relevance category), in a fixed order, names unique."""
    if entry.possible_answer:
        calls = gold_calls(entry.possible_answer, pick="first")
        out = _ast_variants(entry, calls)
    else:
        calls = []
        if entry.functions:
            tool = entry.functions[0]
            required, view = tool.checker_view()
            calls = [Call(tool.name, {p: _dummy(view[p][0], view[p][2]) for p in required if p in view})]
        out = _relevance_variants(entry, calls)
    seen: set[str] = set()
    unique = []
    for name, text in out:
        if name not in seen:
            seen.add(name)
            unique.append((name, text))
    return unique


def _decoding_variants(calls: list[Call], seed: str, label: str) -> list[tuple[str, str]]:
    """The same calls framed and malformed in the ways that matter to BFCL's FC decoder; ``label`` names the plain
    rendering."""
    text = _render(calls)
    if not calls or text is None:
        return []
    objs = [_obj(c) for c in calls]
    bodies = [_dumps(o) or "" for o in objs]
    out = [
        (label, text),
        ("compact_json_no_separator", "".join(_block(_dumps(o, separators=(",", ":")) or "") for o in objs)),
        ("indented_json", _blocks([_dumps(o, indent=2) or "" for o in objs])),
        ("ascii_escaped_json", _blocks([_dumps(o, ensure_ascii=True) or "" for o in objs])),
        ("blank_lines_between_blocks", _blocks(bodies, sep="\n\n")),
        ("spaces_inside_tags", _blocks([" " + b + " " for b in bodies])),
        ("think_then_answer", "<think>\nThe user asks for this; the tool fits. I will call it.\n</think>\n\n" + text),
        ("think_no_newline_then_answer", "<think>reasoning</think>" + text),
        ("think_unclosed_then_answer", "<think>\nreasoning that never ends\n" + text),
        ("think_holding_answer_then_prose", "<think>\n" + text + "\n</think>\n\nI cannot help with that."),
        ("think_holding_answer_then_answer", "<think>\nDraft:\n" + text + "\n</think>\n" + text),
        ("two_think_blocks_then_answer", "<think>a</think>\n" + _blocks(['{"name": "draft", "arguments": {}}'])
         + "\n<think>b</think>\n" + text),
        ("prose_then_answer", "Sure! I will call the function for you.\n" + text),
        ("answer_then_prose", text + "\nThe results will appear once the call returns."),
        ("prose_between_blocks", "First:\n" + "\nThen:\n".join(_block(b) for b in bodies)),
        ("no_newlines_in_tags", "".join(f"<tool_call>{b}</tool_call>" for b in bodies)),
        ("newline_only_after_open_tag", "\n".join(f"<tool_call>\n{b}</tool_call>" for b in bodies)),
        ("crlf_newlines", "\r\n".join(f"<tool_call>\r\n{b}\r\n</tool_call>" for b in bodies)),
        ("uppercase_tags", text.replace("tool_call>", "TOOL_CALL>")),
        ("last_close_tag_missing", text[: -len("\n</tool_call>")]),
        ("first_close_tag_missing", text.replace("\n</tool_call>", "", 1)),
        ("first_block_json_truncated", _blocks([bodies[0][:-1]] + bodies[1:])),
        ("every_block_json_truncated", _blocks([b[:-1] for b in bodies])),
        ("python_dict_repr_in_block", _blocks([repr(o) for o in objs])),
        ("trailing_comma_json", _blocks([b[:-1] + ",}" for b in bodies])),
        ("bare_json_list", _dumps(objs) or ""),
        ("bare_json_object", bodies[0]),
        ("json_list_in_one_block", _block(_dumps(objs) or "")),
        ("json_list_in_block_then_answer", _block(_dumps(objs) or "") + "\n" + text),
        ("python_call_syntax", _python(calls)),
        ("python_call_syntax_in_block", _block(_python(calls))),
        ("arguments_as_json_string", _blocks([_dumps({"name": c.name, "arguments": _dumps(c.arguments)}) or ""
                                              for c in calls])),
        ("parameters_key", _blocks([_dumps({"name": c.name, "parameters": c.arguments}) or "" for c in calls])),
        ("no_arguments_key", _blocks([_dumps({"name": c.name}) or "" for c in calls])),
        ("null_arguments", _blocks([_dumps({"name": c.name, "arguments": None}) or "" for c in calls])),
        ("arguments_list", _blocks([_dumps({"name": c.name, "arguments": list(c.arguments.values())}) or ""
                                    for c in calls])),
        ("openai_nested_function", _blocks([_dumps({"type": "function", "function": {
            "name": c.name, "arguments": _dumps(c.arguments)}}) or "" for c in calls])),
        ("extra_keys", _blocks([_dumps({"id": f"call_{i}", "type": "function", **_obj(c)}) or ""
                                for i, c in enumerate(calls)])),
        ("name_as_number", _blocks([_dumps({"name": 7, "arguments": c.arguments}) or "" for c in calls])),
        ("name_as_null", _blocks([_dumps({"name": None, "arguments": c.arguments}) or "" for c in calls])),
        ("name_as_list", _blocks([_dumps({"name": [c.name], "arguments": c.arguments}) or "" for c in calls])),
        ("duplicate_arguments_key_last_wins", _blocks([
            '{"name": ' + json.dumps(c.name) + ', "arguments": {"zz_decoy": 1}, "arguments": '
            + (_dumps(c.arguments) or "{}") + "}" for c in calls])),
        ("one_good_block_one_broken", _blocks(bodies + ['{"name": "' + calls[0].name + '", "arguments": {'])),
        ("one_good_block_one_list", _blocks(bodies + ["[1, 2]"])),
        ("empty_block_then_answer", "<tool_call>\n\n</tool_call>\n" + text),
    ]
    out.extend(_random_edits(seed, text))
    return out


def _python(calls: list[Call]) -> str:
    from ..calls import RenderError, render_calls
    try:
        return render_calls(calls, "python")
    except RenderError:
        return "[" + ", ".join(f"{c.name}()" for c in calls) + "]"


def _random_edits(seed: str, text: str) -> list[tuple[str, str]]:
    """Seeded character edits (delete, duplicate, swap, insert a JSON / tag character) of the answer text."""
    rng = random.Random(f"funrl-fc-mutations-v{FC_MUTATIONS_VERSION}:{seed}")
    return random_char_edits(rng, text, _RANDOM_EDITS, _EDIT_CHARS)


def _with_args(call: Call, **changes: Any) -> Call:
    return Call(call.name, {**call.arguments, **changes})


def _ast_variants(entry: BFCLEntry, gold: list[Call]) -> list[tuple[str, str]]:
    out = _decoding_variants(gold, entry.id, "gold")
    if not out:
        return []

    def add(name: str, calls: list[Call]) -> None:
        text = _render(calls)
        if text is not None:
            out.append((name, text))

    add("gold_last_alternative", gold_calls(entry.possible_answer or [], pick="last"))
    first = gold[0]
    add("wrong_function_name", [Call(first.name + "_v2", first.arguments)] + gold[1:])
    if "." in first.name:
        add("dots_as_underscores", [Call(c.name.replace(".", "_"), c.arguments) for c in gold])
    if first.arguments:
        key, value = next(iter(first.arguments.items()))
        add("first_argument_missing", [Call(first.name, {k: v for k, v in first.arguments.items() if k != key})]
            + gold[1:])
        add("first_argument_wrong_value", [_with_args(first, **{key: _wrong_value(value)})] + gold[1:])
        if isinstance(value, str) and value:
            add("first_argument_upper_case", [_with_args(first, **{key: value.upper()})] + gold[1:])
        for k, v in first.arguments.items():
            if type(v) is int:
                add("int_as_float", [_with_args(first, **{k: float(v)})] + gold[1:])
                break
        for k, v in first.arguments.items():
            if type(v) is float and v.is_integer() and abs(v) < 1e15:
                add("integral_float_as_int", [_with_args(first, **{k: int(v)})] + gold[1:])
                break
        plain = _render(gold) or ""
        out.append(("nan_value", plain.replace(f"{_dumps(key)}: {_dumps(value)}", f"{_dumps(key)}: NaN", 1)))
    add("unexpected_argument", [_with_args(first, zz_unexpected=1)] + gold[1:])
    add("call_duplicated", gold + [first])
    if len(gold) > 1:
        add("calls_reversed", gold[::-1])
        add("last_call_missing", gold[:-1])
    out.append(("empty_output", ""))
    out.append(("prose_only", "I'm sorry, but I can't help with that request."))
    return out


def _relevance_variants(entry: BFCLEntry, calls: list[Call]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = [
        ("refusal_text", "None of the provided functions can be used to answer this question."),
        ("empty_output", ""),
        ("think_then_refusal", "<think>\nNo tool fits this request.\n</think>\n\nI can't help with that."),
        ("empty_object_block", _block("{}")),
        ("empty_list_block", _block("[]")),
        ("string_block", _block('"no call"')),
        ("empty_block", "<tool_call>\n\n</tool_call>"),
        ("unclosed_block", "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}"),
        ("unknown_function_block", _block('{"name": "nonexistent_function", "arguments": {"x": 1}}')),
        ("python_empty_list", "[]"),
    ]
    if calls:
        out += _decoding_variants(calls, entry.id, "call_first_function")
        out.append(("call_without_arguments", _block(_dumps({"name": calls[0].name, "arguments": {}}) or "")))
        out.append(("call_twice", (_render(calls + calls) or "")))
        if len(entry.functions) > 1:
            out.append(("second_function", _block(_dumps({"name": entry.functions[1].name, "arguments": {}}) or "")))
    return out
