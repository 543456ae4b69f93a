"""The sample model, its formats (funrl / ToolACE / OpenAI), the exporters and the crash-safe JSONL helpers."""

import json
import keyword
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funrl_lib.calls import Call
from funrl_lib.prompts import TOOLACE_SYSTEM, toolace_system_prompt
from funrl_lib.rewards import funrl_binary
from funrl_lib.synth.export import export_rows, to_dataset, write_export
from funrl_lib.synth.io import InputError, JsonlAppender, read_records
from funrl_lib.synth.sample import (Message, Sample, detect_format, read_samples, render_toolace_calls, sample_from,
                                    tools_from_system)

MARKET = {"name": "Market Trends API", "description": "Get the latest market trends.",
          "parameters": {"type": "dict", "properties": {
              "trend_type": {"description": "Trend type.", "type": "string", "enum": ["GAINERS", "LOSERS"]},
              "country": {"description": "ISO 3166", "type": "string", "default": "us"}},
              "required": ["trend_type"]}, "required": None}
WEATHER = {"name": "get_weather", "description": "Get the weather for a city.",
           "parameters": {"type": "dict", "properties": {"city": {"type": "string", "description": "City"},
                                                         "days": {"type": "integer", "description": "Days"}},
                          "required": ["city"]}}


def toolace_record():
    return {"system": toolace_system_prompt([MARKET, WEATHER]), "conversations": [
        {"from": "user", "value": "Show me today's gainers in the us market, and the weather in Oslo for 2 days."},
        {"from": "assistant", "value": '[Market Trends API(trend_type="GAINERS", country="us"), '
                                       'get_weather(city="Oslo", days=2)]'},
        {"from": "tool", "value": '[{"name": "Market Trends API", "results": {"top": "ACME"}}, '
                                  '{"name": "get_weather", "results": {"temp": 3}}]'},
        {"from": "assistant", "value": "ACME leads the gainers; Oslo will be around 3 degrees."}]}


def weather_sample(sid="d1"):
    return Sample(sid, [WEATHER], [
        Message("user", "Weather in Paris for 3 days?"),
        Message("assistant", calls=[Call("get_weather", {"city": "Paris", "days": 3})],
                think="get_weather fits; city=Paris, days=3 from the request."),
        Message("tool", results=[{"name": "get_weather", "results": {"temp": 21}}]),
        Message("assistant", "Paris: 21 degrees.")], "single")


def test_toolace_system_prompt_is_the_released_text():
    # the released prompt, split where the data has "\n" (HF ``Team-ACE/ToolACE``, ``system`` field)
    assert TOOLACE_SYSTEM.startswith("You are an expert in composing functions. You are given a question and a set "
                                     "of possible functions. \nBased on the question")
    assert TOOLACE_SYSTEM.endswith("func2(params)]\n\nNO other text MUST be included.")
    assert tools_from_system(toolace_system_prompt([MARKET])) == [MARKET]


def test_read_toolace_record_decodes_names_with_spaces_and_round_trips():
    rec = toolace_record()
    s = sample_from(rec, index=5)
    assert detect_format(rec) == "toolace" and s.id == 5
    assert [m.role for m in s.messages] == ["user", "assistant", "tool", "assistant"]
    assert s.messages[1].calls == [Call("Market Trends API", {"trend_type": "GAINERS", "country": "us"}),
                                   Call("get_weather", {"city": "Oslo", "days": 2})]
    assert s.messages[2].results[1] == {"name": "get_weather", "results": {"temp": 3}}
    back = s.to_toolace()
    assert back == {"id": 5, **rec}  # byte-for-byte the same turns and system prompt


def test_broken_call_turn_is_kept_with_its_problem():
    rec = toolace_record()
    rec["conversations"][1]["value"] = '[Market Trends API(trend_type="GAINERS)]'
    rec["conversations"][2]["value"] = "not json"
    s = sample_from(rec)
    assert s.messages[1].calls is None and s.messages[1].is_call
    assert "unterminated string" in s.messages[1].problem
    assert s.messages[2].problem.startswith("tool output is not JSON")
    assert s.to_toolace()["conversations"][1]["value"] == rec["conversations"][1]["value"]


def test_funrl_and_openai_round_trips():
    s = weather_sample()
    assert Sample.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    o = s.to_openai()
    assert o["messages"][1]["tool_calls"][0]["function"] == {"name": "get_weather",
                                                             "arguments": '{"city": "Paris", "days": 3}'}
    assert o["messages"][2]["tool_call_id"] == o["messages"][1]["tool_calls"][0]["id"]
    back = sample_from(o)
    assert [m.role for m in back.messages] == ["user", "assistant", "tool", "assistant"]
    assert back.messages[1].calls == s.messages[1].calls and back.messages[1].think == s.messages[1].think
    assert back.messages[2].results == s.messages[2].results
    assert back.tool_defs()[0].to_dict()["parameters"]["properties"]["days"]["type"] in ("integer", "int")


def test_tools_are_read_once_per_file_and_written_back_as_they_were(tmp_path):
    from funrl_lib.synth.io import dumps_line
    from funrl_lib.synth.verify import VerifyContext, verify_sample
    from funrl_lib.tools import ToolDef, ToolSchemaError, UnreadableTool

    wrapped = {"type": "function", "function": {"name": "f", "description": "F.",
                                                "parameters": {"type": "object", "properties": {}}}}
    nameless = {"description": "a definition without a name", "parameters": {"type": "dict", "properties": {}}}
    first = weather_sample("a").to_dict()
    second = weather_sample("b").to_dict()
    second["tools"] = [nameless, WEATHER, wrapped, "not a tool", 3.5]
    lines = [dumps_line(first), dumps_line(second)]
    p = tmp_path / "dialogs.jsonl"
    p.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    (_, a, _), (_, b, _) = read_samples(str(p))
    assert all(isinstance(t, ToolDef) for t in a.tools + b.tools)
    assert a.tools[0] is b.tools[1]  # one definition of the file, read once
    assert [type(t) for t in b.tools] == [UnreadableTool, ToolDef, ToolDef, UnreadableTool, UnreadableTool]
    assert b.tool_names() == [None, "get_weather", "f", None, None]
    assert [dumps_line(a.to_dict()), dumps_line(b.to_dict())] == lines  # the same bytes
    with pytest.raises(ToolSchemaError, match=r"tools\[0\]: name: missing"):
        b.tool_defs()
    with pytest.raises(ToolSchemaError, match="name: missing"):
        b.to_openai()
    failed = verify_sample(b, VerifyContext()).failed["tool_schema"]
    assert failed[:2] == ["tools[0]: name: missing (every tool needs a name)",
                          "tools[3]: <tool>: expected an object, got string"]
    built = Sample("c", [dict(WEATHER)], [Message("user", "hi")])  # dicts given to a sample are read there
    assert isinstance(built.tools[0], ToolDef) and built.tools[0].name == "get_weather"


def test_decision_turns_cover_calls_and_refusals_not_summaries():
    s = weather_sample()
    assert s.decision_turns() == [1]
    refusal = Sample("r", [WEATHER], [Message("user", "Book me a flight"), Message("assistant", "I cannot do that.")])
    assert refusal.decision_turns() == [1]


# A Python keyword is no function or argument name a call text can carry (`is(...)`, `f(del=1)` do not parse,
# in BFCL's decoder either), so neither strategy draws one: the filters exclude every keyword, not a few.
names = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,8}( [A-Za-z][A-Za-z0-9]{0,6}){0,2}", fullmatch=True).filter(
    lambda n: not any(keyword.iskeyword(w) for w in n.split()))
keys = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(lambda k: not keyword.iskeyword(k))
scalars = st.one_of(st.text(max_size=12), st.integers(-10**6, 10**6), st.booleans(), st.none(),
                    st.floats(allow_nan=False, allow_infinity=False, width=32))
values = st.recursive(scalars, lambda c: st.one_of(st.lists(c, max_size=3),
                                                   st.dictionaries(st.text(max_size=5), c, max_size=3)), max_leaves=6)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(names, st.dictionaries(keys, values, max_size=3)), min_size=1, max_size=3))
def test_toolace_call_text_round_trips(calls):
    calls = [Call(n, a) for n, a in calls]
    tools = [{"name": c.name, "description": "d", "parameters": {"type": "dict", "properties": {}}} for c in calls]
    rec = {"system": toolace_system_prompt(tools),
           "conversations": [{"from": "user", "value": "q"},
                             {"from": "assistant", "value": render_toolace_calls(calls)}]}
    got = sample_from(rec).messages[1]
    assert got.problem is None and got.calls == calls


def test_read_samples_names_file_and_line_and_goes_on(tmp_path):
    p = tmp_path / "mixed.jsonl"
    good = toolace_record()
    p.write_text(json.dumps(good) + "\n{not json\n" + json.dumps({"system": "x"}) + "\n\n" +
                 json.dumps(weather_sample("w").to_dict()) + "\n", encoding="utf-8")
    out = list(read_samples(str(p)))
    assert [(i, s is not None) for i, s, _ in out] == [(0, True), (1, False), (2, False), (3, True)]
    assert out[0][1].id == 0 and out[3][1].id == "w"
    assert str(out[1][2]).startswith(f"{p}:2: not valid JSON")
    assert str(out[2][2]) == f"{p}:3: field 'conversations' is missing or not a list"
    arr = tmp_path / "arr.json"
    arr.write_text(json.dumps([good, {"system": "no tools", "conversations": []}]), encoding="utf-8")
    out = list(read_samples(str(arr), "toolace"))
    assert out[0][1].id == 0 and "record 1: field 'system': no JSON list" in str(out[1][2])


def test_unreadable_files_raise_one_clear_error(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        list(read_records(tmp_path / "nope.jsonl"))
    # a JSONL line that is not UTF-8 is an error of that line alone (issue 17); the other lines are read
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes(b'{"a": 1}\n{"b": "\xe9"}\n{"c": 3}\n')
    first, second, third = read_records(bad)
    assert first.value == {"a": 1} and third.value == {"c": 3} and third.line == 3
    assert re.match(r".*latin1.jsonl:2: not UTF-8", str(second.error)) and second.raw == '{"b": "\\xe9"}'
    # a JSON array document is one record set: a bad byte anywhere makes the file unreadable, naming the line
    arr = tmp_path / "latin1.json"
    arr.write_bytes(b'[{"a": 1},\n{"b": "\xe9"}]\n')
    with pytest.raises(InputError, match=r"latin1.json:2: not UTF-8"):
        list(read_records(arr))


def test_appender_drops_a_torn_line_and_resumes(tmp_path):
    p = tmp_path / "out.jsonl"
    with JsonlAppender(p) as out:
        for i in range(3):
            out.write({"id": i, "x": "a" * i})
    whole = p.read_bytes()
    p.write_bytes(whole[:-4])  # killed while writing the third line
    with JsonlAppender(p) as out:
        assert out.ids == {0, 1} and out.recovered_torn_line and out.resumed
        for i in range(3):
            if i not in out:
                out.write({"id": i, "x": "a" * i})
    assert p.read_bytes() == whole


def test_exports_match_the_reward_and_bfcl_shapes(tmp_path):
    s = weather_sample()
    bfcl = export_rows([s], "bfcl")
    assert bfcl == [{"id": "d1", "question": [[{"role": "user", "content": "Weather in Paris for 3 days?"}]],
                     "function": [WEATHER], "ground_truth": [{"get_weather": {"city": ["Paris"], "days": [3]}}],
                     "category": "multiple"}]
    trl = export_rows([s], "trl")[0]
    assert trl["prompt"][0]["role"] == "system" and '"name": "get_weather"' in trl["prompt"][0]["content"]
    assert trl["completion"][0]["content"] == ('<think>get_weather fits; city=Paris, days=3 from the request.</think>\n'
                                               '[get_weather(city="Paris", days=3)]')
    # the reference completion earns the paper's binary reward; a wrong value does not
    wrong = trl["completion"][0]["content"].replace("days=3", "days=4")
    assert funrl_binary(completions=[trl["completion"][0]["content"], wrong], tools=[trl["tools"]] * 2,
                        ground_truth=[trl["ground_truth"]] * 2) == [1.0, 0.0]
    refusal = Sample("r", [WEATHER], [Message("user", "Book a flight"),
                                      Message("assistant", "No tool can book flights.", think="No tool fits.")])
    row = export_rows([refusal], "trl")[0]
    assert row["ground_truth"] == "[]" and row["category"] == "irrelevance"
    assert funrl_binary(completions=[row["completion"][0]["content"]], tools=[row["tools"]],
                        ground_truth=[row["ground_truth"]]) == [1.0]
    ds = to_dataset([s, refusal], "trl")
    assert ds.num_rows == 2 and set(ds.column_names) >= {"prompt", "completion", "tools", "ground_truth"}
    assert json.loads(to_dataset([s], "bfcl")[0]["ground_truth"]) == bfcl[0]["ground_truth"]
    n = write_export([s, refusal], "openai", str(tmp_path / "o.jsonl"))
    assert n == 2 and len((tmp_path / "o.jsonl").read_text().splitlines()) == 2


def test_export_command_writes_rows_and_a_dataset_and_names_bad_lines(tmp_path, capsys):
    from datasets import load_from_disk

    from funrl_lib.cli import main

    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(toolace_record()) + "\n{broken\n" + json.dumps(weather_sample("w").to_dict()) + "\n",
                   encoding="utf-8")
    out, ds_dir = tmp_path / "trl.jsonl", tmp_path / "ds"
    assert main(["export", "--in", str(src), "--to", "trl", "--out", str(out), "--dataset", str(ds_dir)]) == 1
    captured = capsys.readouterr()
    assert f"{src}:2: not valid JSON" in captured.err and "2 samples -> 2 trl rows" in captured.out
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == [0, "w"]
    assert json.loads(rows[0]["ground_truth"]) == [
        {"Market Trends API": {"trend_type": ["GAINERS"], "country": ["us"]}},
        {"get_weather": {"city": ["Oslo"], "days": [2]}}]
    assert load_from_disk(str(ds_dir)).num_rows == 2
