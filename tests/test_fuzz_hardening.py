"""Hardening: every bad input gets a typed error (DecodeError, CheckerError) in bounded time and memory.

The repros of issue 17 are regression tests here. None is timed: the inputs that used to take minutes (quadratic
regular expressions and loops) are made large enough that the old code would take far longer than any test run,
and the test asserts only the result. The linear scanners that replace the regular expressions are checked against
those expressions (and the old loops) on small generated inputs, so valid inputs decode exactly as before.
"""

from __future__ import annotations

import itertools
import json
import operator
import re
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funrl_lib import calls as calls_module
from funrl_lib.bfcl.checker import CheckerError, GroundTruthError, Verdict, check_calls, score_entry
from funrl_lib.bfcl.data import BFCLEntry, load_category
from funrl_lib.bfcl.score import score_result_lines
from funrl_lib.calls import (FORMATS, LIMITS, MAX_BUILT_SIZE, MAX_INPUT_CHARS, MAX_INT_DIGITS, MAX_NESTING,
                             MAX_PYTHON_CHARS, Call, DecodeError, decode_calls, short_repr, short_str)
from funrl_lib.rewards import funrl_binary, make_funrl_binary, make_toolrl_graded, toolrl_graded
from funrl_lib.tools import ToolDef

DECODE_FORMATS = [f for f in FORMATS]


def decode_error(text, fmt="python", **kwargs) -> DecodeError:
    with pytest.raises(DecodeError) as err:
        decode_calls(text, fmt, **kwargs)
    assert err.value.unexpected is None, err.value
    return err.value


# ---- issue 17 repros ------------------------------------------------------------------------------------------

BIG_INT_CALL = '{"name":"f","arguments":{"a":' + "1" * 5000 + "}}"


@pytest.mark.parametrize("fmt, text", [("json", BIG_INT_CALL), ("openai", json.dumps(
    [{"type": "function", "function": {"name": "f", "arguments": '{"a": ' + "1" * 5000 + "}"}}])),
    ("openai", "[" + BIG_INT_CALL.replace('"name":"f"', '"type":"function","function":{"name":"f"}').replace(
        "}}", "}}}") + "]"), ("hermes", f"<tool_call>{BIG_INT_CALL}</tool_call>"),
    ("auto", BIG_INT_CALL), ("auto", f"<tool_call>{BIG_INT_CALL}</tool_call>"), ("python", "[f(a=" + "1" * 5000 + ")]")])
def test_an_integer_over_4300_digits_is_a_decode_error_naming_the_limit(fmt, text):
    error = decode_error(text, fmt)
    assert error.limit == "MAX_INT_DIGITS" and "MAX_INT_DIGITS" in str(error)


def test_the_largest_integer_within_the_limit_decodes():
    digits = "9" * MAX_INT_DIGITS
    assert decode_calls('{"name": "f", "arguments": {"a": %s}}' % digits, "json")[0].arguments["a"] == int(digits)
    assert decode_calls(f"[f(a=10**{MAX_INT_DIGITS - 1})]")[0].arguments["a"] == 10 ** (MAX_INT_DIGITS - 1)
    assert decode_error(f"[f(a=10**{MAX_INT_DIGITS})]").limit == "MAX_INT_DIGITS"


def test_a_missing_format_key_is_a_decode_error():
    error = decode_error("[f(a='%(x)s' % {})]")
    assert error.limit is None and "KeyError" in error.reason
    assert decode_error("[f(a='%s %s' % (1,))]").limit is None


@pytest.mark.parametrize("fmt", DECODE_FORMATS)
def test_many_opening_tool_call_tags_decode_in_linear_time(fmt):
    text = "<tool_call>" * 80_000  # 880 KB; the old regular expression needed ~40 minutes
    if fmt == "qwen_fc":
        assert decode_calls(text, fmt) == []  # no block: no call, as BFCL decodes it
        assert decode_calls("<tool_call>\n" * 80_000, fmt) == []
    else:
        decode_error(text, fmt)
    decode_error('<tool_call>"' * 80_000, "hermes")


@pytest.mark.parametrize("fmt", ["json", "openai", "auto", "python"])
def test_a_long_run_of_newlines_in_a_fence_decodes_in_linear_time(fmt):
    decode_error("```\n" + "\n" * 400_000 + "x", fmt)  # the old fence expression needed hours
    decode_error("```" + " \n" * 300_000 + "x```", fmt)


@pytest.mark.parametrize("source", ["[f(a='%*d' % (1000000000, 1))]", "[f(a='%.*f' % (10**9, 1.0))]",
                                    "[f(a='%999999999d' % 1)]", "[f(a='%(k)9999999d' % {'k': 1})]",
                                    "[f(a='%s%s' % ([0]*600000, [1]*600000))]",
                                    "[f(a='%s' * 300000 % ((1,) * 300000))]",
                                    "[f(a=" + "+".join(["'" + "a" * 1000 + "'"] * 90) + ")]",
                                    "[f(" + ",".join(f"a{i}='a'*999999" for i in range(20)) + ")]",
                                    "[calculate_triangle_area(base=[[0]*1000000]*50, height=5)]",
                                    "[f(a=[0]*1000001)]", "[f(a='a'*1000001)]", "[f(a=(('a',)*1000)*1000)]"])
def test_string_and_sequence_building_is_bounded(source):
    assert decode_error(source).limit == "MAX_BUILT_SIZE"


@pytest.mark.parametrize("source", ["[f(a=1" + "<<1000000" * 30 + ")]", "[f(a=9**9**9)]", "[f(a=2**100000)]",
                                    "[f(a=(10**4000)*(10**4000))]", "[f(a=1<<14000<<1000)]"])
def test_integer_arithmetic_is_bounded(source):
    assert decode_error(source).limit == "MAX_INT_DIGITS"


def test_building_up_to_the_limit_still_works():
    assert decode_calls("[f(a='a'*1000000)]")[0].arguments["a"] == "a" * MAX_BUILT_SIZE
    assert decode_calls("[f(a=[0]*1000000)]")[0].arguments["a"] == [0] * MAX_BUILT_SIZE
    assert decode_calls("[f(a='%5s|%-4d|%.2f|%r|%c|%x|%%' % ('ab', 3, 1.234, [1], 65, 255))]")[0].arguments == {
        "a": "   ab|3   |1.23|[1]|A|ff|%"}
    assert decode_calls("[f(a='%*.*f' % (8, 2, 3.14159), b='%(x)s-%(y)r' % {'x': 1, 'y': 'z'})]")[0].arguments == {
        "a": "    3.14", "b": "1-'z'"}


def test_input_size_and_nesting_limits():
    for fmt in DECODE_FORMATS:
        assert decode_error("x" * (MAX_INPUT_CHARS + 1), fmt).limit == "MAX_INPUT_CHARS"
    assert decode_error("[f(a='" + "x" * MAX_PYTHON_CHARS + "')]").limit == "MAX_PYTHON_CHARS"
    ok = '{"name": "f", "arguments": {"a": %s1%s}}' % ("[" * (MAX_NESTING - 2), "]" * (MAX_NESTING - 2))
    assert decode_calls(ok, "json")[0].name == "f"
    deep = ok.replace("[", "[[", 1).replace("]", "]]", 1)
    for fmt, text in [("json", deep), ("hermes", f"<tool_call>{deep}</tool_call>"), ("auto", deep),
                      ("qwen_fc", f"<tool_call>\n{deep}\n</tool_call>"), ("json", "[" * 100_000)]:
        assert decode_error(text, fmt).limit == "MAX_NESTING", fmt
    assert decode_calls("[f(a=%s1%s)]" % ("[" * (MAX_NESTING - 2), "]" * (MAX_NESTING - 2)))[0].name == "f"
    for text in ["[f(a=%s1%s)]" % ("[" * MAX_NESTING, "]" * MAX_NESTING), "[f(a=" + "+".join(["1"] * 5000) + ")]",
                 "[f(a=" + "-" * 50_000 + "1)]", "[f(a=" + "(" * 5000 + ")]"]:
        error = decode_error(text)
        assert error.limit in ("MAX_NESTING", None), error  # None: the parser's own "too many nested parentheses"
    assert set(LIMITS) == {"MAX_INPUT_CHARS", "MAX_PYTHON_CHARS", "MAX_NESTING", "MAX_INT_DIGITS", "MAX_BUILT_SIZE"}


def test_many_calls_with_known_names_are_aliased_in_linear_time():
    names = [f"get x{i}" for i in range(40_000)]
    text = "[" + ",".join(f"{name}(a='{name}(')" for name in names) + "]"  # the old loops needed minutes
    substituted, aliases = calls_module._alias_names(text, names)
    assert len(aliases) == len(names) and "get x" not in substituted.replace("'get x", "")
    few = names[:2000]
    decoded = decode_calls("[" + ",".join(f"{name}(a='{name}(')" for name in few) + "]", known_names=names)
    assert decoded == [Call(name, {"a": f"{name}("}) for name in few]


def test_a_huge_decoded_value_gives_a_small_verdict():
    entry = load_category("simple_python")["simple_python_0"]  # calculate_triangle_area
    for result in ["[calculate_triangle_area(base=[[0]*1000000]*50, height=5)]",
                   "[calculate_triangle_area(base=[0]*1000000, height=5)]",
                   "[calculate_triangle_area(base='x'*1000000, height=5)]"]:
        report = score_result_lines("simple_python", [json.dumps({"id": entry.id, "result": result})],
                                    entries={entry.id: entry})
        (verdict,) = report.verdicts
        assert not verdict["valid"] and len(json.dumps(verdict)) < 3000, verdict["error_type"]


# ---- the scanners equal the regular expressions they replace --------------------------------------------------

FENCE = re.compile(r"\A```[A-Za-z0-9_-]*\s*\n(.*?)\n?```\Z", re.DOTALL)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="`\n \t\u00a0\x1cab_-1", max_size=24))
def test_fence_scanner_equals_the_regular_expression(s):
    m = FENCE.match(s)
    assert calls_module._fence_body(s) == (m.group(1) if m else None)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["<tool_call>", "</tool_call>", "\n", "x", "<", ">", "tool_call", "/"]),
                max_size=14).map("".join))
def test_block_scanner_equals_findall(text):
    for opening, closing in [("<tool_call>", "</tool_call>"), ("<tool_call>\n", "\n</tool_call>")]:
        expected = re.findall(re.escape(opening) + "(.*?)" + re.escape(closing), text, re.DOTALL)
        assert calls_module._blocks(text, opening, closing) == expected


def reference_hermes(text):
    """The decode_hermes of before the change (regular expression and tag counts): the names, or the kind of error."""
    blocks = re.findall("<tool_call>(.*?)</tool_call>", text, re.DOTALL)
    if text.count("<tool_call>") == 0:
        return "no block"
    if text.count("<tool_call>") != len(blocks) or text.count("</tool_call>") != len(blocks):
        return "unbalanced"
    names = []
    for i, block in enumerate(blocks):
        try:
            obj = json.loads(block.strip())
        except ValueError:
            return "not JSON"
        try:
            names.append(calls_module._call_from_object(obj, f"block {i}", "hermes", text).name)
        except DecodeError:
            return "not a call"
    return names


hermes_piece = st.sampled_from(["<tool_call>", "</tool_call>", "\n", " ", "x", '{"name": "f"}',
                                '{"name": "g", "arguments": {"a": [1, "s"]}}', "[1]", "{bad", '"str"', "}"])


def error_kind(error: DecodeError) -> str:
    for kind, marker in [("no block", "no <tool_call> block"), ("unbalanced", "unbalanced"), ("not JSON", "not JSON")]:
        if marker in error.reason:
            return kind
    return "not a call"


@settings(max_examples=400, deadline=None)
@given(st.lists(hermes_piece, max_size=10).map("".join))
def test_hermes_decodes_as_before_where_no_tag_is_inside_a_json_string(text):
    try:
        got = [c.name for c in decode_calls(text, "hermes")]
    except DecodeError as e:
        assert e.unexpected is None
        got = error_kind(e)
    assert got == reference_hermes(text)


def test_hermes_keeps_tags_inside_json_strings():
    calls = [Call("write", {"text": "use <tool_call> and </tool_call> tags"})]
    from funrl_lib.calls import render_calls
    assert decode_calls(render_calls(calls, "hermes"), "hermes") == calls


def reference_string_spans(s):
    spans, i, n = [], 0, len(s)
    while i < n:
        if s[i] in "'\"":
            quote = s[i:i + 3] if s[i:i + 3] in ('"""', "'''") else s[i]
            j = i + len(quote)
            while j < n:
                if s[j] == "\\":
                    j += 2
                    continue
                if s.startswith(quote, j):
                    j += len(quote)
                    break
                if len(quote) == 1 and s[j] == "\n":
                    break
                j += 1
            spans.append((i, min(j, n)))
            i = j
        else:
            i += 1
    return spans


def reference_alias_names(s, names):
    """The _alias_names of before the change (one alternation of all names)."""
    odd = sorted({n for n in names if isinstance(n, str) and n and not calls_module._is_python_name(n)}, key=len,
                 reverse=True)
    if not odd:
        return s, {}
    pattern = re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, odd)) + r")(?=\s*\()")
    spans = reference_string_spans(s)
    aliases, by_name, out, last = {}, {}, [], 0
    for m in pattern.finditer(s):
        if any(a <= m.start() < b for a, b in spans):
            continue
        if m.group(1) not in by_name:
            by_name[m.group(1)] = f"__funrl_name_{len(by_name)}__"
            aliases[by_name[m.group(1)]] = m.group(1)
        out += [s[last:m.start()], by_name[m.group(1)]]
        last = m.end()
    out.append(s[last:])
    return "".join(out), aliases


code_piece = st.sampled_from(["get x", "get-x", "x", "get", "a b ", "(", ")", " ", "\n", "\u00a0", "'", '"', "'''",
                              "\\", ".", "_", "=", ",", "[", "]", "1"])


@settings(max_examples=600, deadline=None)
@given(st.lists(code_piece, max_size=16).map("".join))
def test_string_spans_and_aliases_equal_the_old_implementation(s):
    assert calls_module._string_spans(s) == reference_string_spans(s)
    names = ["get x", "get-x", "get", "a b ", "x-", "class"]
    assert calls_module._alias_names(s, names) == reference_alias_names(s, names)


# ---- short_repr -------------------------------------------------------------------------------------------------

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | st.binary(max_size=8)
    | st.complex_numbers(allow_nan=False),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner) | st.tuples(inner, inner) | st.lists(inner).map(tuple)
    | st.dictionaries(st.text(max_size=5) | st.integers(), inner, max_size=4)
    | st.frozensets(st.integers() | st.text(max_size=4), max_size=4)
    | st.sets(st.integers() | st.text(max_size=4), max_size=4),
    max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(values, st.integers(min_value=1, max_value=120))
def test_short_repr_is_repr_cut_to_the_limit(value, limit):
    full = repr(value)
    assert short_repr(value, 100_000) == full
    short = short_repr(value, limit)
    if len(full) <= limit:
        assert short == full
    else:
        assert len(short) == limit and short.endswith("…") and full.startswith(short[:-1])
    assert short_str(value, 100_000) == (value if isinstance(value, str) else full)


def test_short_repr_of_huge_and_odd_values():
    assert len(short_repr([[0] * 1_000_000] * 50, 200)) == 200
    assert short_repr(10 ** 5000, 50).startswith("<int of ")
    looped: list = [1]
    looped.append(looped)
    assert short_repr(looped) == repr(looped) == "[1, [...]]"

    class Broken:
        def __repr__(self):
            raise RuntimeError("no")

    assert short_repr(Broken()) == "<Broken object>"
    assert short_repr("x" * 5000, 10) == "'xxxxxxxx…"


# ---- arithmetic folding equals Python's own -------------------------------------------------------------------

small = st.integers(-50, 50) | st.floats(-1e3, 1e3, allow_nan=False) | st.text(alphabet="ab%", max_size=4) \
    | st.lists(st.integers(-3, 3), max_size=3) | st.tuples(st.integers(0, 3)) | st.booleans()
OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "//": operator.floordiv,
             "%": operator.mod, "**": operator.pow, "<<": operator.lshift, ">>": operator.rshift, "|": operator.or_,
             "&": operator.and_, "^": operator.xor}


@settings(max_examples=500, deadline=None)
@given(small, st.sampled_from(sorted(OPERATORS)), small)
def test_folding_gives_what_python_gives(left, op, right):
    source = f"[f(a=({left!r}) {op} ({right!r}))]"
    try:
        expected = OPERATORS[op](left, right)
    except Exception:  # noqa: BLE001 - whatever Python raises, the decoder refuses
        decode_error(source)
        return
    if isinstance(expected, int) and abs(expected) >= 10 ** MAX_INT_DIGITS:
        return
    got = decode_calls(source)[0].arguments["a"]
    assert got == expected or (got != got and expected != expected)


format_piece = st.sampled_from(["%s", "%d", "%5.2f", "%-3r", "%(k)s", "%%", "%*d", "%.*s", "%x", "%c", "ab", "%",
                                "%(k", "%q", " "])


@settings(max_examples=500, deadline=None)
@given(st.lists(format_piece, max_size=5).map("".join), st.lists(st.integers(0, 70) | st.text(max_size=3),
                                                                    max_size=4), st.booleans())
def test_percent_formatting_gives_what_python_gives(fmt, args, as_mapping):
    right = {"k": args[0] if args else 1} if as_mapping else tuple(args)
    source = f"[f(a={fmt!r} % {right!r})]"
    try:
        expected = fmt % right
    except Exception:  # noqa: BLE001
        decode_error(source)
        return
    assert decode_calls(source)[0].arguments["a"] == expected


# ---- every decoder raises DecodeError and nothing else ---------------------------------------------------------

EVIL = ["<tool_call>", "</tool_call>", "<tool_call>\n", "\n</tool_call>", "```", "```json\n", "<think>", "</think>",
        "[f(", "a=", "'%*d' % (10**9, 1)", "'%(x)s' % {}", "1<<10**6", "9**9**9", "[[0]*10**6]*50", "{", "}", "[",
        "]", '"', "'", "\\", "1" * 4400, "(", ")", ",", "{'a': 1}", '{"name": "f", "arguments": {"a": 1}}', "\x00",
        "get x", "lambda: 0", "f'{x}'", "x[0]", "...", "**{}", "\ud800", "1e999", "-", "~", "%", "*", "+"]
fuzz_text = st.one_of(st.text(max_size=60), st.lists(st.sampled_from(EVIL) | st.text(max_size=5), max_size=12)
                      .map("".join))


@settings(max_examples=600, deadline=None)
@given(fuzz_text, st.sampled_from(DECODE_FORMATS))
def test_decoders_raise_only_typed_errors(text, fmt):
    try:
        calls = decode_calls(text, fmt, known_names=["get x", "Market Trends API"])
    except DecodeError as e:
        assert e.unexpected is None, e
        return
    assert all(isinstance(c, Call) for c in calls)


TOOLS = json.dumps([{"name": "f", "description": "", "parameters": {"type": "dict", "properties": {
    "a": {"type": "integer"}, "b": {"type": "array", "items": {"type": "dict"}}}, "required": ["a"]}}])
TRUTHS = ['[{"f": {"a": [1], "b": ["", [{"x": [1]}]]}}]', "[]", '[{"f": {"a": [1]}}, {"f": {"a": [2]}}]',
          '[{"g": {"a": [1]}}]']


@settings(max_examples=200, deadline=None)
@given(fuzz_text | st.sampled_from(["<think>x</think>[f(a=1, b=[1])]", "<think>x</think>[f(a=1)]"]),
       st.sampled_from(TRUTHS), st.sampled_from(["python", "hermes", "json", "auto"]))
def test_rewards_never_raise_on_a_string_completion(completion, truth, fmt):
    for reward in (make_funrl_binary(fmt), make_toolrl_graded(fmt), funrl_binary, toolrl_graded):
        out = reward(prompts=None, completions=[completion, "<think>t</think>" + completion],
                     tools=[TOOLS] * 2, ground_truth=[truth] * 2)
        assert len(out) == 2 and all(isinstance(r, float) for r in out)


def test_rewards_score_a_call_the_official_checker_cannot_check_as_wrong():
    # b=[1] passes the nested type check through the "" alternative, then the official list-of-dict check calls
    # .items() on an int; the answer also names a function that is not offered (g)
    logged = {}
    out = funrl_binary(completions=["<think>x</think>[f(a=1, b=[1])]", "<think>x</think>[f(a=1)]"],
                       tools=[TOOLS] * 2, ground_truth=[TRUTHS[0]] * 2, log_metric=logged.__setitem__)
    assert out == [0.0, 1.0] and logged["funrl/checker_errors"] == 0.5
    assert funrl_binary(completions=["<think>x</think>[g(a=1)]"], tools=[TOOLS], ground_truth=[TRUTHS[3]]) == [0.0]


# ---- the checker raises CheckerError and nothing else -----------------------------------------------------------

TOOL = ToolDef.from_dict({"name": "f", "parameters": {"type": "dict", "properties": {
    "a": {"type": "integer"}, "b": {"type": "array", "items": {"type": "dict"}}, "c": {"type": "dict"}},
    "required": ["a"]}})
BAD_FUNCTIONS = [[TOOL], [TOOL.to_bfcl()], json.dumps([TOOL.to_bfcl()]), None, 5, "x", [5], [{}], [{"name": 5}], [],
                 {"name": "f"}, [None], ["f"]]
BAD_CALLS = [[Call("f", {"a": 1})], [Call("f", {"a": 1, "b": [1, {"x": 1}], "c": {"x": [1]}})], [], None, 5, "x",
             [5], [Call(5, {})], [Call("f", None)], [Call("f", {"a": [1] * 3})], (Call("f", {"a": 1}),) * 2,
             [Call("g", {"a": 1})], [Call("f", {"c": {1: 2}, "a": 1})]]
BAD_ANSWERS = [[{"f": {"a": [1]}}], [{"f": {"a": [1], "b": ["", [{"x": [1]}]], "c": ["", {"x": [1]}]}}], [], None, 5,
               "abc", [5], [{}], [{"f": 5}], [{"f": {"a": 5}}], [{"f": {"a": [[5]]}}], [{"f": {"c": [{"x": 5}]}}],
               [{"f": {"b": [[5]]}}], [{"g": {"a": [1]}}], [{"f": {"a": [1]}, "g": {}}], [{"f": {"a": None}}],
               [{"f": {"a": "1"}}]]
BAD_CATEGORIES = ["simple", "multiple", "parallel", "parallel_multiple", None, 5, ""]


def test_check_calls_on_every_bad_combination_returns_a_verdict_or_raises_checker_error():
    outcomes = {"verdict": 0, "typed": 0}
    for functions, calls, answer, category in itertools.product(BAD_FUNCTIONS, BAD_CALLS, BAD_ANSWERS,
                                                               BAD_CATEGORIES):
        try:
            verdict = check_calls(functions, calls, answer, category)
        except CheckerError as e:
            assert isinstance(e, ValueError) and len(str(e)) < 3000
            outcomes["typed"] += 1
            continue
        assert isinstance(verdict, Verdict) and len(json.dumps(verdict.to_json())) < 5000
        outcomes["verdict"] += 1
    assert outcomes["verdict"] > 100 and outcomes["typed"] > 100, outcomes


def test_checker_error_names_the_official_exception():
    with pytest.raises(CheckerError) as err:
        check_calls([TOOL], [Call("f", {"a": 1})], [{"f": {"a": 5}}], "simple")
    assert err.value.official == "TypeError"
    with pytest.raises(GroundTruthError) as gt:
        check_calls([TOOL], [Call("g", {"a": 1})], [{"g": {"a": [1]}}], "multiple")
    assert isinstance(gt.value, CheckerError) and gt.value.official == "GroundTruthError"
    with pytest.raises(CheckerError) as err:
        check_calls([TOOL], "[f(a=1)]", [{"f": {"a": [1]}}], "simple")
    assert err.value.official is None
    entry = BFCLEntry("x_0", "simple_python", [], [TOOL], [], [{"f": {"a": [1], "b": ["", [{"x": [1]}]]}}])
    assert score_entry(entry, "[f(a=1, b=[1])]").error_type == "checker_error:AttributeError"
    assert score_entry(entry, "[f(a=1, b=[[0]*1000000]*50)]").error_type == "ast_decoder:decoder_failed"
