"""Decoding model output into calls (every format), rendering back, the think block."""

import json
import math
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funrl_lib.calls import (Call, DecodeError, RenderError, decode_calls, parse_completion, render_calls,
                             render_completion, split_think, strip_think)


def py(text, **kw):
    return [(c.name, c.arguments) for c in decode_calls(text, "python", **kw)]


# ---- python (BFCL default_decode_ast_prompting) -------------------------------------------------------------

def test_python_basic_forms():
    assert py("[f(a=1), g(b='x')]") == [("f", {"a": 1}), ("g", {"b": "x"})]
    assert py("f(a=1)") == [("f", {"a": 1})]  # brackets added
    assert py("[f(a=1)") == [("f", {"a": 1})]  # missing ] added
    assert py("\n ` [f(a=1)] `\n") == [("f", {"a": 1})]  # backticks, newlines, spaces stripped
    assert py("[]") == [] and py("") == [] and py(" \n") == []  # empty output decodes as no call
    assert py("[f(a=1, a=2)]") == [("f", {"a": 2})]  # ast.parse accepts a repeated keyword: the last one wins


def test_python_values():
    out = py("[f(a=None, b=True, c=False, d=-3, e=-2.5, f=[1, [2, -3]], g={'k': {'n': [1]}}, h=(1, 'x'), i=1e3)]")
    assert out == [("f", {"a": None, "b": True, "c": False, "d": -3, "e": -2.5, "f": [1, [2, -3]],
                          "g": {"k": {"n": [1]}}, "h": (1, "x"), "i": 1000.0})]


def test_python_names_and_bfcl_value_rules():
    assert py("[math.factorial(n=5), a.b.c(x=1)]") == [("math.factorial", {"n": 5}), ("a.b.c", {"x": 1})]
    assert py("[f(1, 2, x=3)]") == [("f", {"x": 3})]  # positional arguments ignored
    assert py("[f(a=x, b=g(1), c=g(y=2), d=z[0], e=...)]") == [
        ("f", {"a": "x", "b": "g(1)", "c": {"g": {"y": 2}}, "d": "z[0]", "e": "..."})]
    assert py("[f(**kw)]") == [("f", {"**": "kw"})]


def test_python_unary_operator_always_negates_like_bfcl():
    assert py("[f(a=+5, b=~2, c=not 1, d=-True)]") == [("f", {"a": -5, "b": -2, "c": -1, "d": -1})]
    for text in ("[f(a=-x)]", "[f(a=--1)]", "[f(a=-'s')]"):
        with pytest.raises(DecodeError):
            decode_calls(text)


def test_python_arithmetic_is_folded_without_eval():
    assert py("[f(a=2*3, b='ab'*2, c=[1]+[2], d=10**-2, e=3 - -2, g=7//2, h='%d' % 5, i=+(-1)*1)]") == [
        ("f", {"a": 6, "b": "abab", "c": [1, 2], "d": 0.01, "e": 5, "g": 3, "h": "5", "i": -1})]
    assert py("[f(a='%5.2f' % 3.14159, b=b'%3d' % 7)]") == [("f", {"a": " 3.14", "b": b"  7"})]
    for text in ("[f(a=len(x)+1)]", "[f(a=x*2)]", "[f(a=1/0)]", "[f(a=9**9**9)]", "[f(a='a'*10**9)]",
                 "[f(a=1<<10**9)]", "[f(a=lambda: 1)]", "[f(a='%999999999d' % 1)]", "[f(a=b'%.9999999f' % 1.0)]"):
        with pytest.raises(DecodeError):
            decode_calls(text)


@pytest.mark.parametrize("text", [
    "```python\n[f(a=1)]\n```",  # fence: "python\n[...]" is not a list of calls
    "Sure! [f(a=1)]", "[f(a=1)] Hope this helps.", "<think>x</think>[f(a=1)]",
    "[f(a={1, 2})]", "[f(a=f'x')]", "[f(a=x.y)]", "[f(a=1 < 2)]", "[f(a=[*x])]", "[f(a={**x})]",
    "[f(), 1]", "[f(a=1)][0]", "[f(a=(x for x in y))]", '[{"name": "f"}]', "None",
    "'[f(a=1)]'",  # BFCL adds brackets before stripping quotes, so a quoted list is a list of one string
    "[f(a=\x00)]",
])
def test_python_rejections(text):
    with pytest.raises(DecodeError) as err:
        decode_calls(text)
    assert err.value.fmt == "python"


def test_decode_error_names_position():
    with pytest.raises(DecodeError) as err:
        decode_calls("[f(a=1), g(b=)]")
    assert err.value.line == 1 and err.value.column is not None and "not Python syntax" in str(err.value)


def test_known_names_with_spaces_hyphens_and_keywords():
    names = ["Market Trends API", "get-weather", "class"]
    text = "[Market Trends API(q='Market Trends API(x)', n=-1), get-weather(city='Paris'), class(x=None)]"
    assert py(text, known_names=names) == [("Market Trends API", {"q": "Market Trends API(x)", "n": -1}),
                                           ("get-weather", {"city": "Paris"}), ("class", {"x": None})]
    with pytest.raises(DecodeError):  # without the names: not Python
        decode_calls(text)
    # only where a call starts: a longer identifier that ends with the name is left alone (and is not Python)
    with pytest.raises(DecodeError, match="not a call"):
        decode_calls("[my_get-weather(x=1)]", known_names=["get-weather"])


def test_known_names_do_not_touch_plain_identifiers():
    assert py("[get_weather(city='Paris')]", known_names=["get_weather"]) == [("get_weather", {"city": "Paris"})]


# ---- json / openai / hermes ----------------------------------------------------------------------------------

def test_json_forms():
    expected = [Call("f", {"a": 1}), Call("g", {})]
    assert decode_calls('[{"name": "f", "arguments": {"a": 1}}, {"name": "g"}]', "json") == expected
    assert decode_calls('[{"name": "f", "arguments": "{\\"a\\": 1}"}, {"name": "g", "arguments": ""}]', "json") == expected
    assert decode_calls('{"name": "f", "parameters": {"a": 1}}', "json") == [Call("f", {"a": 1})]
    assert decode_calls('[{"f": {"a": 1}}, {"g": "{}"}]', "json") == expected  # BFCL's decoded form
    assert decode_calls('```json\n[{"name": "f", "arguments": {"a": 1}}]\n```', "json") == [Call("f", {"a": 1})]
    assert decode_calls('{"tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{}"}}]}',
                        "json") == [Call("f", {})]


@pytest.mark.parametrize("text", ['[{"arguments": {}}]', '{"name": "f", "arguments": "{bad"}', '[1]',
                                  '{"name": "f", "arguments": [1]}', "not json", '"f"'])
def test_json_rejections(text):
    with pytest.raises(DecodeError) as err:
        decode_calls(text, "json")
    assert err.value.fmt == "json"


def test_openai_tool_calls():
    tool_calls = [{"id": "call_0", "type": "function", "function": {"name": "f", "arguments": '{"a": [1, 2]}'}}]
    assert decode_calls(tool_calls, "openai") == [Call("f", {"a": [1, 2]})]
    assert decode_calls(json.dumps(tool_calls), "openai") == [Call("f", {"a": [1, 2]})]
    assert decode_calls({"role": "assistant", "content": None, "tool_calls": tool_calls}, "openai") == [
        Call("f", {"a": [1, 2]})]
    assert decode_calls({"role": "assistant", "content": "hi"}, "openai") == []
    with pytest.raises(DecodeError):
        decode_calls([{"name": "f"}], "openai")


def test_hermes_blocks():
    text = ('Let me check.\n<tool_call>\n{"name": "f", "arguments": {"a": 1}}\n</tool_call>\n'
            '<tool_call>{"name": "g", "arguments": "{\\"b\\": \\"x\\"}"}</tool_call>')
    assert decode_calls(text, "hermes") == [Call("f", {"a": 1}), Call("g", {"b": "x"})]
    for bad in ("no calls here", "<tool_call>{\"name\": \"f\"}", "<tool_call>{bad}</tool_call>",
                "<tool_call>[1]</tool_call>"):
        with pytest.raises(DecodeError):
            decode_calls(bad, "hermes")


def test_auto_picks_the_format():
    assert decode_calls('<tool_call>{"name": "f", "arguments": {}}</tool_call>', "auto") == [Call("f", {})]
    assert decode_calls('[{"name": "f", "arguments": {"a": 1}}]', "auto") == [Call("f", {"a": 1})]
    assert decode_calls("[f(a=1)]", "auto") == [Call("f", {"a": 1})]
    with pytest.raises(ValueError, match="unknown call format"):
        decode_calls("[f()]", "yaml")


# ---- think ---------------------------------------------------------------------------------------------------

def test_split_think():
    s = split_think("  <think>need f</think>\n[f(a=1)]")
    assert (s.thought, s.answer.strip(), s.ok) == ("need f", "[f(a=1)]", True)
    cases = {"[f(a=1)]": "no <think> block at the start", "<think>never closed [f()]": "<think> is never closed",
             "<think> </think>[f()]": "empty thought", "<think>x</think>  ": "nothing after </think>",
             "<think>a</think>[f()]<think>b</think>": "more than one think block",
             "<think>a<think>b</think>[f()]": "nested <think>", "x<think>a</think>[f()]": "no <think> block at the start"}
    for text, problem in cases.items():
        s = split_think(text)
        assert not s.ok and s.problem == problem, text
    pre = split_think("need f</think>\n[f(a=1)]", prefilled=True)
    assert pre.ok and pre.thought == "need f"


def test_strip_think_and_parse_completion():
    assert strip_think("<think>x</think>\n[f(a=1)]") == "[f(a=1)]"
    assert strip_think("<think>unclosed") == ""
    assert strip_think("[f(a=1)]") == "[f(a=1)]"
    c = parse_completion("<think>pick f</think>\n[f(a=1)]")
    assert c.template_ok and c.calls == [Call("f", {"a": 1})] and c.error is None and c.has_calls
    c = parse_completion("<think>none fits</think>\nNo function can do this.")
    assert c.template_ok and c.calls is None and isinstance(c.error, DecodeError) and not c.has_calls
    c = parse_completion("[f(a=1)]")  # no think block: the whole text is the answer
    assert not c.template_ok and c.calls == [Call("f", {"a": 1})]


# ---- rendering -----------------------------------------------------------------------------------------------

def test_render_each_format():
    calls = [Call("math.factorial", {"n": 5}), Call("g", {"s": "it's", "xs": [1, None], "d": {"k": True}})]
    assert render_calls(calls) == "[math.factorial(n=5), g(s=\"it's\", xs=[1, None], d={'k': True})]"
    assert json.loads(render_calls(calls, "json")) == [{"name": "math.factorial", "arguments": {"n": 5}},
                                                       {"name": "g", "arguments": {"s": "it's", "xs": [1, None],
                                                                                   "d": {"k": True}}}]
    assert render_calls(calls, "hermes").count("<tool_call>") == 2
    assert render_calls(calls, "openai")[1]["function"]["name"] == "g"
    assert render_completion("why", calls[:1]) == "<think>why</think>\n[math.factorial(n=5)]"
    assert render_completion("none fits", None, text="Sorry.") == "<think>none fits</think>\nSorry."


def test_render_errors():
    with pytest.raises(RenderError):
        render_calls([Call("f", {"x": math.inf})])
    with pytest.raises(RenderError):
        render_calls([Call("f", {"from": 1})])  # a keyword cannot be a Python argument name
    with pytest.raises(RenderError):
        render_calls([Call("f", {"x": {1, 2}})])
    with pytest.raises(RenderError):
        render_calls([Call("f", {"x": math.nan})], "json")


# ---- properties ----------------------------------------------------------------------------------------------

idents = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,7}", fullmatch=True).filter(lambda s: s.isidentifier()).filter(
    lambda s: s not in {"None", "True", "False", "and", "or", "not", "if", "in", "is", "for", "def", "class", "from",
                        "as", "with", "else", "elif", "while", "try", "del", "pass", "break", "return", "yield",
                        "raise", "async", "await", "global", "import", "lambda", "assert", "except", "finally",
                        "continue", "nonlocal"})
dotted = st.lists(idents, min_size=1, max_size=3).map(".".join)
spaced = st.lists(st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,6}", fullmatch=True), min_size=2, max_size=4).map(" ".join)
scalars = (st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False, allow_infinity=False)
           | st.text(max_size=12))
json_like = st.recursive(scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
                         max_leaves=10)
py_like = st.recursive(scalars, lambda c: st.lists(c, max_size=3) | st.tuples(c, c)
                       | st.dictionaries(st.text(max_size=5) | st.integers(), c, max_size=3), max_leaves=10)


def calls_of(values, names=dotted):
    return st.lists(st.builds(Call, names, st.dictionaries(idents, values, max_size=4)), max_size=4)


@settings(max_examples=400, deadline=None)
@given(calls_of(py_like))
def test_python_render_decode_round_trip(calls):
    assert decode_calls(render_calls(calls, "python"), "python") == calls


@settings(max_examples=200, deadline=None)
@given(calls_of(json_like, names=spaced | st.sampled_from(["get-weather", "Market Trends API", "a.b c"])))
def test_python_round_trip_with_known_names(calls):
    text = render_calls(calls, "python")
    assert decode_calls(text, "python", known_names=[c.name for c in calls]) == calls


@settings(max_examples=300, deadline=None)
@given(calls_of(json_like, names=dotted | spaced), st.sampled_from(["json", "hermes", "openai"]))
def test_json_family_round_trip(calls, fmt):
    rendered = render_calls(calls, fmt)
    if fmt == "hermes" and not calls:
        return  # no block: nothing to decode
    assert decode_calls(rendered, fmt) == calls


call_like = st.text(alphabet=string.ascii_letters + string.digits + "_.,=()[]{}'\"-+*/ :<>\n\\`#", max_size=60)


@settings(max_examples=1500, deadline=None)
@given(st.one_of(st.text(max_size=80), call_like, call_like.map(lambda s: "[f(" + s + ")]")),
       st.sampled_from(["python", "json", "hermes", "qwen_fc", "openai", "auto"]))
def test_decoders_raise_only_decode_error(text, fmt):
    try:
        calls = decode_calls(text, fmt, known_names=["Market Trends API"])
    except DecodeError:
        return
    assert isinstance(calls, list) and all(isinstance(c, Call) for c in calls)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60), st.booleans())
def test_think_helpers_total(text, prefilled):
    split = split_think(text, prefilled=prefilled)
    assert isinstance(split.ok, bool)
    if split.ok:
        assert split.thought.strip() and split.answer.strip()
    parse_completion(text, prefilled_think=prefilled)
    strip_think(text)



def test_parsing_model_output_emits_no_warnings():
    """In a process that shows every warning (python -W default), decoding prints none, and other code's warnings
    still show (the filter matches only funrl's parse calls)."""
    import subprocess
    import sys
    code = ("from funrl_lib.calls import decode_calls, DecodeError\n"
            "decode_calls(\"[f(a='\\\\p', b=1)]\")\n"
            "try:\n    decode_calls('[f(a=1if x else 2)]')\nexcept DecodeError:\n    pass\n"
            "import ast; ast.parse('1if x else 2', mode='eval')\n")
    out = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("Warning") == 1 and "<unknown>" in out.stderr  # only the unrelated ast.parse warned
