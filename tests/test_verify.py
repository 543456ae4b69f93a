"""Dual-layer verification: every rule on a clean ToolACE-format fixture and on one corruption of its own kind, the
LLM judge path with a scripted backend, FunRL's filter, and the CLI end to end (mixed inputs, resume)."""

import asyncio
import copy
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from funrl_lib.calls import Call
from funrl_lib.cli import build_parser
from funrl_lib.cli.samples import run_verify
from funrl_lib.synth.api_pool import ExecutionError
from funrl_lib.synth.backends import Backend, ChatResult
from funrl_lib.synth.io import InputError
from funrl_lib.synth.sample import Message, Sample, sample_from
from funrl_lib.synth.verify import (FUNRL_PROMPTS, JUDGE_PROMPTS, RULES, TOOLACE_REFERENCE, SampleVerdict,
                                    VerifyContext, averify, funrl_filter, verify_file,
                                    verify_sample)
from funrl_lib.tools import ToolDef

FIXTURE = Path(__file__).parent / "fixtures" / "toolace" / "clean.json"
RECORDS = json.loads(FIXTURE.read_text(encoding="utf-8"))
IDS = [r.get("id", i) for i, r in enumerate(RECORDS)]
MARKET, WEATHER, NON_TOOL, FLIGHT, HOTEL, WEATHER_ZH, LOGS, CALENDAR = range(8)
MODEL_RULES = ["hallucinated_values", "task_consistency", "tool_response_consistency", "answer_grounding"]


def record(i):
    return copy.deepcopy(RECORDS[i])


def sample(i):
    return sample_from(record(i), index=i)


def edited(i, turn, value):
    """Record ``i`` with conversation turn ``turn`` replaced (tool outputs given as Python values)."""
    rec = record(i)
    rec["conversations"][turn]["value"] = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return sample_from(rec, index=i)


def tool_dicts(s):
    """A copy of the tool definitions of ``s`` as read, to edit and give back with :func:`set_tools`."""
    return copy.deepcopy(s.tool_sources())


def set_tools(s, dicts):
    """``s`` with its tools read again from ``dicts`` (a ToolDef is not changed once read)."""
    s.tools = [ToolDef.read(d) for d in dicts]
    return s


def tool_output(i, turn):
    return json.loads(RECORDS[i]["conversations"][turn]["value"])


def check(s, rule, ctx=None):
    """Reasons of one rule (the rule function itself, whatever its layer)."""
    return RULES[rule](s, ctx or VerifyContext())


def failing(s, ctx=None):
    ctx = ctx or VerifyContext()
    return {name: r for name, r in ((n, RULES[n](s, ctx)) for n in RULES) if r}


# ---------------------------------------------------------------------------------------------------------------
# The clean fixture and the registry
# ---------------------------------------------------------------------------------------------------------------

def test_registry_lists_every_rule_with_its_layer_in_order():
    assert [n for n, r in RULES.items() if r.layer == "rule"] == [
        "tool_schema", "dialog_fields", "call_parses", "call_name_exists", "required_params", "unknown_params",
        "param_values", "response_length", "invalid_chars", "date_string_artifacts", "call_response_names",
        "role_order", "tool_response_follows", "system_format", "execution"]
    assert [n for n, r in RULES.items() if r.layer == "model"] == MODEL_RULES
    for name, rule in RULES.items():
        assert rule.fn.__name__ == f"rule_{name}" and len(rule.fn.__doc__ or "") > 80, name
    assert set(JUDGE_PROMPTS) == set(MODEL_RULES) - {"answer_grounding"}  # no judge: it runs in both modes


def test_clean_fixture_passes_every_rule_of_both_layers():
    assert len(RECORDS) == 8
    for i in range(len(RECORDS)):
        s = sample(i)
        assert failing(s) == {}, s.id
        v = verify_sample(s)
        assert v == SampleVerdict(IDS[i], True), s.id


def test_fixture_covers_what_it_claims():
    names = [t.name for r in RECORDS for t in sample_from(r).tools]
    assert "Market Trends API" in names  # names with spaces
    assert len(sample(WEATHER).messages[1].calls) == 2  # parallel
    assert not sample(NON_TOOL).call_turns()  # a non-tool answer
    assert sample(FLIGHT).messages[1].calls is None and sample(FLIGHT).messages[3].calls  # clarification first
    assert [m.role for m in sample(HOTEL).messages] == ["user", "assistant", "tool", "assistant", "tool", "assistant"]


# ---------------------------------------------------------------------------------------------------------------
# Rule layer: one corruption per rule
# ---------------------------------------------------------------------------------------------------------------

def test_tool_schema_catches_broken_definitions():
    s = sample(MARKET)
    t = tool_dicts(s)
    t[0]["parameters"]["properties"]["trend_type"]["type"] = "strnig"
    del t[1]["description"]
    t[2]["name"] = t[0]["name"]
    reasons = check(set_tools(s, t), "tool_schema")
    assert any("tools[0] 'Market Trends API'" in r and "unknown type 'strnig'" in r for r in reasons)
    assert any("tools[1] 'Get Stock Quote': description: missing" in r for r in reasons)
    assert any("duplicate name" in r for r in reasons)
    s = sample(MARKET)
    t = tool_dicts(s)
    t[0]["parameters"]["required"] = ["trend", "trend_type"]
    assert "'trend' is not a property" in check(set_tools(s, t), "tool_schema")[0]


def test_dialog_fields_catches_missing_fields():
    s = sample(MARKET)
    s.messages[0].content = "  "
    s.messages[2].results = [{"name": "Market Trends API"}]
    reasons = check(s, "dialog_fields")
    assert reasons == ["turn 0 (user): empty text", "turn 2 (tool) result 0: missing 'results'"]
    s = sample(MARKET)
    s.tools = []
    assert check(s, "dialog_fields") == ["tools: empty, but the dialog calls tools"]
    s.messages = []
    assert "messages: empty dialog" in check(s, "dialog_fields")
    chat = sample(NON_TOOL)
    chat.tools = []
    assert check(chat, "dialog_fields") == []  # pure chat needs no tools


def test_call_parses_catches_a_call_list_that_does_not_decode():
    s = edited(MARKET, 1, '[Market Trends API(trend_type="GAINERS", country="us"]')
    assert s.messages[1].raw is not None
    [reason] = check(s, "call_parses")
    assert reason.startswith("turn 1 (assistant): call list does not decode:")
    s = edited(MARKET, 2, '[{"name": "Market Trends API", "results": {')
    assert check(s, "call_parses")[0].startswith("turn 2 (tool): tool output does not decode")


def test_call_name_exists_catches_an_unknown_function():
    s = edited(MARKET, 1, '[get_market_trends(trend_type="GAINERS")]')
    [reason] = check(s, "call_name_exists")
    assert "turn 1 call 0: 'get_market_trends' is not among the tools" in reason
    assert "Market Trends API, Get Stock Quote, Currency Converter" in reason


def test_required_params_catches_missing_required_top_level_and_nested():
    s = edited(FLIGHT, 3, '[Flight Search API(origin="San Francisco", departure_date="2025-03-15")]')
    assert check(s, "required_params") == [
        "turn 3 call 0 'Flight Search API': required parameter 'destination' is missing"]
    s = sample(CALENDAR)
    del s.messages[1].calls[0].arguments["reminder"]["method"]
    assert check(s, "required_params") == [
        "turn 1 call 0 'Create Calendar Event': required parameter 'reminder.method' is missing"]


def test_unknown_params_catches_start_string_where_the_definition_says_start_date():
    s = edited(LOGS, 1, '[Search Logs API(query_string="timeout error", start_string="2024-05-01", '
                        'end_string="2024-05-07", limit=50)]')
    reasons = check(s, "unknown_params")
    assert reasons[0] == ("turn 1 call 0 'Search Logs API': parameter 'start_string' is not in the definition (the "
                          "definition has 'start_date': the date->string corruption of the released ToolACE data)")
    assert len(reasons) == 2
    assert "date_string_artifacts" in verify_sample(s).failed  # the lexical rule names it too


def test_unknown_params_catches_unknown_nested_keys_but_not_free_form_dicts():
    s = sample(CALENDAR)
    s.messages[1].calls[0].arguments["reminder"]["channel"] = "email"
    assert check(s, "unknown_params") == [
        "turn 1 call 0 'Create Calendar Event': parameter 'reminder.channel' is not in the definition"]
    tool = {"name": "f", "description": "Store metadata.", "parameters": {"type": "dict", "properties": {
        "meta": {"type": "dict", "description": "Free-form."}}, "required": []}}
    free = Sample("x", [tool], [Message("user", "store colour red"),
                                Message("assistant", calls=[Call("f", {"meta": {"colour": "red"}})])])
    assert check(free, "unknown_params") == []


@pytest.mark.parametrize("turn,value,expected", [
    (1, '[Weather Forecast API(location="Berlin", days="3"), Weather Forecast API(location="Madrid", days=3)]',
     "turn 1 call 0 'Weather Forecast API': parameter 'days': expected int, got string \"3\""),
    (1, '[Weather Forecast API(location="Berlin", days=3.5), Weather Forecast API(location="Madrid", days=3)]',
     "parameter 'days': expected int, got float 3.5"),
    (1, '[Weather Forecast API(location="Berlin", days=True), Weather Forecast API(location="Madrid", days=3)]',
     "parameter 'days': expected int, got boolean true"),
    (1, '[Weather Forecast API(location="Berlin", days=3), Weather Forecast API(location="Madrid", days=30)]',
     "turn 1 call 1 'Weather Forecast API': parameter 'days': 30 is above the maximum 14"),
    (1, '[Weather Forecast API(location="Berlin", days=3, units="kelvin"), Weather Forecast API(location="Madrid", '
        'days=3)]', "parameter 'units': \"kelvin\" is not one of the enum values [\"metric\", \"imperial\"]"),
    (1, '[Weather Forecast API(location=None, days=3), Weather Forecast API(location="Madrid", days=3)]',
     "parameter 'location': expected string, got null"),
])
def test_param_values_catches_type_range_and_enum_violations(turn, value, expected):
    reasons = check(edited(WEATHER, turn, value), "param_values")
    assert len(reasons) == 1 and expected in reasons[0], reasons


def test_param_values_pattern_format_array_items_and_nested_dicts():
    s = edited(HOTEL, 3, '[Get Hotel Details(hotel_id="1043")]')
    assert check(s, "param_values") == ["turn 3 call 0 'Get Hotel Details': parameter 'hotel_id': \"1043\" does not "
                                        "match the pattern '^HTL-\\\\d{4}$'"]
    s = edited(FLIGHT, 3, '[Flight Search API(origin="San Francisco", destination="Tokyo", '
                          'departure_date="15/03/2025")]')
    assert "is not a date in YYYY-MM-DD format (format 'date')" in check(s, "param_values")[0]
    s = edited(FLIGHT, 3, '[Flight Search API(origin="San Francisco", destination="Tokyo", '
                          'departure_date="2025-02-30")]')
    assert "is not a calendar date" in check(s, "param_values")[0]
    s = sample(CALENDAR)
    args = s.messages[1].calls[0].arguments
    args["attendees"] = ["alice@example", "bob@example.com"]
    args["reminder"] = {"method": "sms", "minutes_before": -5}
    args["duration_minutes"] = 5
    args["start_time"] = "next Thursday"
    reasons = check(s, "param_values")
    assert any("'attendees[0]': \"alice@example\" does not match the pattern" in r for r in reasons)
    assert any("'reminder.method': \"sms\" is not one of the enum values" in r for r in reasons)
    assert any("'reminder.minutes_before': -5 is below the minimum 0" in r for r in reasons)
    assert any("'duration_minutes': 5 is below the minimum 15" in r for r in reasons)
    assert any("is not an ISO 8601 date-time" in r for r in reasons)
    assert len(reasons) == 5


def test_param_values_follows_bfcl_types_and_json_schema_pattern_search():
    tool = {"name": "f", "description": "d", "parameters": {"type": "dict", "properties": {
        "x": {"type": "float"}, "code": {"type": "string", "pattern": "HTL"},
        "tags": {"type": "array", "items": {"type": "string"}, "enum": ["a", "b"]},
        "maybe": {"type": ["string", "null"]}, "opt": {"type": "string", "default": None}}, "required": []}}

    def reasons(**args):
        return check(Sample("x", [tool], [Message("user", "u"), Message("assistant", calls=[Call("f", args)])]),
                     "param_values")

    assert reasons(x=3, code="X-HTL-9", tags=["a", "b"], maybe=None, opt=None) == []  # int for float; search
    assert reasons(tags=["a", "c"]) == ["turn 1 call 0 'f': parameter 'tags': [\"c\"] not among the enum values "
                                        "[\"a\", \"b\"]"]
    assert "does not match the pattern 'HTL'" in reasons(code="htl")[0]
    assert "expected float, got boolean" in reasons(x=False)[0]


def test_response_length_catches_empty_truncated_and_overlong_answers():
    last = len(RECORDS[MARKET]["conversations"]) - 1
    assert check(edited(MARKET, last, ""), "response_length") == ["turn 3 (assistant): empty response"]
    cut = check(edited(MARKET, last, "Today's top gainers are NVIDIA Corp (NVDA, up 4.2%"), "response_length")
    assert cut == ["turn 3 (assistant): response looks truncated: unbalanced '(' (opened 1, closed 0)"]
    assert "ends with '...' right after a word" in check(edited(MARKET, last, "The top gainer is NVIDI..."),
                                                         "response_length")[0]
    long_cut = "Today's top gainers are NVIDIA Corp and Tesla Inc. " * 5 + "Both rose on strong earnings and the"
    assert "ends without terminal punctuation" in check(edited(MARKET, last, long_cut), "response_length")[0]
    listing = "Today's top gainers:\n" + "Strong session for tech today. " * 8 + "\n- NVIDIA Corp\n- Tesla Inc"
    assert check(edited(MARKET, last, listing), "response_length") == []  # a list may end without a period
    huge = "NVIDIA Corp leads the gainers today. " * 70
    assert "response too long (2590 chars > 2000)" in check(edited(MARKET, last, huge), "response_length")[0]
    assert check(edited(MARKET, last, huge), "response_length", VerifyContext(max_response_chars=3000)) == []
    raw = edited(MARKET, 1, '[Market Trends API(trend_type="GAINERS", count')
    assert "call list cut off" in check(raw, "response_length")[0]


def test_invalid_chars_catches_control_and_invisible_characters_anywhere():
    last = len(RECORDS[MARKET]["conversations"]) - 1
    assert check(edited(MARKET, last, "NVIDIA leads\x1b[0m today."), "invalid_chars") == [
        "turn 3 (assistant): control character U+001B at offset 12"]
    out = tool_output(MARKET, 2)
    out[0]["results"]["trends"][0]["name"] = "NVIDIA\u200b Corp"
    assert check(edited(MARKET, 2, out), "invalid_chars") == ["turn 2 (tool): U+200B zero-width space at offset 6"]
    s = sample(MARKET)
    t = tool_dicts(s)
    t[0]["description"] += "\ufffd"
    set_tools(s, t)
    s.messages[0].content += "\ud800"
    reasons = check(s, "invalid_chars")
    assert any(r.startswith("tools[0] 'Market Trends API': U+FFFD") for r in reasons)
    assert any("lone surrogate U+D800" in r for r in reasons)
    s = sample(WEATHER)
    t = tool_dicts(s)
    t[0]["parameters"]["properties"]["days"]["description"] = "Number\x08 of days."
    t[1]["description"] = "Air quality\x1b[0m index."
    assert check(set_tools(s, t), "invalid_chars") == [
        "tools[0] 'Weather Forecast API': control character U+0008 at offset 6",
        "tools[1] 'Air Quality Index': control character U+001B at offset 11"]
    family = "\U0001F468\u200d\U0001F469\u200d\U0001F467"
    assert check(edited(MARKET, last, f"NVIDIA leads today {family}."), "invalid_chars") == []
    assert "U+200D zero-width joiner" in check(edited(MARKET, last, "NVIDIA\u200d leads."), "invalid_chars")[0]


def test_invalid_chars_catches_mixed_language_answers():
    last = len(RECORDS[MARKET]["conversations"]) - 1
    mixed = check(edited(MARKET, last, "Today's top gainers are NVIDIA and Tesla，涨幅最大的是英伟达。"), "invalid_chars")
    assert mixed and "mixed-language response: CJK characters" in mixed[0]
    zh_last = len(RECORDS[WEATHER_ZH]["conversations"]) - 1
    english = "上海未来3天：light rain on Tuesday, then cloudy and sunny weather afterwards。"
    assert "Latin-script words" in check(edited(WEATHER_ZH, zh_last, english), "invalid_chars")[0]
    # a CJK name copied from a tool output is not mixing languages; nor is an API name in a Chinese answer
    out = tool_output(WEATHER, 2)
    out[0]["results"]["location"] = "上海"
    s = edited(WEATHER, 2, out)
    s.messages[3].content = "Shanghai (上海) will be cloudy with highs between 17 and 20°C."
    assert check(s, "invalid_chars") == []
    assert check(edited(WEATHER_ZH, zh_last, "根据Weather Forecast API，上海未来3天有小雨。"), "invalid_chars") == []


def test_date_string_artifacts_catch_the_released_corruption_everywhere():
    out = tool_output(MARKET, 2)
    out[0]["results"]["note"] = "We deliver up-to-string rates for all markets."
    out[0]["results"]["upstringdDate"] = "2024-06-11"
    out[0]["results"]["trends"][0]["string"] = "2024-06-11"
    assert check(edited(MARKET, 2, out), "date_string_artifacts") == [
        "turn 2 (tool): 'up-to-string' in \"We deliver up-to-string rates for all markets.\" (date->string corruption)",
        "turn 2 (tool): 'upstringdDate' in \"upstringdDate\" (date->string corruption)",
        "turn 2 (tool): key 'string' holds the date \"2024-06-11\" (date->string corruption)"]
    last = len(RECORDS[MARKET]["conversations"]) - 1
    for text, word in [("Here are the latest upstrings on gainers.", "upstrings"), ("Prices are outstringd.", "outstringd"),
                       ("Send it to the candistring list.", "candistring"), ("Check the string of birth.", "string"),
                       ("Use stringTime values.", "stringTime"), ("The release string is near.", "release")]:
        [reason] = check(edited(MARKET, last, text), "date_string_artifacts")
        assert reason.startswith(f"turn 3 (assistant): '{word}") and "date->string corruption" in reason, text
    s = sample(MARKET)
    t = tool_dicts(s)
    t[0]["description"] = "Deliver up-to-string market trends."
    t[1]["parameters"]["properties"]["symbol"]["description"] = "Ticker; see the upstrings feed."
    assert check(set_tools(s, t), "date_string_artifacts") == [
        "tools[0] 'Market Trends API': 'up-to-string' in \"Deliver up-to-string market trends.\" (date->string "
        "corruption)",
        "tools[1] 'Get Stock Quote': 'upstrings' in \"Ticker; see the upstrings feed.\" (date->string corruption)"]
    # a definition corrupted the same way: start_string in the schema (the call then agrees with it)
    s = sample(LOGS)
    t = tool_dicts(s)
    props = t[0]["parameters"]["properties"]
    t[0]["parameters"]["properties"] = {("start_string" if k == "start_date" else k): v for k, v in props.items()}
    reasons = check(set_tools(s, t), "date_string_artifacts")
    assert any(r.startswith("tools[0] 'Search Logs API': name 'start_string'") for r in reasons)


@pytest.mark.parametrize("name,value", [("query_string", "timeout error"), ("connection_string", "postgres://db/x"),
                                        ("substring", "2024"), ("format_string", "%Y-%m-%d"),
                                        ("date_string", "2024-05-01"), ("to_string", "yes"),
                                        ("query_string", "2024-05-01")])
def test_date_string_artifacts_leave_legitimate_string_names_alone(name, value):
    tool = {"name": "Text Tool", "description": "Process a substring or a query string, then update the index; "
                                                "returns an up-to-date, validated result (candidate list).",
            "parameters": {"type": "dict", "properties": {name: {"type": "string", "description": "A string."}},
                           "required": [name]}}
    s = Sample("x", [tool], [Message("user", f"Use {value} please."),
                             Message("assistant", calls=[Call("Text Tool", {name: value})]),
                             Message("tool", results=[{"name": "Text Tool", "results": {name: value,
                                                                                         "setupString": "ok"}}]),
                             Message("assistant", "Done: the substring and query string were processed.")])
    assert check(s, "date_string_artifacts") == []


def test_call_response_names_catches_a_result_named_for_another_call():
    out = tool_output(WEATHER, 2)
    out[1]["name"] = "Air Quality Index"
    assert check(edited(WEATHER, 2, out), "call_response_names") == [
        "turn 2 (tool) result 1: named 'Air Quality Index' but answers call 1 'Weather Forecast API' of turn 1"]


def test_role_order_catches_wrong_sequences():
    s = sample(MARKET)
    s.messages[0], s.messages[1] = s.messages[1], s.messages[0]
    reasons = check(s, "role_order")
    assert reasons[0] == "turn 0: starts with assistant, not user"
    s = sample(FLIGHT)
    del s.messages[1]  # the clarifying question: now two user turns in a row
    assert check(s, "role_order") == ["turn 1 (user): two user turns in a row"]
    s = sample(MARKET)
    s.messages.append(Message("user", "Thanks!"))
    assert check(s, "role_order") == ["turn 4: the dialog ends with a user turn, not an assistant turn"]
    s = sample(MARKET)
    s.messages.insert(3, Message("user", "And losers?"))
    assert "follows a tool turn" in check(s, "role_order")[0]
    target = sample(MARKET)
    del target.messages[2:]  # a call turn as the last turn: a training target, no tool response needed
    assert check(target, "role_order") == [] and check(target, "tool_response_follows") == []


def test_tool_response_follows_catches_missing_and_extra_results():
    s = sample(MARKET)
    del s.messages[2]
    assert check(s, "tool_response_follows") == [
        "turn 1: call turn (1 call(s)) is followed by a assistant turn, not a tool response"]
    assert "role_order" in failing(s)
    out = tool_output(MARKET, 2)
    out.append(copy.deepcopy(out[0]))
    assert check(edited(MARKET, 2, out), "tool_response_follows") == [
        "turn 2 (tool): 2 result(s) for 1 call(s) of turn 1"]


def test_system_format_catches_json_calls_and_calls_inside_prose():
    json_calls = '[{"name": "Market Trends API", "arguments": {"trend_type": "GAINERS"}}]'
    assert check(edited(MARKET, 1, json_calls), "system_format") == [
        "turn 1 (assistant): calls written as JSON; the system prompt requires [func(...)]"]
    prose = 'Sure! [Market Trends API(trend_type="GAINERS", country="us")]'
    assert "a call list inside prose" in check(edited(MARKET, 1, prose), "system_format")[0]
    hermes = '<tool_call>{"name": "Market Trends API", "arguments": {}}</tool_call>'
    assert "<tool_call>" in check(edited(MARKET, 1, hermes), "system_format")[0]
    s = sample(MARKET)
    s.system = "You are a helpful assistant."  # no format requirement: nothing to conflict with
    s.messages[1] = Message("assistant", json_calls)
    assert check(s, "system_format") == []


# -- execution against a programmatic implementation ---------------------------------------------------------------

def market_api():
    tool = ToolDef.from_dict(sample(MARKET).tools[0].source)
    returns = {"type": "dict", "properties": {"trends": {"type": "array", "items": {"type": "dict", "properties": {
        "name": {"type": "string"}, "symbol": {"type": "string"}, "change_percent": {"type": "float"}}}}}}
    return SimpleNamespace(id="api-1", tool=tool, returns=returns)


def fake_execute(api, arguments):
    if arguments.get("trend_type") != "GAINERS":
        raise ExecutionError(f"parameter 'trend_type': {arguments.get('trend_type')!r} has no data")
    return tool_output(MARKET, 2)[0]["results"]


def test_execution_runs_calls_and_compares_recorded_outputs():
    ctx = VerifyContext(pool={"Market Trends API": market_api()}, execute=fake_execute)
    assert check(sample(MARKET), "execution", ctx) == []
    out = tool_output(MARKET, 2)
    out[0]["results"]["trends"][1]["change_percent"] = 9.9  # a tampered tool result
    [reason] = check(edited(MARKET, 2, out), "execution", ctx)
    assert reason == ("turn 2 (tool) result 0 'Market Trends API': recorded output differs from the implementation's: "
                      ".trends[1].change_percent: expected 3.1, got 9.9")
    v = verify_sample(edited(MARKET, 2, out), ctx)
    assert not v.kept and v.layer == "rule" and list(v.failed) == ["execution"]
    bad = edited(MARKET, 1, '[Market Trends API(trend_type="LOSERS", country="us")]')
    assert check(bad, "execution", ctx) == [
        "turn 1 call 0 'Market Trends API': execution failed: parameter 'trend_type': 'LOSERS' has no data"]
    # a pool API that only shares the name is not this sample's tool: not used
    other = SimpleNamespace(id="api-2",
                            tool=ToolDef.from_dict({**sample(MARKET).tools[0].source, "description": "Other."}),
                            returns={})
    assert check(bad, "execution", VerifyContext(pool=[other], execute=fake_execute)) == []


def test_execution_and_return_schema_against_a_real_pool():
    import random

    from funrl_lib.synth.api_pool import build_pool, execute, phrase_request, sample_arguments

    pool = build_pool(12, seed=0, progress=False)
    samples = []
    for n, api in enumerate(pool):
        rng = random.Random(n)
        args = sample_arguments(api, rng)
        result = execute(api, args)
        samples.append(Sample(f"p{n}", [api.tool.to_dict() for api in pool[:4]] + [api.tool.to_dict()], [
            Message("user", phrase_request(api, args, rng)),
            Message("assistant", calls=[Call(api.tool.name, args)]),
            Message("tool", results=[{"name": api.tool.name, "results": result}])]))
    ctx = VerifyContext(pool=pool)
    for s in samples:  # executed outputs agree with the implementation and its return schema
        assert check(s, "execution", ctx) == [] and check(s, "tool_response_consistency", ctx) == [], s.id
    s = samples[0]
    field, value = next(iter(s.messages[2].results[0]["results"].items()))
    s.messages[2].results[0]["results"][field] = "tampered"
    [reason] = check(s, "execution", ctx)
    assert reason.startswith(f"turn 2 (tool) result 0 '{s.messages[1].calls[0].name}': recorded output differs from "
                             f"the implementation's: .{field}: expected ")
    s.messages[2].results[0]["results"]["surprise"] = 1
    assert any("surprise" in r and r.endswith("(return schema)") for r in check(s, "tool_response_consistency", ctx))
    s.messages[1].calls[0].arguments["no_such_parameter"] = 1
    assert any("execution failed" in r and "no_such_parameter" in r for r in check(s, "execution", ctx))


# ---------------------------------------------------------------------------------------------------------------
# Model layer, deterministic implementations
# ---------------------------------------------------------------------------------------------------------------

def test_hallucinated_values_reports_each_ungrounded_value():
    s = edited(WEATHER, 1, '[Weather Forecast API(location="Paris", days=3), Weather Forecast API(location="Madrid", '
                           'days=5)]')
    assert check(s, "hallucinated_values") == [
        "turn 1 call 0 'Weather Forecast API': value(s) not found in the user turns, system prompt or earlier tool "
        "outputs: location=\"Paris\"",
        "turn 1 call 1 'Weather Forecast API': value(s) not found in the user turns, system prompt or earlier tool "
        "outputs: days=5"]
    v = verify_sample(s)
    assert not v.kept and v.layer == "model" and v.layer_failed == {"rule": False, "model": True, "funrl": False}
    s = edited(HOTEL, 3, '[Get Hotel Details(hotel_id="HTL-9999")]')  # an id no tool output returned
    assert "hotel_id=\"HTL-9999\"" in check(s, "hallucinated_values")[0]


@pytest.mark.parametrize("request_text,args", [
    ("Forecast for Berlin, two days please.", {"location": "Berlin", "days": 2}),
    ("Forecast for berlin for 3 days.", {"location": "BERLIN", "days": "3"}),
    ("Forecast for New-York over 1,000 days.", {"location": "new york", "days": 1000.0}),
    ("Forecast for the city of Berlin for 3 days in imperial units.", {"location": "Berlin", "days": 3,
                                                                       "units": "imperial"}),
    ("Forecast for Berlin for 3 days.", {"location": "Berlin", "days": 3, "units": "metric"}),  # the default
])
def test_hallucinated_values_grounding_rules(request_text, args):
    s = Sample("x", sample(WEATHER).tools, [Message("user", request_text),
                                            Message("assistant", calls=[Call("Weather Forecast API", args)])])
    assert check(s, "hallucinated_values") == []


def test_hallucinated_values_enum_and_dates():
    tools = sample(WEATHER).tools
    s = Sample("x", tools, [Message("user", "Forecast for Berlin for 3 days."),
                            Message("assistant", calls=[Call("Weather Forecast API", {"location": "Berlin", "days": 3,
                                                                                     "units": "imperial"})])])
    assert "units=\"imperial\"" in check(s, "hallucinated_values")[0]
    flight = sample(FLIGHT)  # "March 15, 2025" grounds departure_date="2025-03-15"
    assert check(flight, "hallucinated_values") == []
    flight.messages[3].calls[0].arguments["departure_date"] = "2025-03-16"
    assert "departure_date=\"2025-03-16\"" in check(flight, "hallucinated_values")[0]


def test_task_consistency_catches_answers_that_do_not_fit_the_task():
    irrelevant = sample(NON_TOOL)
    irrelevant.type = "irrelevance"
    assert check(irrelevant, "task_consistency") == []
    irrelevant.messages[1] = Message("assistant", calls=[Call("Weather Forecast API", {"location": "x", "days": 1})])
    assert check(irrelevant, "task_consistency")[0] == ("turn 1: an irrelevance sample (no tool fits the request) calls "
                                                       "Weather Forecast API")
    wrong_tool = edited(MARKET, 1, '[Currency Converter(amount=1.0, from_currency="USD", to_currency="EUR")]')
    assert ("turn 1 call 0 'Currency Converter': nothing in the tool's name or description relates to the request"
            in check(wrong_tool, "task_consistency"))
    last = len(RECORDS[MARKET]["conversations"]) - 1
    assert check(edited(MARKET, last, "Let me know if you need anything else."), "task_consistency") == [
        "turn 3 (assistant): the summary mentions nothing from the tool output of turn 2"]


def test_task_consistency_clarify_question_must_name_the_missing_parameter():
    s = sample(FLIGHT)
    s.type = "clarify"
    assert check(s, "task_consistency") == []  # asks for the departure city and date
    s.messages[1].content = "Sure, happy to help with your trip!"
    assert check(s, "task_consistency") == [
        "turn 1: the clarifying question names none of the missing parameters (origin, departure_date)"]
    s = sample(FLIGHT)
    s.type = "clarify"
    s.messages[1] = s.messages[3]
    assert "must first ask for the missing parameter" in check(s, "task_consistency")[0]


def test_tool_response_consistency_catches_error_empty_and_schema_violations():
    out = tool_output(MARKET, 2)
    out[0]["results"] = {"error": "upstream service unavailable"}
    assert check(edited(MARKET, 2, out), "tool_response_consistency") == [
        "turn 2 (tool) result 0 'Market Trends API': an error result (error: \"upstream service unavailable\")"]
    out[0]["results"] = {"status": "failed", "message": "quota exceeded"}
    assert "an error result (status: 'failed')" in check(edited(MARKET, 2, out), "tool_response_consistency")[0]
    out[0]["results"] = "Error: symbol not found"
    assert "an error text" in check(edited(MARKET, 2, out), "tool_response_consistency")[0]
    out[0]["results"] = {"order_id": "A1", "status": "failed", "errors": ["card declined"]}  # data, not an envelope
    assert check(edited(MARKET, 2, out), "tool_response_consistency") == []
    out[0]["results"] = {}
    assert "empty result" in check(edited(MARKET, 2, out), "tool_response_consistency")[0]
    out = tool_output(MARKET, 2)
    out[0]["results"]["trends"][0]["change_percent"] = "4.2%"
    ctx = VerifyContext(pool={"Market Trends API": market_api()}, execute=fake_execute)
    reasons = check(edited(MARKET, 2, out), "tool_response_consistency", ctx)
    assert len(reasons) == 1 and "change_percent" in reasons[0] and reasons[0].endswith("(return schema)")


def final_answer_edited(i, old, new):
    """Fixture ``i`` with ``old`` replaced by ``new`` in its last turn (a text answer after a tool turn)."""
    s = sample(i)
    assert old in s.messages[-1].content and s.messages[-2].role == "tool"
    s.messages[-1].content = s.messages[-1].content.replace(old, new)
    return s


@pytest.mark.parametrize("i,old,new,reason", [
    # a misreported number (the issue's 44.57 -> 77.80), a wrong date in each form, an invented name or identifier
    (MARKET, "4.2%", "7.4%", 'number "7.4"'),
    (HOTEL, "145 euros", "154 euros", 'number "154"'),
    (WEATHER, "June 12", "June 14", 'date "June 14"'),
    (LOGS, "on 2024-05-06", "on 2024-05-09", 'date "2024-05-09"'),
    (FLIGHT, "March 15, 2025", "March 15, 2024", 'date "March 15, 2024"'),
    (WEATHER_ZH, "6月12日", "6月15日", 'date "6月15日"'),
    (CALENDAR, "to 15:30", "to 16:30", 'time "16:30"'),
    (HOTEL, "Casa Alfama", "Casa Fairweather", 'name "Casa Fairweather"'),
    (MARKET, "Tesla Inc", "Rivian Inc", 'name "Rivian Inc"'),
    (FLIGHT, "UA837", "UA873", 'identifier "UA873"'),
    (CALENDAR, "EVT-88213", "EVT-88231", 'identifier "EVT-88231"'),
])
def test_answer_grounding_catches_values_the_tools_did_not_return(i, old, new, reason):
    clean = sample(i)
    assert check(clean, "answer_grounding") == []  # the clean twin
    bad = final_answer_edited(i, old, new)
    turn = len(bad.messages) - 1
    assert check(bad, "answer_grounding") == [
        f"turn {turn} (assistant): {reason} is in no tool output, user turn or call before it"]
    v = verify_sample(bad)
    assert not v.kept and v.layer == "model" and list(v.failed) == ["answer_grounding"]


@pytest.mark.parametrize("i,old,new", [
    (MARKET, "up 4.2%", "up 4.20%"),  # the same value
    (FLIGHT, "$1,240", "USD 1240"),  # the call's currency is in the key "price_usd"; the value unformatted
    (HOTEL, "145 euros", "145.0 euros"),
    (HOTEL, "rated 4.6", "rated 4.6 out of 5 (2 hotels found)"),  # 2: the number of hotels the search returned
    (WEATHER, "June 12", "12 June 2024"),  # another form of a day in the output
    (LOGS, "on 2024-05-03", "on May 3rd"),
    (CALENDAR, "from 14:00 to 15:30", "from 2:00 pm to 3:30 pm"),
    (CALENDAR, "with Alice and Bob", "with Alice and Bob via the Create Calendar Event tool"),
])
def test_answer_grounding_keeps_the_same_values_written_differently(i, old, new):
    assert check(final_answer_edited(i, old, new), "answer_grounding") == []


def programmatic_summary(results, answer):
    """A dialog whose answer follows a tool turn with ``results``."""
    tool = {"name": "get_claim", "description": "Get a claim.", "parameters": {
        "type": "dict", "properties": {"claim_id": {"type": "string", "description": "Claim ID."}},
        "required": ["claim_id"]}}
    return Sample("p", [tool], [Message("user", "Status of claim CLM-1?"),
                                Message("assistant", calls=[Call("get_claim", {"claim_id": "CLM-1"})]),
                                Message("tool", results=[{"name": "get_claim", "results": results}]),
                                Message("assistant", answer)])


def test_answer_grounding_binds_a_number_to_the_field_it_names():
    out = {"claim_id": "CLM-1", "paid_amount": 1225.17, "copay_amount": 2020.97, "coverage_percent": 60.69}
    good = "I checked with get_claim: claim id CLM-1; paid amount 1225.17; copay amount 2020.97."
    assert check(programmatic_summary(out, good), "answer_grounding") == []
    assert check(programmatic_summary(out, "paid amount about 1,225, coverage 60.69%."), "answer_grounding") == []
    swapped = "I checked with get_claim: claim id CLM-1; paid amount 2020.97."  # the copay's value
    assert check(programmatic_summary(out, swapped), "answer_grounding") == [
        'turn 3 (assistant): number "2020.97" is in no tool output, user turn or call before it']
    # a rounding is a rounding of its own value only, and small integers are not roundings at all
    assert check(programmatic_summary({"rating": 2.77}, "rating 3"), "answer_grounding") != []
    assert check(programmatic_summary({"rating": 2.77}, "rating 2.8"), "answer_grounding") == []


def test_answer_grounding_reads_only_answers_that_follow_a_tool_turn():
    assert check(sample(NON_TOOL), "answer_grounding") == []  # general knowledge, no tool turn before it
    s = sample(FLIGHT)
    s.messages[1].content = "Sure! From which city will you be departing on April 2?"  # a question, not a report
    assert check(s, "answer_grounding") == []


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["price", "total amount", "rating", "score", "change percent"]),
                          st.one_of(st.integers(-10**7, 10**7),
                                    st.decimals(-10**6, 10**6, places=2, allow_nan=False, allow_infinity=False)
                                    .map(float))),
                min_size=1, max_size=5),
       st.lists(st.tuples(st.dates(), st.sampled_from(["iso", "month day", "day month", "month day year"])),
                max_size=3),
       st.lists(st.times(), max_size=2))
def test_answer_grounding_accepts_every_number_date_and_time_copied_from_the_output(numbers, dates, times):
    out = {f"{label.replace(' ', '_')}_{'abcde'[k]}": value for k, (label, value) in enumerate(numbers)}
    parts = [f"{key.replace('_', ' ')} {json.dumps(value)}" for key, value in out.items()]
    for k, (day, form) in enumerate(dates):
        out[f"day_{'abc'[k]}"] = day.isoformat()
        month = day.strftime("%B")
        parts.append("on " + {"iso": day.isoformat(), "month day": f"{month} {day.day}",
                              "day month": f"{day.day} {month}",
                              "month day year": f"{month} {day.day}, {day.year}"}[form])
    for k, t in enumerate(times):
        out[f"at_{'ab'[k]}"] = f"2024-01-01T{t.hour:02d}:{t.minute:02d}:00"
        parts.append(f"at {t.hour}:{t.minute:02d}")
    answer = "Here is what get_claim returned: " + "; ".join(parts) + "."
    assert check(programmatic_summary(out, answer), "answer_grounding") == []


@settings(max_examples=100, deadline=None)
@given(st.lists(st.decimals(1, 10**5, places=2).map(float), min_size=1, max_size=4),
       st.decimals(1, 10**5, places=2).map(float))
def test_answer_grounding_rejects_a_number_no_output_holds(values, wrong):
    assume(all(abs(wrong - v) > 0.006 for v in values) and wrong not in (1.0,))
    out = {f"value_{'abcd'[k]}": v for k, v in enumerate(values)}
    answer = f"The tool returned {json.dumps(values[0])} and, it says, {wrong:.2f}."
    reasons = check(programmatic_summary(out, answer), "answer_grounding")
    assert reasons == [f'turn 3 (assistant): number "{wrong:.2f}" is in no tool output, user turn or call before it']


def test_llm_judges_still_run_after_the_deterministic_answer_check():
    backend = ScriptedBackend(lambda r: '{"pass": true, "reason": ""}')
    bad = final_answer_edited(MARKET, "4.2%", "7.4%")
    v = verify_sample(bad, VerifyContext(backend=backend))
    assert not v.kept and v.layer == "model" and list(v.failed) == ["answer_grounding"]
    assert sorted(which_judge(r) for r in backend.requests) == sorted(JUDGE_PROMPTS)  # the judges all asked


def test_model_layer_only_sees_rule_passers():
    s = edited(WEATHER, 1, '[Weather Forecast API(location="Paris", days="3"), Weather Forecast API(location="Madrid", '
                           'days=3)]')
    v = verify_sample(s)
    assert list(v.failed) == ["param_values"] and v.layer == "rule"  # hallucinated 'Paris' is not looked at


def test_a_rule_called_on_its_own_never_sees_a_stale_view():
    ctx = VerifyContext()
    s = sample(MARKET)
    assert check(s, "unknown_params", ctx) == []
    s.messages[1].calls[0].arguments["region"] = "us"
    assert len(check(s, "unknown_params", ctx)) == 1
    assert verify_sample(s, ctx).failed == {"unknown_params": check(s, "unknown_params", ctx)}


def test_a_crashing_rule_fails_the_sample_with_the_crash_as_reason(monkeypatch):
    def boom(sample, ctx):
        raise KeyError("x")
    monkeypatch.setitem(RULES, "call_parses", RULES["call_parses"].__class__("call_parses", "rule", boom))
    v = verify_sample(sample(MARKET))
    assert v.failed == {"call_parses": ["rule crashed: KeyError: 'x'"]}


def test_lead_corruptions_are_caught_by_the_rules_they_name():
    import random

    from funrl_lib.synth.corrupt import CORRUPTIONS, EXPECTED_RULES

    missed, tried = [], 0
    semantic_missed, semantic_tried = [], 0  # a wrong value can land on another value of the dialog
    for name, corrupt in CORRUPTIONS.items():
        if name == "tampered_result":
            continue  # needs a pool (see test_execution_runs_calls_and_compares_recorded_outputs)
        semantic = EXPECTED_RULES[name] == ("answer_grounding",)
        for i in range(len(RECORDS)):
            bad = corrupt(sample(i), random.Random(i))
            if bad is None or bad.to_dict() == sample(i).to_dict():
                continue
            tried += 1
            semantic_tried += semantic
            if not set(failing(bad)) & set(EXPECTED_RULES[name]):
                (semantic_missed if semantic else missed).append((name, i))
    assert tried > 60 and missed == []
    # e.g. "between 17 and 20°C" misreported as "17 and 12°C" (12 is the day of "June 12"), a name swapped at the
    # start of a sentence (not read: a capital there says nothing)
    assert semantic_tried >= 12 and len(semantic_missed) <= semantic_tried // 4, semantic_missed


# ---------------------------------------------------------------------------------------------------------------
# LLM judges (scripted backend, no network)
# ---------------------------------------------------------------------------------------------------------------

class ScriptedBackend(Backend):
    """Answers each request with ``respond(request)``; records requests and the peak number in flight."""

    name = "scripted"

    def __init__(self, respond):
        super().__init__()
        self.respond, self.requests, self.in_flight, self.max_in_flight = respond, [], 0, 0

    async def achat(self, requests):
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await asyncio.sleep(0.005)
        self.in_flight -= 1
        self.requests.extend(requests)
        return [ChatResult(self.respond(r)) for r in requests]


def which_judge(request):
    system = request.messages[0]["content"]
    return next(name for name, prompt in {**JUDGE_PROMPTS, **{f"funrl_{k}": v for k, v in FUNRL_PROMPTS.items()}}
                .items() if prompt == system)


def test_llm_judges_run_concurrently_and_their_verdicts_count():
    def respond(request):
        dialog = request.messages[1]["content"]
        if which_judge(request) == "hallucinated_values" and "Berlin" in dialog:
            return 'Sure. ```json\n{"pass": false, "reason": "turn 1: days=3 was never said"}\n```'
        return '{"pass": true, "reason": ""}'

    backend = ScriptedBackend(respond)
    samples = [sample(i) for i in range(len(RECORDS))]
    samples.append(edited(MARKET, 1, '[nope('))  # fails the rule layer: no judge asked
    verdicts = asyncio.run(averify(samples, VerifyContext(backend=backend)))
    assert [v.kept for v in verdicts] == [True, False, True, True, True, True, True, True, False]
    assert verdicts[WEATHER].failed == {"hallucinated_values": ["judge: turn 1: days=3 was never said"]}
    assert verdicts[WEATHER].layer == "model"
    # one request per check that applies: the non-tool sample has no call and no tool output to judge
    assert len(backend.requests) == 7 * 3 + 1
    assert backend.max_in_flight > 10
    r = backend.requests[0]
    assert r.stage == "verify" and r.temperature == 0 and r.json_mode and "[turn 1] assistant (function calls): " \
        "[Market Trends API(" in r.messages[1]["content"]


def test_a_judge_reply_that_stays_malformed_quarantines_the_sample():
    backend = ScriptedBackend(lambda r: "I think it is fine." if which_judge(r) == "task_consistency"
                              else '{"pass": true}')
    v = verify_sample(sample(MARKET), VerifyContext(backend=backend))
    assert not v.kept and v.failed == {} and v.layer == "model"
    assert v.quarantined.startswith("task_consistency: unparsable reply: no JSON object or array in the reply")
    attempts = [r.attempt for r in backend.requests if which_judge(r) == "task_consistency"]
    assert attempts == [0, 1, 2]  # asked again twice, each a new cache key


# ---------------------------------------------------------------------------------------------------------------
# FunRL's filter
# ---------------------------------------------------------------------------------------------------------------

def funrl_backend(fix_on=None, needs_call=True):
    """Judge: the reference is right iff it asks for GAINERS. Regeneration ``k`` (1-based) writes LOSERS until
    ``fix_on``, then the right call."""
    calls = {"judge": 0, "regenerate": 0}

    def respond(request):
        kind = which_judge(request).removeprefix("funrl_")
        calls[kind] += 1
        if kind == "judge":
            reference = request.messages[1]["content"].rsplit("Reference answer", 1)[1]
            ok = "GAINERS" in reference or "[" not in reference
            return json.dumps({"pass": ok, "needs_call": needs_call, "reason": "" if ok else "wrong trend type"})
        if fix_on is not None and request.attempt + 1 >= fix_on:
            return '[Market Trends API(trend_type="GAINERS", country="us")]'
        return '[Market Trends API(trend_type="LOSERS")]'

    return ScriptedBackend(respond), calls


def test_funrl_filter_regenerates_a_wrong_answer_and_keeps_the_correction():
    wrong = edited(MARKET, 1, '[Market Trends API(trend_type="LOSERS", country="us")]')
    backend, calls = funrl_backend(fix_on=2)
    [outcome] = funrl_filter([wrong], backend)
    assert outcome.kept and outcome.stage is None
    s = outcome.sample
    assert s.messages[1].calls == [Call("Market Trends API", {"trend_type": "GAINERS", "country": "us"})]
    assert len(s.messages) == 2  # the old tool output answered the old call: the corrected turn ends the sample
    [c] = s.meta["corrected"]
    assert c["turn"] == 1 and c["attempt"] == 2 and "LOSERS" in c["before"] and "GAINERS" in c["after"]
    assert calls == {"judge": 3, "regenerate": 2}
    assert wrong.messages[1].calls[0].arguments["trend_type"] == "LOSERS"  # the input is not modified


def test_funrl_filter_rechecks_a_corrected_answer_with_the_rule_layer():
    wrong = edited(MARKET, 1, '[Market Trends API(trend_type="LOSERS", country="us")]')

    def respond(request):
        if which_judge(request) == "funrl_regenerate":
            return '[Market Trends API(trend_type="GAINERS", region="us")]'  # 'region' is no parameter
        return json.dumps({"pass": "GAINERS" in request.messages[1]["content"].rsplit("Reference", 1)[1]})

    [o] = funrl_filter([wrong], ScriptedBackend(respond))
    assert not o.kept and o.stage == "llm" and o.reasons == [
        "corrected answer fails unknown_params: turn 1 call 0 'Market Trends API': parameter 'region' is not in the "
        "definition"]


def test_funrl_filter_drops_after_more_than_three_regenerations():
    wrong = edited(MARKET, 1, '[Market Trends API(trend_type="LOSERS", country="us")]')
    backend, calls = funrl_backend(fix_on=None)
    [outcome] = funrl_filter([wrong], backend)
    assert not outcome.kept and outcome.stage == "llm"
    assert outcome.reasons == ["turn 1: judged wrong after 3 regeneration(s): wrong trend type"]
    assert calls == {"judge": 4, "regenerate": 3}


def test_funrl_filter_ast_stage():
    # the judge says no tool applies, yet the reference decodes as a call
    backend, _ = funrl_backend(needs_call=False)
    [o] = funrl_filter([sample(MARKET)], backend)
    assert not o.kept and o.stage == "ast" and o.reasons[0].startswith(
        "turn 1: no call is expected, yet the reference decodes as a call")
    # offline: an irrelevance sample whose answer is a call; a call type whose answer is text that does not decode
    irrelevant = sample(MARKET)
    irrelevant.type = "irrelevance"
    single_text = sample(NON_TOOL)
    single_text.type = "single"
    clarify = sample(FLIGHT)
    clarify.type = "clarify"
    outcomes = funrl_filter([irrelevant, single_text, clarify, sample(MARKET)], None)
    assert [(o.kept, o.stage) for o in outcomes] == [(False, "verify"), (False, "ast"), (True, None), (True, None)]
    assert "task_consistency" in outcomes[0].reasons[0]
    assert outcomes[1].reasons[0].startswith("turn 1: a call is expected, yet the reference does not decode")


def test_funrl_filter_quarantines_when_the_judge_never_answers_usably():
    backend = ScriptedBackend(lambda r: "no idea")
    [o] = funrl_filter([sample(MARKET)], backend)
    assert not o.kept and o.quarantined.startswith("judge: unparsable reply")


# ---------------------------------------------------------------------------------------------------------------
# Files and CLI
# ---------------------------------------------------------------------------------------------------------------

def mixed_records():
    """The clean fixture plus three bad records: a start_string call, a hallucinated city, an unknown function."""
    recs = [record(i) for i in range(len(RECORDS))]
    bad1 = record(LOGS)
    bad1["id"] = "bad-start-string"
    bad1["conversations"][1]["value"] = ('[Search Logs API(query_string="timeout error", start_string="2024-05-01", '
                                         'limit=50)]')
    bad2 = record(WEATHER)
    bad2["id"] = "bad-paris"
    bad2["conversations"][1]["value"] = ('[Weather Forecast API(location="Paris", days=3), '
                                         'Weather Forecast API(location="Madrid", days=3)]')
    bad3 = record(MARKET)
    del bad3["id"]
    bad3["conversations"][1]["value"] = '[get_trends(trend_type="GAINERS")]'
    return recs + [bad1, bad2, bad3]


def cli(tmp_path, input_path, *extra):
    parser = build_parser(only="verify")
    out = {k: tmp_path / f"{k}.{'json' if k == 'report' else 'jsonl'}" for k in ("kept", "rejected", "report")}
    args = parser.parse_args(["verify", "--in", str(input_path), "--out", str(out["kept"]), "--rejected",
                              str(out["rejected"]), "--report", str(out["report"]), "--no-progress", *extra])
    assert args.func is run_verify
    return run_verify(args), out


def lines(path):
    return [json.loads(x) for x in Path(path).read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("layout", ["json_array", "jsonl"])
def test_cli_end_to_end_on_a_mixed_file(tmp_path, layout, capsys):
    recs = mixed_records()
    path = tmp_path / f"in.{'json' if layout == 'json_array' else 'jsonl'}"
    if layout == "json_array":
        path.write_text(json.dumps(recs, ensure_ascii=False), encoding="utf-8")
    else:
        text = [json.dumps(r, ensure_ascii=False) for r in recs]
        text.insert(3, '{"system": "broken line')  # an unreadable record: record index 3
        path.write_text("\n".join(text) + "\n", encoding="utf-8")
    rc, out = cli(tmp_path, path, "--format", "toolace")
    assert rc == 0
    kept, rejected = lines(out["kept"]), lines(out["rejected"])
    shift = 1 if layout == "jsonl" else 0
    index_of = lambda i: i + shift if i >= 3 else i  # noqa: E731 - records after the bad line move down by one
    assert [k["id"] for k in kept] == [IDS[i] if isinstance(IDS[i], str) else index_of(i) for i in range(8)]
    assert kept[0] == {"id": "market-gainers", **{k: v for k, v in RECORDS[0].items() if k != "id"}}  # still ToolACE
    assert sample_from(kept[-1]).messages == sample(CALENDAR).messages
    rejected_ids = [r["id"] for r in rejected]
    expected = ["bad-start-string", "bad-paris", 10 + shift]
    assert rejected_ids == ([3] if layout == "jsonl" else []) + expected
    by_id = {r["id"]: r for r in rejected}
    assert set(by_id["bad-start-string"]["failed"]) == {"unknown_params", "date_string_artifacts"}
    assert by_id["bad-start-string"]["layer"] == "rule"
    assert by_id["bad-start-string"]["sample"] == recs[8]  # the record as read
    assert list(by_id["bad-paris"]["failed"]) == ["hallucinated_values"] and by_id["bad-paris"]["layer"] == "model"
    assert list(by_id[10 + shift]["failed"]) == ["call_name_exists", "call_response_names"]
    if layout == "jsonl":
        assert by_id[3]["layer"] == "input" and by_id[3]["failed"]["input"][0].startswith(f"{path}:4: not valid JSON")

    report = json.loads(out["report"].read_text())
    assert report["totals"] == {"records": 11 + shift, "kept": 8, "rejected": 3 + shift, "quarantined": 0,
                                "unreadable": shift}
    assert report["layers"]["rule"] == {"checked": 11, "passed": 9, "quarantined": 0, "pass_rate": 9 / 11}
    assert report["layers"]["model"] == {"checked": 9, "passed": 8, "quarantined": 0, "pass_rate": 8 / 9}
    assert report["layers"]["final"] == {"checked": 11, "passed": 8, "pass_rate": 8 / 11}
    assert report["rules"]["unknown_params"] == {"layer": "rule", "checked": 11, "passed": 10, "failed": 1}
    assert report["rules"]["hallucinated_values"] == {"layer": "model", "checked": 9, "passed": 8, "failed": 1}
    assert report["rules"]["call_response_names"] == {"layer": "rule", "checked": 11, "passed": 10, "failed": 1}
    assert report["toolace_reference"] == TOOLACE_REFERENCE
    assert "| rule | 11 | 9 | 81.8% | 67.9% |" in capsys.readouterr().out


def test_cli_rules_subset_funrl_filter_and_errors(tmp_path, capsys):
    path = tmp_path / "in.jsonl"
    single_text = record(NON_TOOL)
    single_text["type"] = "single"  # a call type answered with text: FunRL's AST stage drops it
    path.write_text("\n".join(json.dumps(r) for r in [record(MARKET), single_text]) + "\n")
    rc, out = cli(tmp_path, path, "--funrl-filter")
    assert rc == 0
    [rej] = lines(out["rejected"])
    assert rej["layer"] == "funrl" and list(rej["failed"]) == ["funrl_ast"]
    report = json.loads(out["report"].read_text())
    assert report["layers"]["funrl"]["checked"] == 2 and report["layers"]["funrl"]["passed"] == 1
    assert report["rules"]["funrl_ast"]["failed"] == 1

    rc, out = cli(tmp_path / "sub", path, "--rules", "role_order,param_values")
    assert rc == 0 and set(json.loads(out["report"].read_text())["rules"]) == {"role_order", "param_values"}
    rc, _ = cli(tmp_path / "bad", path, "--rules", "role_order,nonsense")
    assert rc == 2 and "unknown rule(s) nonsense" in capsys.readouterr().err
    rc, _ = cli(tmp_path / "missing", tmp_path / "nope.jsonl")
    assert rc == 2 and "file not found" in capsys.readouterr().err


def test_verify_file_resumes_to_the_same_files_after_a_kill(tmp_path):
    path = tmp_path / "in.jsonl"
    recs = mixed_records()
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in recs) + "\n", encoding="utf-8")
    ref = verify_file(path, "auto", tmp_path / "ref_kept.jsonl", tmp_path / "ref_rej.jsonl", tmp_path / "ref.json",
                      progress=False)
    ref_kept, ref_rej = (tmp_path / "ref_kept.jsonl").read_bytes(), (tmp_path / "ref_rej.jsonl").read_bytes()
    ids = [r.get("id", i) for i, r in enumerate(recs)]
    for cut in (0, 4, 9, 11):
        kept, rej = tmp_path / f"kept{cut}.jsonl", tmp_path / f"rej{cut}.jsonl"
        # the state a kill after record ``cut`` leaves: lines of earlier records, plus a torn line being written
        done = set(ids[:cut])
        kept.write_text("".join(x + "\n" for x in ref_kept.decode().splitlines() if json.loads(x)["id"] in done)
                        + '{"id": "market-gai', encoding="utf-8")
        rej.write_text("".join(x + "\n" for x in ref_rej.decode().splitlines() if json.loads(x)["id"] in done),
                       encoding="utf-8")
        report = verify_file(path, "auto", kept, rej, tmp_path / f"r{cut}.json", progress=False)
        assert kept.read_bytes() == ref_kept and rej.read_bytes() == ref_rej, cut
        assert report.verified_this_run == len(recs) - cut
        assert {k: v for k, v in report.to_dict().items() if k != "run"} == \
            {k: v for k, v in ref.to_dict().items() if k != "run"}


def test_verify_file_with_an_llm_backend_writes_quarantined_samples_aside(tmp_path):
    path = tmp_path / "in.json"
    path.write_text(json.dumps([record(MARKET), record(WEATHER)]))
    backend = ScriptedBackend(lambda r: "garbage" if "Berlin" in r.messages[1]["content"] else '{"pass": true}')
    report = verify_file(path, "auto", tmp_path / "k.jsonl", tmp_path / "r.jsonl", None, backend=backend,
                         progress=False)
    [rej] = lines(tmp_path / "r.jsonl")
    assert rej["id"] == "weather-parallel" and rej["layer"] == "model" and rej["failed"] == {}
    assert rej["quarantined"].startswith("hallucinated_values: unparsable reply")
    assert report.totals["quarantined"] == 1 and report.layers["model"]["quarantined"] == 1
    assert report.rules["hallucinated_values"]["checked"] == 1  # the unjudged check is not counted as passed


def test_input_errors_name_file_and_line(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(record(MARKET)) + "\n" + json.dumps({"conversations": []}) + "\n")
    verify_file(path, "auto", tmp_path / "k.jsonl", tmp_path / "r.jsonl", None, progress=False)
    [rej] = lines(tmp_path / "r.jsonl")
    assert rej["id"] == 1 and rej["layer"] == "input" and rej["failed"]["input"][0].startswith(f"{path}:2: ")
    with pytest.raises(InputError):
        verify_file(tmp_path / "absent.json", "auto", tmp_path / "k2.jsonl", tmp_path / "r2.jsonl", None,
                    progress=False)


def _plural_sample(param_desc: str, value):
    from funrl_lib.calls import Call
    from funrl_lib.synth.sample import Message, Sample
    tool = {"name": "list_shows", "description": "List shows in a city.",
            "parameters": {"type": "dict", "properties": {
                "city": {"type": "string", "description": "City name."},
                "strings": {"type": "array", "description": param_desc,
                            "items": {"type": "string", "description": param_desc}}}, "required": ["city"]}}
    return Sample("p", [tool], [Message("user", f"Shows in Oslo for {value}"),
                                Message("assistant", calls=[Call("list_shows", {"city": "Oslo", "strings": value})])])


def test_plural_dates_renamed_to_strings_are_artifacts_but_real_strings_are_not():
    from funrl_lib.synth.verify import RULES, VerifyContext
    rule = RULES["date_string_artifacts"].fn
    ctx = VerifyContext()
    damaged = rule(_plural_sample("The string (YYYY-MM-DD).", ["2025-03-01"]), ctx)
    assert any("parameter 'strings' is described as a date" in r for r in damaged)
    assert any("parameter 'strings' holds dates" in r for r in damaged)
    assert rule(_plural_sample("Search strings to match.", ["jazz", "opera"]), ctx) == []
