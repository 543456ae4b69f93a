"""BFCL multi-turn: BFCL's own backends, executor and checker, driven by funrl's loop and scorer.

Each reimplemented piece of funrl_lib/bfcl/multi_turn.py is compared with the BFCL code it stands for: the loader
with ``bfcl_eval.utils.load_dataset_entry``, the decoder with ``default_decode_execute_prompting``, the generation loop
with ``BaseHandler.inference_multi_turn_prompting`` (run on a scripted handler), the scorer with
``eval_runner._evaluate_single_multi_turn_entry`` (replicated below from BFCL's decoder and official checker; the
runner module itself imports every vendor SDK). BFCL's handler code imports its Java/JavaScript parsers (tree-sitter,
not installed with ``--no-deps``): the ``bfcl_utils`` fixture (conftest.py) stubs those.
"""

from __future__ import annotations

import ast
import copy
import json
import subprocess
import sys

import pytest

from funrl_lib.bfcl.multi_turn import (MAXIMUM_STEP_LIMIT, MULTI_TURN_CATEGORIES, REFUSED_CALL, _safe_for_bfcl,
                                       _allowed_methods, execution_strings, load_multi_turn, run_entry,
                                       score_multi_turn)
from funrl_lib.bfcl.prompts import MISSED_FUNCTIONS_MESSAGE, with_bfcl_system_prompt
from funrl_lib.calls import DecodeError


# ---------------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------------

def _has_positional(call: str) -> bool:
    return any(isinstance(n, ast.Call) and n.args for n in ast.walk(ast.parse(call, mode="eval")))


def _keywordize(call: str, entry) -> str:
    """The ground-truth call with positional arguments named (from the function doc's parameter order): what a
    prompting model has to write, since BFCL's prompting decoder drops positional arguments."""
    docs = {d["name"]: d for d in entry.functions + [d for ds in entry.missed_function.values() for d in ds]}
    node = ast.parse(call, mode="eval").body
    params = list(docs[node.func.id]["parameters"]["properties"])
    keywords = [ast.keyword(arg=params[i], value=a) for i, a in enumerate(node.args)] + node.keywords
    return ast.unparse(ast.Call(func=node.func, args=[], keywords=keywords))


def _replay_script(entry, *, keywords: bool = True) -> list[str]:
    """Per turn: the turn's ground-truth calls as one reply ``[f(a=1), g(b=2)]``, then "Done." (which does not
    decode, so the turn ends); a turn without calls gets only "Done."."""
    out = []
    for calls in entry.ground_truth:
        if calls:
            out.append("[" + ", ".join(_keywordize(c, entry) if keywords else c for c in calls) + "]")
        out.append("Done.")
    return out


class Spy:
    """A scripted ``chat`` that records the messages of every call."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.seen: list[list[dict]] = []

    def __call__(self, messages):
        self.seen.append(messages)
        return self.replies.pop(0) if self.replies else "Done."


def _run_lines(entries, make_chat, **kwargs) -> list[str]:
    return [json.dumps({"id": e.id, "result": run_entry(e, make_chat(e), **kwargs)}) for e in entries]


# ---------------------------------------------------------------------------------------------------------------
# (a) BFCL's executable environments and checker work with the no-deps install
# ---------------------------------------------------------------------------------------------------------------

def test_bfcl_backends_and_official_checker_import_without_heavy_dependencies():
    """The proof for the issue: a fresh interpreter imports BFCL's multi-turn checker, executor and every simulated
    backend of the multi-turn categories, builds each backend, runs a call, and pulls in none of bfcl-eval's heavy
    dependencies."""
    code = """
import importlib, sys
from bfcl_eval.constants.executable_backend_config import CLASS_FILE_PATH_MAPPING, MULTI_TURN_FUNC_DOC_FILE_MAPPING
from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker import multi_turn_checker
from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_utils import execute_multi_turn_func_call
classes = ["GorillaFileSystem", "MathAPI", "MessageAPI", "TwitterAPI", "TicketAPI", "TradingBot", "TravelAPI",
           "VehicleControlAPI"]
for name in classes:
    getattr(importlib.import_module(CLASS_FILE_PATH_MAPPING[name]), name)()
    assert name in MULTI_TURN_FUNC_DOC_FILE_MAPPING
results, instances = execute_multi_turn_func_call(["mean(numbers=[1, 2, 3])"], {}, ["MathAPI"], "probe", "probe_0")
assert results == ['{"result": 2.0}'], results
assert callable(multi_turn_checker)
heavy = [m for m in ("torch", "tree_sitter", "openai", "anthropic", "sentence_transformers", "faiss", "vllm",
                     "qwen_agent", "pandas") if m in sys.modules]
assert not heavy, heavy
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_constants_are_bfcls():
    from bfcl_eval.constants.default_prompts import (DEFAULT_USER_PROMPT_FOR_ADDITIONAL_FUNCTION_PROMPTING,
                                                     MAXIMUM_STEP_LIMIT as BFCL_LIMIT)
    assert MAXIMUM_STEP_LIMIT == BFCL_LIMIT == 20
    assert MISSED_FUNCTIONS_MESSAGE == DEFAULT_USER_PROMPT_FOR_ADDITIONAL_FUNCTION_PROMPTING


# ---------------------------------------------------------------------------------------------------------------
# loading and decoding = BFCL's
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("category", MULTI_TURN_CATEGORIES)
def test_loading_is_bfcls(category):
    from bfcl_eval import utils as bfcl_utils_mod
    theirs = bfcl_utils_mod.load_dataset_entry(category, include_language_specific_hint=False)
    answers = bfcl_utils_mod.load_ground_truth_entry(category)
    ours = load_multi_turn(category)
    assert list(ours) == [t["id"] for t in theirs] and len(ours) == 200
    for t, a in zip(theirs, answers):
        e = ours[t["id"]]
        assert e.functions == t["function"], e.id
        assert e.missed_function == {int(k): v for k, v in t.get("missed_function", {}).items()}, e.id
        assert (e.question, e.initial_config, e.involved_classes) == (t["question"], t["initial_config"],
                                                                      t["involved_classes"])
        assert e.ground_truth == a["ground_truth"] and a["id"] == e.id
    if category == "multi_turn_miss_func":
        assert all(e.missed_function for e in ours.values())
    # BFCL 2026.3.23 reads no "excluded_function": the listed functions stay in the docs the model sees
    listed = [e for e in ours.values() if e.excluded_function]
    assert listed and all(set(e.excluded_function) <= {d["name"] for d in e.functions} | {
        d["name"] for ds in e.missed_function.values() for d in ds} for e in listed)


EDGE_CASES = [
    "[ls()]", "ls(a=True)", "[cd(folder='a'), mkdir(dir_name='b')]", "get_zipcode_based_on_city('San Francisco')",
    "[f(a={'x': 1, 'y': [1, 2]})]", "[f(a={'x': {'y': 1}})]", "[f(a={})]", "[f(a=(1,))]", "[f(a=-5, b=+5, c=1e3)]",
    "[f(a=None, b=[None, True])]", "[f(a=g(b=1))]", "[f(a=g())]", "[f(a=x)]", "[math.factorial(n=5)]",
    "[f(**{'a': 1})]", "[]", "", "Done.", "I cannot help.", "```\n[ls()]\n```", "```python\n[ls()]\n```",
    "[f(a='it''s')]", "[f(a=\"quote ' inside\")]", "[f(a=2*3)]", "[f(a={\"k'\": 1})]", "[f(a=1), 3]",
]


def test_execution_strings_are_bfcls_default_decode_execute_prompting(bfcl_utils):
    handler_utils, _ = bfcl_utils
    texts = list(EDGE_CASES)
    for category in MULTI_TURN_CATEGORIES:
        for e in load_multi_turn(category).values():
            texts += ["[" + ", ".join(calls) + "]" for calls in e.ground_truth if calls]
    assert len(texts) > 2000
    for text in texts:
        try:
            theirs = handler_utils.default_decode_execute_prompting(text)
        except Exception:
            theirs = "fails"
        try:
            ours = execution_strings(text)
        except DecodeError:
            ours = "fails"
        assert ours == theirs, text
    # BFCL's prompting decoder drops positional arguments (the ground truth has some)
    assert execution_strings("get_zipcode_based_on_city('San Francisco')") == ["get_zipcode_based_on_city()"]
    assert execution_strings("<think>hmm</think>[ls()]", strip_thinking=True) == ["ls()"]


# ---------------------------------------------------------------------------------------------------------------
# (b) replaying the ground truth passes; (c) never calling fails
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("category", MULTI_TURN_CATEGORIES)
def test_replaying_the_ground_truth_passes_every_entry(category):
    """All 200 entries of each category (fast: about a second per category): the ground truth, with positional
    arguments written as keywords, run through run_entry and scored by score_multi_turn, is valid for every entry."""
    entries = list(load_multi_turn(category).values())
    lines = _run_lines(entries, lambda e: Spy(_replay_script(e)))
    report = score_multi_turn(category, lines, source="replay.jsonl")
    assert not report.problems
    assert [v["id"] for v in report.verdicts if not v["valid"]] == []
    assert (report.correct, report.scored, report.category_size) == (200, 200, 200)


@pytest.mark.parametrize("category", MULTI_TURN_CATEGORIES)
def test_verbatim_ground_truth_fails_exactly_where_it_uses_positional_arguments(category):
    """The ground truth written verbatim passes 176 of 200: the 24 others contain positional arguments
    (``get_zipcode_based_on_city('San Francisco')``), which BFCL's prompting decoder drops, as funrl's does (see
    test_execution_strings_are_bfcls_default_decode_execute_prompting). A prompting model must name every argument."""
    entries = list(load_multi_turn(category).values())
    positional = {e.id for e in entries if any(_has_positional(c) for calls in e.ground_truth for c in calls)}
    lines = _run_lines(entries, lambda e: Spy(_replay_script(e, keywords=False)))
    report = score_multi_turn(category, lines)
    failed = {v["id"] for v in report.verdicts if not v["valid"]}
    assert failed == positional and len(failed) == 24
    assert {v["error_type"] for v in report.verdicts if not v["valid"]} <= {
        "multi_turn:execution_response_mismatch", "multi_turn:instance_state_mismatch"}


@pytest.mark.parametrize("category", MULTI_TURN_CATEGORIES)
def test_a_model_that_never_calls_fails(category):
    entries = list(load_multi_turn(category).values())[:25]
    lines = _run_lines(entries, lambda e: (lambda messages: "I cannot help."))
    assert all(json.loads(line)["result"] == [["I cannot help."]] * len(e.ground_truth)
               for line, e in zip(lines, entries))
    report = score_multi_turn(category, lines)
    assert all(any(calls for calls in e.ground_truth) for e in entries)
    assert report.correct == 0 and report.scored == 25
    assert {v["error_type"] for v in report.verdicts} == {"multi_turn:empty_turn_model_response"}


# ---------------------------------------------------------------------------------------------------------------
# (d) lines that cannot be scored
# ---------------------------------------------------------------------------------------------------------------

def test_malformed_unknown_and_duplicate_lines_are_problems_naming_file_and_line():
    entries = load_multi_turn("multi_turn_base")
    first = entries["multi_turn_base_0"]
    good = json.dumps({"id": first.id, "result": run_entry(first, Spy(_replay_script(first)))})
    lines = [good, "{broken", json.dumps({"id": "multi_turn_base_9999", "result": [[]]}), "",
             json.dumps({"id": "multi_turn_base_1"}), good, json.dumps([1]),
             json.dumps({"id": "multi_turn_base_2", "result": ["not a turn"]}),
             json.dumps({"id": "multi_turn_base_3", "result": "Error during inference: boom"}),
             json.dumps({"id": "multi_turn_base_4", "result": [["[ls()]"]]})]
    report = score_multi_turn("multi_turn_base", lines, source="runs/BFCL_v4_multi_turn_base_result.json")
    f = "runs/BFCL_v4_multi_turn_base_result.json"
    assert report.problems == [
        f"{f}:2: not valid JSON (Expecting property name enclosed in double quotes at column 2); line not scored",
        f"{f}:3: id 'multi_turn_base_9999' is not in BFCL v4 multi_turn_base; line not scored",
        f"{f}:5: multi_turn_base_1: missing \"result\"; line not scored",
        f"{f}:6: id 'multi_turn_base_0' already scored at line 1; this line not scored",
        f"{f}:7: expected a JSON object, got list; line not scored",
        f"{f}:8: multi_turn_base_2: \"result\" must be a list of turns, each a list of step replies; line not scored",
    ]
    by_id = {v["id"]: v for v in report.verdicts if not str(v["error_type"] or "").startswith("funrl:")}
    assert by_id["multi_turn_base_0"]["valid"]
    assert by_id["multi_turn_base_3"]["error_type"] == "multi_turn:inference_error"
    assert by_id["multi_turn_base_4"]["error_type"] == "multi_turn:force_terminated"
    assert (report.scored, report.correct, report.category_size) == (3, 1, 200)


def test_other_categories_are_refused():
    from funrl_lib.bfcl.data import BFCLDataError
    with pytest.raises(BFCLDataError, match="not a multi-turn category"):
        load_multi_turn("simple_python")
    with pytest.raises(BFCLDataError, match="not a multi-turn category"):
        score_multi_turn("multi_turn_composite", [])


# ---------------------------------------------------------------------------------------------------------------
# (e) what the model is shown
# ---------------------------------------------------------------------------------------------------------------

def test_first_call_gets_bfcls_system_prompt_and_miss_func_adds_the_held_out_functions_at_their_turn():
    entries = load_multi_turn("multi_turn_miss_func")
    entry = entries["multi_turn_miss_func_0"]
    (held_turn, held_docs), = entry.missed_function.items()
    spy = Spy(_replay_script(entry))
    result = run_entry(entry, spy)
    first = spy.seen[0]
    assert first == with_bfcl_system_prompt(entry.question[0], entry.functions, "multi_turn_miss_func")
    assert first[0]["role"] == "system" and first[1:] == entry.question[0]
    held_names = {d["name"] for d in held_docs}
    shown = {d["name"] for d in json.loads(first[0]["content"].split("invoke.\n", 1)[1])}
    assert held_names and not held_names & shown
    # the held-out docs arrive, as BFCL sends them, in a user message at their turn (the turn's question is empty)
    assert entry.question[held_turn] == []
    message = {"role": "user", "content": MISSED_FUNCTIONS_MESSAGE.format(functions=held_docs)}
    arrivals = [i for i, seen in enumerate(spy.seen) if message in seen]
    turn_starts = [0]
    for calls in entry.ground_truth:
        turn_starts.append(turn_starts[-1] + (2 if calls else 1))
    assert arrivals[0] == turn_starts[held_turn] and spy.seen[arrivals[0]][-1] == message
    assert len(result) == len(entry.question)
    # the conversation keeps growing: each call sees the previous one plus the reply and what followed
    for before, after in zip(spy.seen, spy.seen[1:]):
        assert after[:len(before)] == before


def test_results_roles_mirror_bfcls_handlers():
    entry = load_multi_turn("multi_turn_base")["multi_turn_base_0"]
    script = _replay_script(entry)
    for role in ("user", "tool", "ipython"):
        spy = Spy(script)
        run_entry(entry, spy, results_role=role)
        after_first = spy.seen[1][len(spy.seen[0]) + 1:]  # what follows the first reply
        n = len(entry.ground_truth[0])
        if role == "user":
            assert len(after_first) == 1 and after_first[0]["role"] == "user"
            assert ast.literal_eval(after_first[0]["content"])[0]["role"] == "tool"
        else:
            assert [m["role"] for m in after_first] == [role] * n
    with pytest.raises(ValueError, match="results_role"):
        run_entry(entry, Spy(script), results_role="function")


def test_force_quit_after_the_step_limit_ends_the_entry():
    entry = load_multi_turn("multi_turn_base")["multi_turn_base_0"]
    spy = Spy(["[pwd()]"] * 100)
    result = run_entry(entry, spy, max_steps=3)
    assert result == [["[pwd()]"] * 4]  # 4 executing steps > 3, then BFCL stops the whole entry
    report = score_multi_turn("multi_turn_base", [json.dumps({"id": entry.id, "result": result})])
    assert report.verdicts[0]["error_type"] == "multi_turn:force_terminated"


def test_runs_do_not_share_backend_state():
    """BFCL keeps backend instances in module globals keyed by model name and entry id; every run uses a fresh name
    and removes its instances, so running an entry twice gives the same result."""
    from bfcl_eval.eval_checker.multi_turn_eval import multi_turn_utils
    before = set(vars(multi_turn_utils))
    entry = load_multi_turn("multi_turn_base")["multi_turn_base_0"]
    runs = []
    for _ in range(2):
        spy = Spy(["[mkdir(dir_name='fresh')]", "Done."])
        run_entry(entry, spy, model_name="same")
        runs.append(spy.seen[1][-1]["content"])
    assert runs[0] == runs[1] and "Error" not in runs[0]
    lines = [json.dumps({"id": entry.id, "result": run_entry(entry, Spy(_replay_script(entry)))})]
    assert score_multi_turn("multi_turn_base", lines).correct == score_multi_turn("multi_turn_base", lines).correct == 1
    assert set(vars(multi_turn_utils)) == before


def test_only_backend_methods_reach_bfcls_executor(tmp_path):
    """BFCL's executor evals the call strings; funrl hands it nothing but the entry's backend methods and
    literals. Every ground-truth call passes the guard; a builtin, an attribute chain or an injected expression is
    answered as an unknown function, and does not run."""
    for category in MULTI_TURN_CATEGORIES:
        for e in load_multi_turn(category).values():
            allowed = _allowed_methods(e.involved_classes)
            assert all(_safe_for_bfcl(c, allowed) for calls in e.ground_truth for c in calls), e.id
    entry = load_multi_turn("multi_turn_base")["multi_turn_base_0"]
    target = tmp_path / "written"
    injected = "{\"x': open('%s', 'w').write('x'), 'y\": 1}" % (tmp_path / "injected")
    spy = Spy([f"[open(file='{target}', mode='w')]", f"[echo(content=1, file_name={injected})]",
               "[print(value='x'), ls()]", "Done."])
    run_entry(entry, spy)
    assert not target.exists() and not (tmp_path / "injected").exists()
    refused = "Error during execution: name 'funrl_refused_call' is not defined"
    assert ast.literal_eval(spy.seen[1][-1]["content"])[0]["content"] == refused
    assert ast.literal_eval(spy.seen[2][-1]["content"])[0]["content"] == refused
    printed, listed = ast.literal_eval(spy.seen[3][-1]["content"])
    assert printed["content"] == refused and "current_directory_content" in listed["content"]
    assert REFUSED_CALL == "funrl_refused_call()"
    # names BFCL would reject itself stay BFCL's business (same message as the official run)
    spy = Spy(["[unknown_tool(a=1), os.system(command='x')]", "Done."])
    run_entry(entry, spy)
    unknown, dotted = ast.literal_eval(spy.seen[1][-1]["content"])
    assert unknown["content"] == "Error during execution: name 'unknown_tool' is not defined"
    assert dotted["content"] == "Error during execution: name 'os' is not defined"


# ---------------------------------------------------------------------------------------------------------------
# the loop and the scorer against BFCL's own code
# ---------------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bfcl_handler(bfcl_utils):
    """A BFCL prompting handler (BaseHandler, BFCL's own loop) whose model is a script; its hooks are those of
    BFCL's API prompting handlers (OpenAICompletionsHandler): plain message list, results in one user message."""
    handler_utils, bfcl_utils_mod = bfcl_utils
    from bfcl_eval.model_handler.base_handler import BaseHandler

    class ScriptedHandler(BaseHandler):
        def __init__(self, replies):
            super().__init__("scripted-model", 0.0, "scripted-model", False)
            self.replies, self.seen = list(replies), []

        def _pre_query_processing_prompting(self, test_entry):
            test_entry["question"][0] = handler_utils.system_prompt_pre_processing_chat_model(
                test_entry["question"][0], test_entry["function"], test_entry["id"])
            return {"message": []}

        def add_first_turn_message_prompting(self, inference_data, first_turn_message):
            inference_data["message"].extend(first_turn_message)
            return inference_data

        def _add_next_turn_user_message_prompting(self, inference_data, user_message):
            inference_data["message"].extend(user_message)
            return inference_data

        def _query_prompting(self, inference_data):
            self.seen.append(copy.deepcopy(inference_data["message"]))
            return (self.replies.pop(0) if self.replies else "Done."), 0.0

        def _parse_query_response_prompting(self, api_response):
            return {"model_responses": api_response, "input_token": 0, "output_token": 0}

        def _add_assistant_message_prompting(self, inference_data, model_response_data):
            inference_data["message"].append({"role": "assistant", "content": model_response_data["model_responses"]})
            return inference_data

        def _add_execution_results_prompting(self, inference_data, execution_results, model_response_data):
            inference_data["message"].append({"role": "user", "content": handler_utils.format_execution_results_prompting(
                inference_data, execution_results, model_response_data)})
            return inference_data

        def decode_execute(self, result, has_tool_call_tag):
            return handler_utils.default_decode_execute_prompting(result, has_tool_call_tag)

    yield ScriptedHandler, handler_utils, bfcl_utils_mod


def _forget(prefix: str) -> None:
    from bfcl_eval.eval_checker.multi_turn_eval import multi_turn_utils
    for key in [k for k in vars(multi_turn_utils) if k.startswith(prefix)]:
        del vars(multi_turn_utils)[key]


def _scripts(entry) -> dict[str, list[str]]:
    wrong = [r.replace("'", "'x", 1) if r.startswith("[") else r for r in _replay_script(entry)]
    return {"replay": _replay_script(entry), "verbatim": _replay_script(entry, keywords=False), "wrong": wrong,
            "chatty": ["Let me think.", "[pwd()]", "[ls(a=True)]", "Done."] * len(entry.ground_truth),
            "loop": ["[pwd()]"] * 60}


def test_the_loop_is_bfcls_inference_multi_turn_prompting(bfcl_handler, capsys):
    """Same script, same entry: funrl's run_entry and BFCL's own loop show the model the same conversations (every
    message of every query) and record the same result, including a force quit after 20 steps."""
    ScriptedHandler, _, bfcl_utils_mod = bfcl_handler
    compared = 0
    for category in MULTI_TURN_CATEGORIES:
        theirs_entries = {t["id"]: t for t in bfcl_utils_mod.load_dataset_entry(category)}
        ours = load_multi_turn(category)
        for entry_id in list(ours)[:: 50] + ([e for e in ours if e.endswith("_56")] if category.endswith("base") else []):
            for name, script in _scripts(ours[entry_id]).items():
                if name == "loop" and not (category == "multi_turn_base" and entry_id.endswith("_0")):
                    continue
                handler = ScriptedHandler(script)
                try:
                    their_result, _ = handler.inference_multi_turn_prompting(
                        copy.deepcopy(theirs_entries[entry_id]), include_input_log=False, exclude_state_log=True)
                finally:
                    _forget("scripted_model_")
                spy = Spy(script)
                our_result = run_entry(ours[entry_id], spy)
                assert our_result == their_result, (entry_id, name)
                assert spy.seen == handler.seen, (entry_id, name)
                if name == "loop":
                    assert len(our_result) == 1 and len(our_result[0]) == MAXIMUM_STEP_LIMIT + 1
                compared += 1
    capsys.readouterr()  # BFCL's loop prints every step
    assert compared == 4 * 4 * 4 + 4 + 1  # 4 entries x 4 scripts per category, base_56 (positional), one loop


def _bfcl_evaluate(handler_utils, entry, result) -> dict:
    """``eval_runner._evaluate_single_multi_turn_entry`` with BFCL's own decoder and the official checker."""
    from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker import multi_turn_checker
    from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_utils import is_empty_execute_response
    if not isinstance(result, list):
        return {"valid": False, "error_type": "multi_turn:inference_error"}
    if len(result) != len(entry.ground_truth):
        return {"valid": False, "error_type": "multi_turn:force_terminated"}
    decoded = []
    for turn in result:
        steps = []
        for step in turn:
            try:
                calls = handler_utils.default_decode_execute_prompting(step)
                if is_empty_execute_response(calls):
                    continue
                steps.append(calls)
            except Exception:
                continue
        decoded.append(steps)
    try:
        out = multi_turn_checker(decoded, entry.ground_truth, copy.deepcopy(entry.raw), entry.category,
                                 "reference_checker")
    finally:
        _forget("reference_checker_")
    return {"valid": out["valid"], "error_type": out.get("error_type")}


def test_the_scorer_is_bfcls_evaluation(bfcl_utils):
    handler_utils, _ = bfcl_utils
    for category in MULTI_TURN_CATEGORIES:
        entries = list(load_multi_turn(category).values())[::20]
        results = {}
        for e in entries:
            for name, script in _scripts(e).items():
                if name != "loop":
                    results[(e.id, name)] = run_entry(e, Spy(script))
            replay = results[(e.id, "replay")]
            results[(e.id, "dropped_turn")] = replay[:-1]
            results[(e.id, "swapped")] = [replay[-1]] + replay[1:-1] + [replay[0]]
            results[(e.id, "error")] = "Error during inference: boom"
        lines = [json.dumps({"id": eid, "result": r}) for (eid, _), r in results.items()]
        # one entry per report (an id may appear once per file)
        verdicts = [score_multi_turn(category, [line]).verdicts[0] for line in lines]
        by_id = {e.id: e for e in entries}
        theirs = [_bfcl_evaluate(handler_utils, by_id[eid], r) for (eid, _), r in results.items()]
        assert [(v["valid"], v["error_type"]) for v in verdicts] == [(t["valid"], t["error_type"]) for t in theirs]
        assert 0 < sum(t["valid"] for t in theirs) < len(theirs)


def test_funrl_bfcl_evaluate_scores_multi_turn_result_files(tmp_path):
    """`funrl bfcl evaluate` scores multi-turn result files (BFCL's layout ``<model>/multi_turn/...``) and averages
    the categories present into the Multi-turn summary."""
    from funrl_lib.bfcl.evaluate import evaluate_results
    expected = {}
    for category, n_good in (("multi_turn_base", 8), ("multi_turn_miss_func", 3)):
        entries = list(load_multi_turn(category).values())[:10]
        lines = _run_lines(entries[:n_good], lambda e: Spy(_replay_script(e)))
        lines += _run_lines(entries[n_good:], lambda e: (lambda messages: "I cannot help."))
        path = tmp_path / "results" / "m" / "multi_turn" / f"BFCL_v4_{category}_result.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        expected[category] = n_good / 10
    summary, reports = evaluate_results(tmp_path / "results")
    assert {c: r["accuracy"] for c, r in summary["categories"].items()} == expected
    assert all(r["total"] == 10 and r["missing"] == 190 for r in summary["categories"].values())
    assert summary["summaries"]["multi_turn"]["score"] == pytest.approx((0.8 + 0.3) / 2)
    assert summary["summaries"]["multi_turn"]["missing"] == ["multi_turn_miss_param", "multi_turn_long_context"]
    assert summary["overall"]["used"] == ["multi_turn"] and summary["found_but_not_scored"] == {}
    assert reports["multi_turn_base"].error_counts == {"multi_turn:empty_turn_model_response": 2}
