"""Systematic mutations of correct BFCL answers: the inputs of the parity test against the official checker.

For an AST entry the correct answer is rendered from its possible answer (:func:`gold_calls`) and then perturbed in
every way a model gets it wrong or differently right: wrong values, int/float swaps, missing and extra parameters,
wrong names, reordered / missing / duplicated parallel calls, code fences, prose, think blocks, other call formats,
string case and punctuation, arithmetic and unary-operator values, positional arguments, random character edits.
For a relevance entry the outputs are refusals, calls of an offered function, and the malformed calls that BFCL
counts as refusals. Each mutation is ``(name, output text)``; the list is deterministic (seeded by the entry id) so
the committed official verdicts can be matched to regenerated texts by digest.

Bump :data:`MUTATIONS_VERSION` when the output of this module changes; the fixtures must then be regenerated with
``scripts/bfcl_parity.py``.
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

from ..calls import Call, RenderError, render_calls
from .checker import gold_calls
from .data import BFCLEntry

__all__ = ["MUTATIONS_VERSION", "mutations", "mutations_digest"]

MUTATIONS_VERSION = 1
_PER_PARAM_LIMIT = 3  # per-parameter mutations on at most this many parameters per call
_RANDOM_EDITS = 4


def mutations(entry: BFCLEntry) -> list[tuple[str, str]]:
    """All mutated outputs for ``entry`` (AST or relevance category), in a fixed order."""
    out = _ast_mutations(entry) if entry.possible_answer else _relevance_mutations(entry)
    seen: set[str] = set()
    unique = []
    for name, text in out:
        if name not in seen:  # names are unique keys within an entry
            seen.add(name)
            unique.append((name, text))
    return unique


def mutations_digest(items: list[tuple[str, str]]) -> str:
    return hashlib.sha256(json.dumps(items, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------------------------
# Rendering helpers
# ---------------------------------------------------------------------------------------------------------------

def _py(value: Any) -> str:
    return render_calls([Call("f", {"v": value})], "python")[len("[f(v="):-2]


def _call_text(name: str, args: list[tuple[str | None, str]]) -> str:
    """``name(k=v, ...)`` from already-rendered argument texts (key None = positional)."""
    return f"{name}({', '.join(v if k is None else f'{k}={v}' for k, v in args)})"


def _render(calls: list[Call]) -> str | None:
    try:
        return render_calls(calls, "python")
    except RenderError:
        return None


def _with_args(call: Call, **changes: Any) -> Call:
    args = dict(call.arguments)
    args.update(changes)
    return Call(call.name, args)


def _without(call: Call, key: str) -> Call:
    return Call(call.name, {k: v for k, v in call.arguments.items() if k != key})


def _wrong_value(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 1.5 + 1.0
    if isinstance(value, str):
        return value + " zz" if value else "zz"
    if isinstance(value, list):
        return value[:-1] if len(value) > 1 else value + value + ["zz"]
    if isinstance(value, dict):
        return {**value, "zz_key": "zz"}
    if value is None:
        return "None"
    return "zz"


def _dummy(kind: str | None, item_kind: str | None = None) -> Any:
    """A plausible value of ``kind`` (arrays hold one ``item_kind`` value)."""
    if kind in ("array", "tuple"):
        return [_dummy(item_kind if item_kind not in ("array", "tuple") else "string")]
    return {"string": "test", "integer": 1, "number": 1.5, "boolean": True, "object": {"key": "value"}}.get(
        kind or "string", "test")


# ---------------------------------------------------------------------------------------------------------------
# AST categories
# ---------------------------------------------------------------------------------------------------------------

def _ast_mutations(entry: BFCLEntry) -> list[tuple[str, str]]:
    pa = entry.possible_answer or []
    tools = {t.name: t for t in entry.functions}
    gold = gold_calls(pa, pick="first")
    gold_text = _render(gold)
    if gold_text is None:
        return []
    out: list[tuple[str, str]] = [("gold", gold_text)]

    def add(name: str, calls: list[Call] | None = None, text: str | None = None) -> None:
        if text is None and calls is not None:
            text = _render(calls)
        if text is not None:
            out.append((name, text))

    add("gold_last_alternative", gold_calls(pa, pick="last"))
    minimal = []
    for expected, call in zip(pa, gold):
        (_, params), = expected.items()
        minimal.append(Call(call.name, {k: v for k, v in call.arguments.items() if "" not in params[k]}))
    add("gold_optional_omitted", minimal)
    # Framing of the same answer.
    add("bare_without_brackets", text=gold_text[1:-1])
    add("surrounding_whitespace", text="\n  " + gold_text + " \n\n")
    add("wrapped_in_quotes", text="'" + gold_text + "'")
    add("code_fence_python", text="```python\n" + gold_text + "\n```")
    add("code_fence_plain", text="```\n" + gold_text + "\n```")
    add("inline_backticks", text="`" + gold_text + "`")
    add("prose_before", text="Sure! Here is the function call: " + gold_text)
    add("prose_after", text=gold_text + "\nLet me know if you need anything else.")
    add("think_prefix", text="<think>The user needs this function.</think>\n" + gold_text)
    add("json_format", text=render_calls(gold, "json"))
    add("hermes_format", text=render_calls(gold, "hermes"))
    add("semicolon_separated", text="; ".join(t[1:-1] for t in (_render([c]) or "[]" for c in gold)))
    add("newline_separated", text="[" + ",\n".join((_render([c]) or "[]")[1:-1] for c in gold) + "]")
    add("empty_list", text="[]")
    add("empty_output", text="")
    add("refusal_text", text="I cannot help with that request.")
    add("tuple_of_calls", text="(" + ", ".join((_render([c]) or "[]")[1:-1] for c in gold) + ",)")

    # Call-level changes.
    first = gold[0]
    add("wrong_function_name", [Call(first.name + "_v2", first.arguments)] + gold[1:])
    if first.name.upper() != first.name:
        add("function_name_uppercased", [Call(first.name.upper(), first.arguments)] + gold[1:])
    if "." in first.name:
        add("function_name_dots_to_underscores", [Call(first.name.replace(".", "_"), first.arguments)] + gold[1:])
    others = [name for name in tools if name != first.name]
    if others:
        add("other_offered_function", [Call(others[0], first.arguments)] + gold[1:])
    add("extra_call_duplicate_first", gold + [first])
    if len(gold) > 1:
        add("calls_reversed", list(reversed(gold)))
        add("calls_rotated", gold[1:] + gold[:1])
        add("last_call_dropped", gold[:-1])
        add("first_call_replaced_by_duplicate_of_last", gold[-1:] + gold[1:])
    positional = _call_text(first.name, [(None, _py(v)) for v in first.arguments.values()])
    add("positional_arguments", text="[" + ", ".join([positional] + [(_render([c]) or "")[1:-1] for c in gold[1:]]) + "]")
    add("no_arguments", [Call(first.name, {})] + gold[1:])
    add("splat_kwargs", text="[" + _call_text(first.name, [(k, _py(v)) for k, v in first.arguments.items()]
                                               + [(None, "**extra")]) + "]")

    # Parameter-level changes, on the first call and (for parallel entries) the last one.
    targets = [0] + ([len(gold) - 1] if len(gold) > 1 else [])
    for ci in targets:
        call, expected = gold[ci], pa[ci]
        (_, params), = expected.items()
        tool = tools.get(call.name)
        required, view = tool.checker_view() if tool is not None else ([], {})
        prefix = f"call{ci}"

        def swap(name: str, new_call: Call | None = None, text_call: str | None = None) -> None:
            calls = list(gold)
            if text_call is not None:
                rendered = [(_render([c]) or "")[1:-1] for c in calls]
                rendered[ci] = text_call
                add(f"{prefix}_{name}", text="[" + ", ".join(rendered) + "]")
            elif new_call is not None:
                calls[ci] = new_call
                add(f"{prefix}_{name}", calls)

        swap("extra_unknown_param", _with_args(call, zz_unknown_param=1))
        extra_optional = [p for p in view if p not in params and p not in required]
        if extra_optional:
            p = extra_optional[0]
            kind, _, item_kind = view[p]
            schema = tool.param(p) if tool is not None else None
            value = schema.default if schema is not None and schema.has_default else _dummy(kind, item_kind)
            swap(f"extra_optional_param_{p}", _with_args(call, **{p: value}))
        for p in list(params)[:_PER_PARAM_LIMIT + 2]:
            swap(f"omit_{p}", _without(call, p))
            schema_default = tool.param(p) if tool is not None else None
            if "" in params[p] and schema_default is not None and schema_default.has_default:
                swap(f"optional_at_default_{p}", _with_args(call, **{p: schema_default.default}))
        for p in [p for p in call.arguments][:_PER_PARAM_LIMIT]:
            value = call.arguments[p]
            kind = view.get(p, ("any", None, None))[0]
            swap(f"wrong_value_{p}", _with_args(call, **{p: _wrong_value(value)}))
            swap(f"none_value_{p}", _with_args(call, **{p: None}))
            swap(f"bare_name_value_{p}", text_call=_call_text(call.name, [(k, "some_variable" if k == p else _py(v))
                                                                          for k, v in call.arguments.items()]))
            swap(f"nested_call_value_{p}", text_call=_call_text(call.name, [(k, "helper(x=1)" if k == p else _py(v))
                                                                            for k, v in call.arguments.items()]))
            if isinstance(value, bool):
                swap(f"bool_as_int_{p}", _with_args(call, **{p: int(value)}))
                swap(f"bool_as_string_{p}", _with_args(call, **{p: str(value).lower()}))
            elif isinstance(value, int):
                swap(f"int_as_float_{p}", _with_args(call, **{p: float(value)}))
                swap(f"int_as_string_{p}", _with_args(call, **{p: str(value)}))
                swap(f"int_as_bool_{p}", _with_args(call, **{p: bool(value)}))
                if value > 0:
                    swap(f"unary_plus_{p}", text_call=_call_text(call.name, [(k, f"+{v!r}" if k == p else _py(v))
                                                                             for k, v in call.arguments.items()]))
                swap(f"arithmetic_{p}", text_call=_call_text(call.name, [(k, f"({v!r} - 1) + 1" if k == p else _py(v))
                                                                         for k, v in call.arguments.items()]))
            elif isinstance(value, float):
                if value == int(value) and abs(value) < 1e15:
                    swap(f"float_as_int_{p}", _with_args(call, **{p: int(value)}))
                else:
                    swap(f"float_truncated_to_int_{p}", _with_args(call, **{p: int(value)}))
                swap(f"float_as_string_{p}", _with_args(call, **{p: str(value)}))
                swap(f"arithmetic_{p}", text_call=_call_text(call.name, [(k, f"{v!r} * 2 / 2" if k == p else _py(v))
                                                                         for k, v in call.arguments.items()]))
                if kind == "number" and value > 0:
                    swap(f"unary_plus_{p}", text_call=_call_text(call.name, [(k, f"+{v!r}" if k == p else _py(v))
                                                                             for k, v in call.arguments.items()]))
            elif isinstance(value, str):
                swap(f"string_uppercased_{p}", _with_args(call, **{p: value.upper()}))
                swap(f"string_punctuated_{p}", _with_args(call, **{p: value.replace(" ", " - ") + "."}))
                swap(f"string_spaces_removed_{p}", _with_args(call, **{p: value.replace(" ", "")}))
                swap(f"string_with_exclamation_{p}", _with_args(call, **{p: value + "!"}))
                swap(f"string_double_quoted_{p}", text_call=_call_text(call.name, [
                    (k, json.dumps(v, ensure_ascii=False) if k == p else _py(v)) for k, v in call.arguments.items()]))
                swap(f"string_as_list_{p}", _with_args(call, **{p: [value]}))
                if "'" in value or '"' in value:
                    swap(f"string_quotes_swapped_{p}", _with_args(call, **{p: value.replace("'", "\u0001").replace(
                        '"', "'").replace("\u0001", '"')}))
                if value.strip() and value.strip().lstrip("-").replace(".", "", 1).isdigit():
                    swap(f"numeric_string_as_number_{p}", text_call=_call_text(call.name, [
                        (k, v.strip() if k == p else _py(v)) for k, v in call.arguments.items()]))
            elif isinstance(value, list):
                if len(value) > 1:
                    swap(f"list_reversed_{p}", _with_args(call, **{p: list(reversed(value))}))
                swap(f"list_as_tuple_{p}", _with_args(call, **{p: tuple(value)}))
                swap(f"list_empty_{p}", _with_args(call, **{p: []}))
                if value and all(isinstance(v, str) for v in value):
                    swap(f"list_strings_uppercased_{p}", _with_args(call, **{p: [v.upper() for v in value]}))
                if value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                    swap(f"list_ints_as_floats_{p}", _with_args(call, **{p: [float(v) for v in value]}))
                if value and isinstance(value[0], dict):
                    swap(f"list_dict_key_dropped_{p}", _with_args(call, **{p: [dict(list(value[0].items())[1:])]
                                                                           + value[1:]}))
            elif isinstance(value, dict):
                if value:
                    swap(f"dict_key_dropped_{p}", _with_args(call, **{p: dict(list(value.items())[1:])}))
                    k0 = next(iter(value))
                    swap(f"dict_value_changed_{p}", _with_args(call, **{p: {**value, k0: _wrong_value(value[k0])}}))
                    if isinstance(value[k0], str):
                        swap(f"dict_string_uppercased_{p}", _with_args(call, **{p: {**value, k0: value[k0].upper()}}))
                swap(f"dict_extra_key_{p}", _with_args(call, **{p: {**value, "zz_key": 1}}))
                swap(f"dict_as_string_{p}", _with_args(call, **{p: json.dumps(value)}))

    out.extend(_random_edits(entry.id, gold_text))
    return out


def random_char_edits(rng: random.Random, text: str, n: int, insert_chars: str) -> list[tuple[str, str]]:
    """``n`` character-level edits of ``text`` (delete, duplicate, swap, insert one of ``insert_chars``) at places
    drawn from ``rng``, named ``random_edit_<i>_<op>`` (shared by the prompt-style and FC mutation sets)."""
    out = []
    for i in range(n):
        if not text:
            break
        pos = rng.randrange(len(text))
        op = rng.choice(["delete", "duplicate", "swap", "insert"])
        if op == "delete":
            edited = text[:pos] + text[pos + 1:]
        elif op == "duplicate":
            edited = text[:pos] + text[pos] + text[pos:]
        elif op == "swap" and pos + 1 < len(text):
            edited = text[:pos] + text[pos + 1] + text[pos] + text[pos + 2:]
        else:
            edited = text[:pos] + rng.choice(insert_chars) + text[pos:]
        out.append((f"random_edit_{i}_{op}", edited))
    return out


def _random_edits(seed: str, text: str) -> list[tuple[str, str]]:
    """Character-level edits (delete, duplicate, swap, insert punctuation) at seeded random places."""
    rng = random.Random(f"funrl-mutations-v{MUTATIONS_VERSION}:{seed}")
    return random_char_edits(rng, text, _RANDOM_EDITS, "()[]{},=.'\"-+ _:;")


# ---------------------------------------------------------------------------------------------------------------
# Relevance categories
# ---------------------------------------------------------------------------------------------------------------

def _relevance_mutations(entry: BFCLEntry) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = [
        ("refusal_text", "None of the provided functions can be used to answer this question."),
        ("refusal_with_parentheses", "I can't do that (no suitable function)."),
        ("empty_output", ""),
        ("empty_list", "[]"),
        ("empty_list_fenced", "```\n[]\n```"),
        ("none_literal", "None"),
        ("bare_identifier", "no_function"),
        ("unknown_function_call", "[nonexistent_function(x=1)]"),
        ("positional_only_call", "[some_function(1, 2)]"),
        ("malformed_unclosed_call", "[some_function(x=1"),
        ("malformed_unclosed_string", "[some_function(x='abc)]"),
        ("list_of_strings", "['no', 'call']"),
        ("dict_literal", "{'answer': 'none'}"),
        ("question_back", "Could you tell me which city you mean?"),
    ]
    if entry.functions:
        tool = entry.functions[0]
        required, view = tool.checker_view()
        args = {p: _dummy(view[p][0], view[p][2]) for p in required if p in view}
        calls = [Call(tool.name, args)]
        text = _render(calls) or f"[{tool.name}()]"
        out += [
            ("call_first_function", text),
            ("call_first_function_no_args", f"[{tool.name}()]"),
            ("call_bare", text[1:-1]),
            ("call_fenced", "```python\n" + text + "\n```"),
            ("call_with_prose", "I will call the function: " + text),
            ("call_after_think", "<think>Maybe this function fits.</think>\n" + text),
            ("call_hermes", render_calls(calls, "hermes")),
            ("call_json", render_calls(calls, "json")),
            ("call_twice", "[" + text[1:-1] + ", " + text[1:-1] + "]"),
            ("call_unclosed", text[:-2]),
        ]
        if len(entry.functions) > 1:
            out.append(("call_second_function", f"[{entry.functions[1].name}()]"))
        out.extend(_random_edits(entry.id, text))
    return out
