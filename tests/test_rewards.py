"""Rewards: FunRL's binary reward and ToolRL's graded reward, with TRL's calling convention and hand-computed values."""

import json

import pytest

from funrl_lib.calls import Call
from funrl_lib.rewards import (funrl_binary, make_funrl_binary, make_toolrl_graded, match_score, parse_ground_truth,
                               toolrl_correctness, toolrl_graded)

TOOLS = [
    {"name": "get_weather", "description": "Weather.", "parameters": {"type": "dict", "properties": {
        "city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"], "default": "c"},
        "days": {"type": "integer"}}, "required": ["city"]}},
    {"name": "Market Trends API", "parameters": {"type": "dict", "properties": {
        "trend_type": {"type": "string"}}, "required": ["trend_type"]}, "required": None},
]
TOOLS_JSON = json.dumps(TOOLS)


def trl_call(reward, completions, ground_truth, tools=TOOLS_JSON, **extra):
    """Call a reward the way TRL's GRPOTrainer._calculate_rewards does: keyword arguments only, every dataset column
    repeated per completion, plus completion_ids, trainer_state, log_extra and log_metric."""
    n = len(completions)
    logged = {}
    rewards = reward(prompts=["p"] * n, completions=completions, completion_ids=[[1, 2]] * n,
                     tools=[tools] * n, ground_truth=[ground_truth] * n, trainer_state=None,
                     log_extra=lambda *a: None, log_metric=lambda k, v: logged.__setitem__(k, v), **extra)
    return rewards, logged


def test_funrl_binary_call_expected():
    truth = json.dumps([{"get_weather": {"city": ["Paris"], "unit": ["c", ""]}}])
    completions = [
        "<think>Weather in Paris.</think>\n[get_weather(city='Paris')]",              # 1
        "<think>Celsius.</think>\n[get_weather(city='paris', unit='c')]",             # 1 (normalised, optional)
        "[get_weather(city='Paris')]",                                                # 0 no think
        "<think>x</think>\n[get_weather(city='Rome')]",                               # 0 wrong value
        "<think>x</think>\n[get_weather(city='Paris', days=3)]",                      # 0 unexpected parameter
        "<think>x</think>\n```python\n[get_weather(city='Paris')]\n```",              # 0 does not decode
        "<think></think>\n[get_weather(city='Paris')]",                               # 0 empty thought
        "<think>x\n[get_weather(city='Paris')]",                                      # 0 unclosed think
        "<think>x</think>\nI will not call anything.",                                # 0 no call
    ]
    rewards, logged = trl_call(funrl_binary, completions, truth)
    assert rewards == [1.0, 1.0, 0, 0, 0, 0, 0, 0, 0]
    assert logged["funrl/think_template_ok"] == pytest.approx(6 / 9)
    assert logged["funrl/answer_has_calls"] == pytest.approx(6 / 9)  # 1-5 and 7; the unclosed think has no answer


def test_funrl_binary_no_call_expected():
    completions = [
        "<think>No tool fits.</think>\nNone of the functions can answer this.",   # 1
        "<think>No tool fits.</think>\n[]",                                         # 1 (empty list is no call)
        "<think>x</think>\n[get_weather(city='Paris')]",                            # 0 called
        "<think>x</think>\n[get_weather(city='Paris'",                              # 1 (paper: fails AST parsing)
        "No tool fits.",                                                            # 0 no think
    ]
    assert trl_call(funrl_binary, completions, "[]")[0] == [1.0, 1.0, 0.0, 1.0, 0.0]
    strict = make_funrl_binary(strict_abstain=True)
    hermes = "<think>x</think>\n<tool_call>{\"name\": \"get_weather\", \"arguments\": {}}</tool_call>"
    assert trl_call(strict, completions[:2] + [hermes], "[]")[0] == [1.0, 1.0, 0.0]
    assert trl_call(funrl_binary, [hermes], "[]")[0] == [1.0]  # without strict: a malformed call is an abstention


def test_funrl_binary_ground_truth_as_python_calls_and_spaced_names():
    truth = "[Market Trends API(trend_type='GAINERS')]"
    ok = "<think>gainers</think>\n[Market Trends API(trend_type='gainers')]"
    assert trl_call(funrl_binary, [ok, ok.replace("gainers')", "losers')")], truth)[0] == [1.0, 0.0]
    default = "[get_weather(city='Oslo')]"  # reference call: unit may be omitted or given at its default
    answers = ["<think>a</think>[get_weather(city='Oslo', unit='c')]", "<think>a</think>[get_weather(city='Oslo', unit='f')]"]
    assert trl_call(funrl_binary, answers, default)[0] == [1.0, 0.0]


def test_funrl_binary_parallel_is_order_insensitive_and_formats():
    truth = json.dumps([{"get_weather": {"city": ["Paris"]}}, {"get_weather": {"city": ["Rome"]}}])
    both = "<think>two cities</think>\n[get_weather(city='Rome'), get_weather(city='Paris')]"
    assert trl_call(funrl_binary, [both, both.replace(", get_weather(city='Paris')", "")], truth)[0] == [1.0, 0.0]
    hermes = make_funrl_binary("hermes")
    text = ('<think>two</think>\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n'
            '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome"}}\n</tool_call>')
    assert trl_call(hermes, [text], truth)[0] == [1.0]
    assert hermes.__name__ == "funrl_binary"


def test_conversational_completions_and_structured_tool_calls():
    truth = [{"get_weather": {"city": ["Paris"]}}]
    conv = [[{"role": "assistant", "content": "<think>Paris</think>\n[get_weather(city='Paris')]"}]]
    assert trl_call(funrl_binary, conv, truth, tools=TOOLS)[0] == [1.0]  # parsed objects work as well as JSON
    structured = [[{"role": "assistant", "content": "<think>Paris</think>\nCalling the tool.",
                    "tool_calls": [{"type": "function", "function": {"name": "get_weather",
                                                                      "arguments": '{"city": "Paris"}'}}]}]]
    assert trl_call(funrl_binary, structured, truth, tools=TOOLS)[0] == [1.0]


def test_prefilled_think():
    reward = make_funrl_binary(prefilled_think=True)
    assert trl_call(reward, ["Paris it is.</think>\n[get_weather(city='Paris')]"],
                    [{"get_weather": {"city": ["Paris"]}}])[0] == [1.0]


def test_match_score_hand_computed():
    assert match_score(["a", "b"], ["a", "b"]) == 1.0
    assert match_score([], []) == 1.0 and match_score(["a"], []) == 0.0
    assert match_score(["a", "a", "b"], ["a", "b", "c"]) == pytest.approx(2 / 4)  # ∩ = {a, b}, ∪ = 3 + 3 − 2
    assert match_score(["f"], ["f", "g"]) == pytest.approx(1 / 2)


def test_toolrl_correctness_hand_computed():
    truth = [{"f": {"a": [1], "b": [2]}}]
    # S_max = 1 + (1 + 2) = 4
    assert toolrl_correctness(truth, [Call("f", {"a": 1, "b": 2})]) == pytest.approx(3.0)        # S = 4
    assert toolrl_correctness(truth, [Call("f", {"a": 1, "b": 3})]) == pytest.approx(1.5)        # S = 1+1+1 = 3
    assert toolrl_correctness(truth, [Call("f", {"a": 1})]) == pytest.approx(6 * 2.5 / 4 - 3)    # keys 1/2, value 1
    assert toolrl_correctness(truth, [Call("g", {"a": 1, "b": 2})]) == pytest.approx(-3.0)       # S = 0
    assert toolrl_correctness(truth, []) == pytest.approx(-3.0)
    # extra call: names 1/2; f matched fully (1 + 2) -> S = 3.5 of 4
    assert toolrl_correctness(truth, [Call("f", {"a": 1, "b": 2}), Call("g", {})]) == pytest.approx(6 * 3.5 / 4 - 3)
    # optional parameter ("" allowed) counts neither for nor against
    opt = [{"f": {"a": [1], "u": ["", "c"]}}]
    assert toolrl_correctness(opt, [Call("f", {"a": 1, "u": "c"})]) == pytest.approx(3.0)


def test_toolrl_graded_total():
    truth = json.dumps([{"get_weather": {"city": ["Paris"], "days": [3]}}])
    completions = ["<think>x</think>\n[get_weather(city='Paris', days=3)]",    # 1 + 3
                   "<think>x</think>\n[get_weather(city='Paris', days=4)]",    # 1 + (6 * 3/4 - 3) = 2.5
                   "[get_weather(city='Paris', days=3)]",                      # 0 + 3
                   "<think>x</think>\nno call"]                                # 0 + (-3)
    rewards, _ = trl_call(toolrl_graded, completions, truth)
    assert rewards == pytest.approx([4.0, 2.5, 3.0, -3.0])
    no_call = trl_call(toolrl_graded, ["<think>x</think>\nNothing fits.", "<think>x</think>\n[get_weather(city='a')]"],
                       "[]")[0]
    assert no_call == [1.0, 0.0]  # no call expected: format only, correctness 0 as in ToolRL
    custom = make_toolrl_graded(r_max=1.0, r_min=0.0, format_reward=0.0)
    assert trl_call(custom, completions[1:2], truth)[0] == pytest.approx([3 / 4])


def test_parse_ground_truth_forms_and_errors():
    from funrl_lib.tools import load_tools
    tools = load_tools(TOOLS)
    possible = [{"get_weather": {"city": ["Paris"]}}]
    assert parse_ground_truth(possible) == possible
    assert parse_ground_truth(json.dumps(possible)) == possible
    assert parse_ground_truth("[]") == [] and parse_ground_truth(None) == []
    assert parse_ground_truth("[get_weather(city='Paris')]", tools) == [
        {"get_weather": {"city": ["Paris"], "unit": ["", "c"], "days": [""]}}]
    with pytest.raises(ValueError, match="ground_truth must be"):
        parse_ground_truth({"get_weather": {}})


def test_mismatched_column_lengths_are_reported():
    with pytest.raises(ValueError, match="column 'ground_truth' has 1 values for 2 completions"):
        funrl_binary(prompts=None, completions=["a", "b"], tools=[TOOLS_JSON] * 2, ground_truth=["[]"])
