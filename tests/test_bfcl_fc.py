"""FC mode: decoding Hermes/Qwen `<tool_call>` replies as BFCL's QwenFCHandler does, and `funrl bfcl evaluate`
choosing FC decoding for a result folder named `*-FC` (BFCL's convention), with the report saying so.

The property tests run the official code itself: `QwenFCHandler.decode_ast`, `_extract_tool_calls` and the
think-splitting lines of `_parse_query_response_prompting` are taken verbatim from the installed bfcl-eval wheel
(bfcl_eval/model_handler/local_inference/qwen_fc.py, which cannot be imported without bfcl-eval's full dependencies)
and compared with funrl on generated replies. Official verdicts on whole entries: tests/test_bfcl_fc_parity.py.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funrl_lib.bfcl.checker import gold_calls, score_entry
from funrl_lib.bfcl.data import load_category
from funrl_lib.bfcl.evaluate import evaluate_results, model_folder, write_outputs
from funrl_lib.calls import Call, DecodeError, decode_calls, decode_qwen_fc, qwen_fc_response, render_calls
from funrl_lib.cli import main


# ---- the official code, verbatim ---------------------------------------------------------------------------------

def _official_qwen_fc():
    """QwenFCHandler's decode_ast, _extract_tool_calls and _parse_query_response_prompting, executed from the wheel's
    own source (decorators dropped) in a class of their own."""
    spec = importlib.util.find_spec("bfcl_eval")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("bfcl-eval is not installed")
    source = Path(list(spec.submodule_search_locations)[0], "model_handler", "local_inference", "qwen_fc.py")
    tree = ast.parse(source.read_text(encoding="utf-8"))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "QwenFCHandler")
    wanted = {"decode_ast", "_extract_tool_calls", "_parse_query_response_prompting"}
    methods = [n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name in wanted]
    assert {m.name for m in methods} == wanted
    for m in methods:
        m.decorator_list = [d for d in m.decorator_list if isinstance(d, ast.Name) and d.id == "staticmethod"]
    module = ast.Module(body=[ast.ClassDef(name="Official", bases=[], keywords=[], body=methods, decorator_list=[])],
                        type_ignores=[])
    namespace = {"re": re, "json": json, "Any": object}
    exec(compile(ast.fix_missing_locations(module), str(source), "exec"), namespace)
    return namespace["Official"]()


OFFICIAL = None


def official():
    global OFFICIAL
    if OFFICIAL is None:
        OFFICIAL = _official_qwen_fc()
    return OFFICIAL


def official_decode(text):
    """("ok", [{name: args}]) or ("error", None), as BFCL's evaluator sees decode_ast."""
    try:
        return "ok", official().decode_ast(text, "python", False)
    except Exception:  # noqa: BLE001 - any exception is a decode failure for BFCL
        return "error", None


def funrl_decode(text):
    try:
        return "ok", [{c.name: c.arguments} for c in decode_qwen_fc(text)]
    except DecodeError:
        return "error", None


def official_kept(text):
    response = SimpleNamespace(choices=[SimpleNamespace(text=text)],
                               usage=SimpleNamespace(prompt_tokens=0, completion_tokens=0))
    return official()._parse_query_response_prompting(response)["model_responses"]


# ---- decoding cases ----------------------------------------------------------------------------------------------

WEATHER = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}\n</tool_call>'
TIME = '<tool_call>\n{"name": "get_time", "arguments": {"tz": "CET"}}\n</tool_call>'


def test_decode_qwen_fc_cases():
    paris = Call("get_weather", {"city": "Paris", "unit": "celsius"})
    assert decode_qwen_fc(WEATHER) == [paris]
    assert decode_calls(WEATHER, "qwen_fc") == [paris]
    # several blocks, with or without text around them
    assert decode_qwen_fc(WEATHER + "\n" + TIME) == [paris, Call("get_time", {"tz": "CET"})]
    assert decode_qwen_fc("Let me check.\n" + WEATHER + "\nDone.") == [paris]
    assert decode_qwen_fc("<think>\nThe user wants the weather.\n</think>\n\n" + WEATHER) == [paris]
    # no block: no call, not an error (the AST categories then report a wrong count)
    for text in ("", "I cannot help with that.", '[{"name": "get_weather", "arguments": {"city": "Paris"}}]',
                 '{"name": "get_weather", "arguments": {}}', "[get_weather(city='Paris')]",
                 '<tool_call>{"name": "get_weather", "arguments": {}}</tool_call>',  # the newlines are required
                 '<tool_call>\r\n{"name": "get_weather", "arguments": {}}\r\n</tool_call>',
                 '<tool_call>\n{"name": "get_weather", "arguments": {}}'):  # never closed
        assert decode_qwen_fc(text) == [], text
    # a block that is not JSON is skipped silently, the others still count
    assert decode_qwen_fc('<tool_call>\n{"name": "get_weather", "arguments": {\n</tool_call>\n' + TIME) == [
        Call("get_time", {"tz": "CET"})]
    assert decode_qwen_fc("<tool_call>\n{'name': 'f', 'arguments': {}}\n</tool_call>") == []
    # a block that parses but is not {"name", "arguments": {...}} fails the whole decode
    for body in ('[{"name": "f", "arguments": {}}]', '"f"', "{}", '{"name": "f"}', '{"name": "f", "parameters": {}}',
                 '{"name": "f", "arguments": "{\\"a\\": 1}"}', '{"name": "f", "arguments": null}',
                 '{"name": ["f"], "arguments": {}}'):
        with pytest.raises(DecodeError):
            decode_qwen_fc(WEATHER + "\n<tool_call>\n" + body + "\n</tool_call>")
    # JSON as Python's json reads it: the last of two equal keys wins; NaN is a number
    assert decode_qwen_fc('<tool_call>\n{"name": "f", "arguments": {"a": 1}, "arguments": {"a": 2}}\n</tool_call>'
                          ) == [Call("f", {"a": 2})]
    # a name that is not a string is kept (the checker reports a wrong name, as BFCL's does)
    assert decode_qwen_fc('<tool_call>\n{"name": 7, "arguments": {}}\n</tool_call>') == [Call(7, {})]
    with pytest.raises(DecodeError):
        decode_qwen_fc(["not", "text"])
    # rendering writes what the decoder reads
    assert decode_qwen_fc(render_calls([paris, paris], "qwen_fc")) == [paris, paris]


def test_what_fc_generation_keeps_of_a_reply():
    assert qwen_fc_response("<think>\nhmm\n</think>\n\n" + WEATHER) == WEATHER
    assert qwen_fc_response(WEATHER) == WEATHER
    # a call inside the think block is not part of the answer; an unclosed think block is kept whole
    assert decode_qwen_fc(qwen_fc_response("<think>\n" + WEATHER + "\n</think>\nNo tool fits.")) == []
    assert decode_qwen_fc(qwen_fc_response("<think>\nstill thinking " + WEATHER)) != []
    assert qwen_fc_response("a</think>b</think>\n\nc") == "c"
    for text in ("<think>x</think>\n" + WEATHER, "plain", "a</think>b</think>\n\nc", ""):
        once = qwen_fc_response(text)
        assert qwen_fc_response(once) == once  # idempotent: harmless on files BFCL's own generation wrote
        assert once == official_kept(text)


# ---- property tests against the official code ---------------------------------------------------------------------

names = st.one_of(st.sampled_from(["get_weather", "spotify.play", "math.gcd", "f"]),
                  st.text(alphabet="abcdefghij_.", min_size=1, max_size=8), st.integers(0, 9), st.none())
json_values = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=8)
                           | st.floats(allow_nan=False, allow_infinity=False),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                        max_size=3), max_leaves=6)
arguments = st.dictionaries(st.text(alphabet="abcxyz_", min_size=1, max_size=6), json_values, max_size=3)
call_objects = st.one_of(
    st.builds(lambda n, a: {"name": n, "arguments": a}, names, arguments),
    st.builds(lambda n, a: {"name": n, "arguments": json.dumps(a)}, names, arguments),  # arguments as a string
    st.builds(lambda n, a: {"name": n, "parameters": a}, names, arguments),
    st.builds(lambda n: {"name": n}, names),
    st.builds(lambda n, a: {"id": "call_0", "name": n, "arguments": a}, names, arguments),
    json_values)
bodies = st.one_of(call_objects.map(json.dumps), call_objects.map(lambda o: json.dumps(o, indent=2)),
                   st.lists(call_objects, max_size=2).map(json.dumps),
                   call_objects.map(lambda o: json.dumps(o)[:-1]),  # truncated JSON
                   st.text(alphabet='{}[]":, \nabc', max_size=15))
blocks = st.one_of(bodies.map(lambda b: f"<tool_call>\n{b}\n</tool_call>"),
                   bodies.map(lambda b: f"<tool_call>{b}</tool_call>"),
                   bodies.map(lambda b: f"<tool_call>\n{b}"),
                   bodies.map(lambda b: f"{b}\n</tool_call>"))
fragments = st.one_of(blocks, blocks, st.sampled_from(["<think>", "</think>", "\n", "\r\n", " ", "Sure! ",
                                                       "<tool_call>\n", "\n</tool_call>", "I cannot help."]),
                      bodies, st.text(max_size=10))
replies = st.lists(fragments, max_size=6).map("".join)


@settings(max_examples=700, deadline=None)
@given(replies)
def test_decoder_equals_official_decode_ast(text):
    assert funrl_decode(text) == official_decode(text)


@settings(max_examples=300, deadline=None)
@given(replies)
def test_kept_text_and_decode_equal_official_pipeline(text):
    kept = qwen_fc_response(text)
    assert kept == official_kept(text)
    assert funrl_decode(kept) == official_decode(kept)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.builds(lambda n, a: Call(n, a), st.text(alphabet="abc._", min_size=1, max_size=8), arguments),
                max_size=4), st.sampled_from(["", "Sure.\n", "<think>\nplan\n</think>\n\n"]))
def test_rendered_calls_round_trip(calls, prefix):
    text = prefix + render_calls(calls, "qwen_fc")
    assert decode_qwen_fc(qwen_fc_response(text)) == calls


# ---- scoring an entry and evaluating an -FC folder ----------------------------------------------------------------

def _fc_text(entry) -> str:
    return render_calls(gold_calls(entry.possible_answer), "qwen_fc")


def test_score_entry_fc_per_category():
    entry = load_category("simple_python")["simple_python_0"]
    gold = _fc_text(entry)
    assert score_entry(entry, gold, fc=True).valid
    assert score_entry(entry, "<think>\nok\n</think>\n\n" + gold, fc=True).valid
    assert score_entry(entry, gold).error_type == "ast_decoder:decoder_failed"  # prompt style cannot read it
    assert score_entry(entry, "No idea.", fc=True).error_type == "simple_function_checker:wrong_count"
    assert score_entry(entry, gold.replace("\n", ""), fc=True).error_type == "simple_function_checker:wrong_count"
    assert score_entry(entry, "<tool_call>\n[1]\n</tool_call>", fc=True).error_type == "ast_decoder:decoder_failed"
    irrelevant = load_category("irrelevance")["irrelevance_0"]
    call = render_calls([Call(irrelevant.functions[0].name, {})], "qwen_fc")
    assert score_entry(irrelevant, "I can't help with that.", fc=True).valid  # no call decoded: correct
    assert score_entry(irrelevant, '[{"name": "x", "arguments": {}}]', fc=True).valid  # no tags: no call
    assert score_entry(irrelevant, "<tool_call>\n{}\n</tool_call>", fc=True).valid  # decode fails: no call
    assert score_entry(irrelevant, call, fc=True).error_type == "irrelevance_error:decoder_success"
    relevant = load_category("live_relevance")
    entry = next(iter(relevant.values()))
    assert score_entry(entry, render_calls([Call("anything", {})], "qwen_fc"), fc=True).valid
    assert score_entry(entry, "Sure.", fc=True).error_type == "relevance_error:decoder_failed"


def _write(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _results(folder: Path) -> None:
    simple = list(load_category("simple_python").values())[:4]
    _write(folder / "non_live" / "BFCL_v4_simple_python_result.json",
           [{"id": e.id, "result": ("<think>\nplan\n</think>\n\n" if i % 2 else "") + _fc_text(e)}
            for i, e in enumerate(simple[:3])] + [{"id": simple[3].id, "result": "I don't know."}])
    irrelevance = list(load_category("irrelevance").values())[:4]
    _write(folder / "non_live" / "BFCL_v4_irrelevance_result.json",
           [{"id": e.id, "result": "Sorry, none of the tools fits."} for e in irrelevance[:3]]
           + [{"id": irrelevance[3].id, "result": render_calls([Call("f", {})], "qwen_fc")}])


def test_evaluate_decodes_an_fc_folder_fc_style_without_a_flag(tmp_path, capsys):
    _results(tmp_path / "res" / "Qwen2.5-Coder-0.5B-Instruct-FC")
    _results(tmp_path / "res2" / "Qwen2.5-Coder-0.5B-Instruct")  # the same text, prompt style
    assert main(["bfcl", "evaluate", "--results", str(tmp_path / "res"), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    cats = summary["categories"]
    assert (cats["simple_python"]["correct"], cats["simple_python"]["total"]) == (3, 4)
    assert (cats["irrelevance"]["correct"], cats["irrelevance"]["total"]) == (3, 4)
    assert cats["simple_python"]["decoding"] == cats["irrelevance"]["decoding"] == "fc"
    assert cats["simple_python"]["model_folder"] == "Qwen2.5-Coder-0.5B-Instruct-FC"
    assert sorted(summary["decoding"]["fc"]) == ["irrelevance", "simple_python"]
    assert "irrelevance and live_irrelevance count an output as correct when no call is decoded" in \
        summary["decoding"]["notes"][0]
    md = (tmp_path / "out" / "summary.md").read_text()
    assert "Decoded FC style: " in md and "count an output as correct when no call is decoded" in md
    assert "| simple_python | 75.00 | 3 | 4 | 400 | no, 396 missing | fc |" in md
    assert "FC style: irrelevance and live_irrelevance count as correct when no call is decoded" in out
    errors = json.loads((tmp_path / "out" / "errors.json").read_text())
    assert errors["simple_python"] == {"simple_function_checker:wrong_count": 1}

    prompt, _ = evaluate_results(tmp_path / "res2")
    assert prompt["categories"]["simple_python"]["decoding"] == "prompt" and "fc" not in prompt["decoding"]
    assert prompt["categories"]["simple_python"]["correct"] == 0  # <tool_call> text is not Python-list syntax
    assert prompt["categories"]["irrelevance"]["correct"] == 4  # and so never a call
    forced, _ = evaluate_results(tmp_path / "res2", fc=True)
    assert forced["categories"]["simple_python"]["correct"] == 3


def test_model_folder_and_config_notes(tmp_path, capsys):
    assert model_folder(tmp_path / "m-FC" / "non_live" / "BFCL_v4_irrelevance_result.json").name == "m-FC"
    assert model_folder(tmp_path / "flat" / "BFCL_v4_irrelevance_result.json").name == "flat"
    assert model_folder(tmp_path / "m" / "agentic" / "memory" / "kv" / "BFCL_v4_memory_kv_result.json").name == "m"
    # an --prompt fc run written before the -FC convention: scored prompt style, and the report says how to fix it
    old = tmp_path / "old" / "tiny"
    _results(old)
    (old / "generation_config.json").write_text(json.dumps({"prompt": "fc"}))
    summary, reports = evaluate_results(tmp_path / "old")
    assert summary["categories"]["simple_python"]["decoding"] == "prompt"
    assert len(summary["notes"]) == 1 and "rename the folder to 'tiny-FC'" in summary["notes"][0]
    write_outputs(summary, reports, tmp_path / "out", plot=False)
    assert "rename the folder to 'tiny-FC'" in (tmp_path / "out" / "summary.md").read_text()
    # multi-turn results in an -FC folder are named as not scored, not mis-scored
    fc = tmp_path / "mt" / "x-FC"
    _write(fc / "multi_turn" / "BFCL_v4_multi_turn_base_result.json", [{"id": "multi_turn_base_0", "result": [[]]}])
    _results(fc)
    summary, _ = evaluate_results(tmp_path / "mt")
    assert "multi_turn_base" not in summary["categories"]
    assert "prompting mode only" in summary["found_but_not_scored"]["multi_turn_base"]


def test_bfcl_score_follows_the_naming_convention(tmp_path, capsys):
    _results(tmp_path / "m-FC")
    path = tmp_path / "m-FC" / "non_live" / "BFCL_v4_simple_python_result.json"
    assert main(["bfcl", "score", "--category", "simple_python", "--results", str(path)]) == 0
    out = capsys.readouterr().out
    assert "3/4 correct" in out and "decoded FC style" in out
