"""BFCL v4 multi-turn categories: load the entries, run a model through BFCL's prompting loop, score with the official
checker.

Multi-turn entries are stateful: the model's calls change simulated backends (a file system, a trading bot, a travel
agency, a car, ...) and BFCL compares the backends' state and the calls' results with those of the ground truth, turn
by turn. funrl does not re-implement any of that. The backends, the executor and the checker are BFCL's own, from the
installed ``bfcl-eval`` wheel (``pip install --no-deps bfcl-eval==2026.3.23``; these modules need none of its heavy
dependencies):

* ``eval_checker.multi_turn_eval.func_source_code``: the simulated backends (plain Python classes);
* ``multi_turn_utils.execute_multi_turn_func_call``: runs call strings such as ``cd(folder='docs')`` on those
  backends. **Execution goes through BFCL's executor, on its simulated Python backends only**: funrl itself never
  evaluates model output. BFCL's executor ``eval``\\ s the call string, so before handing it a string funrl checks its
  syntax tree (``ast``, nothing run) and lets through only calls of the entry's backend methods, literals, and names
  that BFCL's ``eval`` would reject with a ``NameError``; anything else (``open(...)``, attribute chains, arithmetic,
  lambdas, ...), which a well-formed decoded call never contains, is replaced by a call BFCL reports as
  ``Error during execution: name 'funrl_refused_call' is not defined`` (:data:`REFUSED_CALL`);
* ``multi_turn_checker.multi_turn_checker``: the official verdict (state check and unordered response check per turn).

Reimplemented here, each a few lines, each compared with BFCL's own code in tests/test_bfcl_multi_turn.py:

* loading (:func:`load_multi_turn`) = ``bfcl_eval.utils.load_dataset_entry`` + ``populate_test_cases_with_predefined_
  functions`` (function docs of the involved classes; miss_func's held-out docs moved to ``missed_function``), read
  from :func:`funrl_lib.bfcl.data.find_data_dir` so a ``--data-dir`` is honoured (BFCL's helpers only read the
  installed package). Like BFCL 2026.3.23, the data's ``excluded_function`` lists are **not** applied: no BFCL code
  reads that key, so the model sees those functions too;
* the generation loop (:func:`run_entry`) = ``BaseHandler.inference_multi_turn_prompting``;
* decoding = ``default_decode_execute_prompting``: funrl's Python decoder (:func:`funrl_lib.calls.decode_calls`,
  BFCL's ``default_decode_ast_prompting`` rules) then BFCL's ``decoded_output_to_execution_list`` /
  ``parse_nested_value`` rendering (:func:`execution_strings`), quirks kept;
* result-file scoring (:func:`score_multi_turn`) = ``eval_runner._evaluate_single_multi_turn_entry`` (the
  inference-error and force-termination pre-checks, per-step decoding that skips what does not decode or decodes
  to nothing), then the official checker.

BFCL keeps backend instances in ``multi_turn_utils``' module globals, keyed by model name and entry id, so a second
run of the same entry under the same name would continue from the first run's state. Every run and every scoring
here uses a fresh model name (:func:`_fresh_model_name`) and deletes its instances afterwards.
"""

from __future__ import annotations

import ast
import builtins
import copy
import functools
import importlib
import inspect
import itertools
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterable

from ..calls import SPLAT_KEY, DecodeError, decode_calls, strip_think
from .data import INSTALL_HINT, VERSION_PREFIX, BFCLDataError, _read_jsonl, find_data_dir
from .prompts import MISSED_FUNCTIONS_MESSAGE, execution_results_message, with_bfcl_system_prompt
from .score import LineProblem, ScoreReport, results_lines, score_lines

__all__ = ["MAXIMUM_STEP_LIMIT", "MULTI_TURN_CATEGORIES", "REFUSED_CALL", "MultiTurnEntry", "execution_strings",
           "load_multi_turn", "run_entry", "score_multi_turn", "score_multi_turn_file"]

MULTI_TURN_CATEGORIES = ("multi_turn_base", "multi_turn_miss_func", "multi_turn_miss_param", "multi_turn_long_context")
# BFCL's constants.default_prompts.MAXIMUM_STEP_LIMIT (a test checks they agree).
MAXIMUM_STEP_LIMIT = 20
# What a refused call string is replaced with: BFCL's executor answers it with a NameError message, runs nothing.
REFUSED_CALL = "funrl_refused_call()"
RESULTS_ROLES = ("user", "tool", "ipython")

Chat = Callable[[list[dict]], str]


# ---------------------------------------------------------------------------------------------------------------
# BFCL's modules (imported lazily: funrl's other BFCL commands must work without bfcl-eval's code)
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Bfcl:
    utils: ModuleType  # eval_checker.multi_turn_eval.multi_turn_utils
    checker: Callable[..., dict]
    func_doc_files: dict[str, str]
    class_modules: dict[str, str]


@functools.lru_cache(maxsize=1)
def _bfcl() -> _Bfcl:
    try:
        from bfcl_eval.constants.executable_backend_config import (CLASS_FILE_PATH_MAPPING,
                                                                    MULTI_TURN_FUNC_DOC_FILE_MAPPING)
        from bfcl_eval.eval_checker.multi_turn_eval import multi_turn_utils
        from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker import multi_turn_checker
    except ImportError as e:
        raise BFCLDataError(f"multi-turn categories run on BFCL's own executable backends and checker, which could "
                            f"not be imported ({e}); {INSTALL_HINT}") from None
    return _Bfcl(multi_turn_utils, multi_turn_checker, dict(MULTI_TURN_FUNC_DOC_FILE_MAPPING),
                 dict(CLASS_FILE_PATH_MAPPING))


_RUN_COUNTER = itertools.count()


def _fresh_model_name(base: str) -> str:
    """A model name no other run in this process uses (BFCL keys backend instances by it); an identifier, since BFCL
    pastes it into the call strings it evaluates."""
    stem = re.sub(r"\W", "_", base) or "funrl"
    if not (stem[0].isalpha() or stem[0] == "_"):
        stem = "m_" + stem
    return f"{stem}_{uuid.uuid4().hex[:10]}_{next(_RUN_COUNTER)}"


def _forget_instances(model_name: str) -> None:
    """Delete the backend instances BFCL's executor stored for ``model_name`` (incl. ``_eval``/``_ground_truth``)."""
    store = vars(_bfcl().utils)
    for key in [k for k in store if k.startswith(model_name + "_")]:
        del store[key]


# ---------------------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class MultiTurnEntry:
    """One multi-turn entry as BFCL presents it to a prompting model. Shared by the loader's cache: do not mutate.

    ``functions``: the raw docs of every involved class (no language hint: :func:`with_bfcl_system_prompt` adds it)
    minus the held-out ones; ``missed_function``: ``{turn_index: [docs]}`` shown at that turn (miss_func only);
    ``ground_truth``: per turn, the call strings (an empty turn must not be satisfiable); ``excluded_function``: as
    listed by the data, not applied (BFCL does not apply it); ``raw``: the data line, what BFCL's checker reads."""

    id: str
    category: str
    question: list[list[dict]]
    functions: list[dict]
    missed_function: dict[int, list[dict]]
    initial_config: dict
    involved_classes: list[str]
    ground_truth: list[list[str]]
    excluded_function: list[str] = field(default_factory=list)
    raw: dict = field(default_factory=dict)

    @property
    def long_context(self) -> bool:
        """BFCL loads the long-context scenarios when the category name says so (``"long_context" in category``)."""
        return "long_context" in self.category or "composite" in self.category


def _check_category(category: str) -> None:
    if category not in MULTI_TURN_CATEGORIES:
        raise BFCLDataError(f"{category!r} is not a multi-turn category; expected one of: "
                            f"{', '.join(MULTI_TURN_CATEGORIES)}")


@functools.lru_cache(maxsize=8)
def _load(category: str, data_dir: Path) -> dict[str, MultiTurnEntry]:
    bfcl = _bfcl()
    question_file = data_dir / f"{VERSION_PREFIX}_{category}.json"
    answer_file = data_dir / "possible_answer" / f"{VERSION_PREFIX}_{category}.json"
    questions, answers = _read_jsonl(question_file), _read_jsonl(answer_file)
    if len(questions) != len(answers):
        raise BFCLDataError(f"{category}: {len(questions)} questions ({question_file}) but {len(answers)} possible "
                            f"answers ({answer_file})")
    docs_cache: dict[str, list[dict]] = {}
    entries: dict[str, MultiTurnEntry] = {}
    for lineno, (q, a) in enumerate(zip(questions, answers), 1):
        where = f"{question_file}:{lineno}"
        entry_id = q.get("id")
        if not isinstance(entry_id, str):
            raise BFCLDataError(f"{where}: entry without an id")
        if a.get("id") != entry_id:  # BFCL aligns questions and answers by position
            raise BFCLDataError(f"{answer_file}:{lineno}: possible answer {a.get('id')!r} for question {entry_id!r}")
        # bfcl_eval.utils.populate_test_cases_with_predefined_functions: the docs of every involved class, in order
        functions: list[dict] = []
        for class_name in q.get("involved_classes", []):
            if class_name not in bfcl.func_doc_files:
                raise BFCLDataError(f"{where}: {entry_id}: unknown involved class {class_name!r}")
            if class_name not in docs_cache:
                docs_cache[class_name] = _read_jsonl(data_dir / "multi_turn_func_doc" / bfcl.func_doc_files[class_name])
            functions += copy.deepcopy(docs_cache[class_name])
        # ... and miss_func's held-out docs moved out of that list (the first doc of each name, as BFCL does)
        missed: dict[int, list[dict]] = {}
        for turn, names in (q.get("missed_function") or {}).items():
            missed[int(turn)] = []
            for name in names:
                for i, doc in enumerate(functions):
                    if doc["name"] == name:
                        missed[int(turn)].append(functions.pop(i))
                        break
                else:
                    raise BFCLDataError(f"{where}: {entry_id}: held-out function {name!r} is in no involved class")
        ground_truth = a.get("ground_truth")
        if not isinstance(ground_truth, list) or len(ground_truth) != len(q.get("question", [])):
            raise BFCLDataError(f"{answer_file}:{lineno}: {entry_id}: ground truth must be one list of calls per turn "
                                f"({len(q.get('question', []))} turns)")
        entries[entry_id] = MultiTurnEntry(
            id=entry_id, category=category, question=q.get("question", []), functions=functions,
            missed_function=missed, initial_config=q.get("initial_config", {}),
            involved_classes=list(q.get("involved_classes", [])), ground_truth=ground_truth,
            excluded_function=list(q.get("excluded_function") or []), raw=q)
    return entries


def load_multi_turn(category: str, data_dir: str | os.PathLike | None = None) -> dict[str, MultiTurnEntry]:
    """Entries of one multi-turn category, keyed by id, in file order (cached: treat them as read-only)."""
    _check_category(category)
    return _load(category, find_data_dir(data_dir))


# ---------------------------------------------------------------------------------------------------------------
# Decoding: model text -> BFCL execution strings
# ---------------------------------------------------------------------------------------------------------------

def _nested_value(value: Any) -> str:
    """BFCL's ``parse_nested_value``: a dict whose values are all dicts is a nested call (only its first key is used;
    an empty dict raises, which makes BFCL's decoding fail); other dicts are written with every key quoted."""
    if isinstance(value, dict):
        if all(isinstance(v, dict) for v in value.values()):
            name = list(value.keys())[0]
            return f"{name}({', '.join(f'{_key(k)}={_nested_value(v)}' for k, v in value[name].items())})"
        return "{" + ", ".join(f"'{k}': {_nested_value(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _key(key: str) -> str:
    # BFCL's decoder stores a **kwargs splat under the key None; funrl's under SPLAT_KEY.
    return "None" if key == SPLAT_KEY else key


def execution_strings(text: Any, *, strip_thinking: bool = False) -> list[str]:
    """BFCL's ``default_decode_execute_prompting``: decode ``text`` with funrl's Python decoder (BFCL's rules) and
    write each call as BFCL's executor expects (``decoded_output_to_execution_list``). Raises :class:`DecodeError`
    where BFCL's decoding raises; ``[]`` means it decoded to no call (``is_empty_execute_response``)."""
    if strip_thinking:
        text = strip_think(text)
    calls = decode_calls(text, "python")
    try:
        return [f"{call.name}({', '.join(f'{_key(k)}={_nested_value(v)}' for k, v in call.arguments.items())})"
                for call in calls]
    except IndexError:
        raise DecodeError("an empty dict argument: BFCL's parse_nested_value fails on it", fmt="python") from None


# ---------------------------------------------------------------------------------------------------------------
# What may reach BFCL's executor
# ---------------------------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _method_names(class_name: str) -> frozenset[str]:
    """Public methods of a backend class, as BFCL's executor maps them (``inspect.ismethod`` on an instance)."""
    bfcl = _bfcl()
    cls = getattr(importlib.import_module(bfcl.class_modules[class_name]), class_name)
    return frozenset(n for n, _ in inspect.getmembers(cls(), predicate=inspect.ismethod) if not n.startswith("_"))


def _allowed_methods(involved_classes: Iterable[str]) -> frozenset[str]:
    return frozenset().union(*(_method_names(c) for c in involved_classes))


_LITERAL_NODES = (ast.Expression, ast.Constant, ast.List, ast.Tuple, ast.Set, ast.Dict, ast.keyword, ast.Load,
                  ast.UnaryOp, ast.USub, ast.UAdd, ast.Not, ast.Invert, ast.Name)


def _unresolvable(name: str) -> bool:
    """True when BFCL's ``eval`` would raise NameError on ``name`` (not a global of multi_turn_utils nor a builtin)."""
    return name not in vars(_bfcl().utils) and not hasattr(builtins, name)


def _safe_for_bfcl(call: str, allowed: frozenset[str]) -> bool:
    """Whether BFCL's executor may ``eval`` ``call``: every call in it is a backend method of the entry (BFCL
    prefixes those with the instance) or a name whose lookup fails before anything runs; everything else is a
    literal. A string that does not parse is safe too: ``eval`` fails compiling it."""
    try:
        tree = ast.parse(call, mode="eval")
    except (SyntaxError, ValueError, RecursionError):
        return True
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            root = node.func
            while isinstance(root, ast.Attribute):
                root = root.value
            if not isinstance(root, ast.Name):
                return False
            if root is node.func and root.id in allowed:
                continue
            if not _unresolvable(root.id):
                return False
        elif isinstance(node, ast.Attribute):
            continue  # only reached inside a call's func chain, judged by its root above
        elif not isinstance(node, _LITERAL_NODES):
            return False
    return _attributes_only_in_call_targets(tree)


def _attributes_only_in_call_targets(tree: ast.AST) -> bool:
    targets = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    chain: set[int] = set()
    for t in [n for n in ast.walk(tree) if id(n) in targets]:
        while isinstance(t, ast.Attribute):
            chain.add(id(t))
            t = t.value
    return all(id(n) in chain for n in ast.walk(tree) if isinstance(n, ast.Attribute))


def _guard(calls: list[str], allowed: frozenset[str]) -> list[str]:
    return [c if _safe_for_bfcl(c, allowed) else REFUSED_CALL for c in calls]


# ---------------------------------------------------------------------------------------------------------------
# Generation: BFCL's prompting-mode multi-turn loop
# ---------------------------------------------------------------------------------------------------------------

def _results_messages(calls: list[str], results: list[str], role: str) -> list[dict]:
    """The execution results as BFCL's handlers send them back. ``user``: one user message holding the ``repr`` of
    the tool messages (``format_execution_results_prompting``: the base handler's documented default, used by the
    API prompting handlers); ``tool``: one ``tool`` message per call (``OSSHandler``, the vLLM/SGLang handlers);
    ``ipython``: one ``ipython`` message per result (``LlamaHandler``, which BFCL uses for ToolACE-2-8B)."""
    if role == "user":
        return [{"role": "user", "content": execution_results_message(calls, results)}]
    if role == "tool":
        return [{"role": "tool", "name": c, "content": r} for c, r in zip(calls, results)]
    return [{"role": "ipython", "content": r} for r in results]


def run_entry(entry: MultiTurnEntry, chat: Chat, *, max_steps: int = MAXIMUM_STEP_LIMIT, model_name: str = "funrl",
              results_role: str = "user", strip_thinking: bool = True,
              prepare: Callable[[dict[str, Any]], list[list[dict]]] | None = None,
              finish: Callable[[dict[str, Any]], None] | None = None) -> list[list[str]]:
    """Run ``chat`` through one entry the way BFCL's ``inference_multi_turn_prompting`` does; return BFCL's result
    for the entry: per turn, the model's raw reply at each step.

    ``chat(messages)`` returns the model's reply to the conversation so far (BFCL's system prompt first). Per turn:
    the turn's user message(s) are added (at a miss_func turn, the held-out docs in a user message
    :data:`MISSED_FUNCTIONS_MESSAGE`); then per step the reply is appended as an assistant message and decoded (a
    leading think block removed when ``strip_thinking``); a reply that does not decode or decodes to no call ends
    the turn; otherwise the calls run on BFCL's backends and the results are appended (``results_role``, see
    :func:`_results_messages`). After more than ``max_steps`` executing steps in one turn BFCL force-quits: that
    turn is recorded and the remaining turns are not run, so the result has fewer turns than the ground truth and
    the scorer fails the entry (unless it was the last turn: BFCL's own quirk, kept). An exception from ``chat``
    propagates; BFCL would record ``"Error during inference: ..."`` as the result, which the scorer fails.

    ``prepare(instances)`` (agentic entries, :mod:`funrl_lib.bfcl.agentic_generate`) gets BFCL's backend instances
    once they are created and returns the question turns to use (BFCL adds the memory instructions, with the core
    memory's content, at that point); ``finish(instances)`` runs after the last turn (BFCL flushes a memory
    warm-up dialogue's memory to disk there)."""
    if results_role not in RESULTS_ROLES:
        raise ValueError(f"results_role={results_role!r}; expected one of {', '.join(RESULTS_ROLES)}")
    bfcl = _bfcl()
    name = _fresh_model_name(model_name)
    allowed = _allowed_methods(entry.involved_classes)

    def execute(calls: list[str]) -> list[str]:
        results, _ = bfcl.utils.execute_multi_turn_func_call(
            _guard(calls, allowed), entry.initial_config, entry.involved_classes, name, entry.id,
            long_context=entry.long_context, is_evaL_run=False)
        return results

    try:
        _, instances = bfcl.utils.execute_multi_turn_func_call(  # BFCL creates the instances (loads the scenario)
            [], entry.initial_config, entry.involved_classes, name, entry.id,  # before the first query
            long_context=entry.long_context, is_evaL_run=False)
        question = entry.question if prepare is None else prepare(instances)
        messages: list[dict] = []
        result: list[list[str]] = []
        for turn_index, turn in enumerate(question):
            turn_messages = copy.deepcopy(turn)
            if turn_index in entry.missed_function:
                if turn_messages:
                    raise BFCLDataError(f"{entry.id}: turn {turn_index} holds out functions but has a user message "
                                        "(BFCL asserts it is empty)")
                turn_messages = [{"role": "user", "content": MISSED_FUNCTIONS_MESSAGE.format(
                    functions=entry.missed_function[turn_index])}]
            if turn_index == 0:
                messages = with_bfcl_system_prompt(turn_messages, entry.functions, entry.category)
            else:
                messages += turn_messages
            replies: list[str] = []
            steps, force_quit = 0, False
            while True:
                reply = chat(copy.deepcopy(messages))
                replies.append(reply)
                messages.append({"role": "assistant", "content": reply})
                try:
                    calls = execution_strings(reply, strip_thinking=strip_thinking)
                except DecodeError:
                    break
                if not calls:
                    break
                messages += _results_messages(calls, execute(calls), results_role)
                steps += 1
                if steps > max_steps:
                    force_quit = True
                    break
            result.append(replies)
            if force_quit:
                break
        if finish is not None:
            finish(instances)
        return result
    finally:
        _forget_instances(name)


# ---------------------------------------------------------------------------------------------------------------
# Scoring: BFCL's multi-turn evaluation of a result file
# ---------------------------------------------------------------------------------------------------------------

def _check_entry(entry: MultiTurnEntry, result: Any, *, strip_thinking: bool) -> dict[str, Any]:
    """``eval_runner._evaluate_single_multi_turn_entry``, then the official checker. Returns the verdict."""
    if not isinstance(result, list):
        return {"valid": False, "error_type": "multi_turn:inference_error",
                "error": "Error during inference phase. Model did not output a list of model responses."}
    if len(result) != len(entry.ground_truth):
        return {"valid": False, "error_type": "multi_turn:force_terminated",
                "error": f"Model was force-terminated during inference phase. The length of the model result turns "
                         f"({len(result)}) does not match the length of the ground truth turns "
                         f"({len(entry.ground_truth)})."}
    allowed = _allowed_methods(entry.involved_classes)
    decoded: list[list[list[str]]] = []
    for turn in result:
        steps = []
        for step in turn:
            try:
                calls = execution_strings(step, strip_thinking=strip_thinking)
            except DecodeError:
                continue  # BFCL: "Ignore any failed decoding and continue to the next message"
            if calls:
                steps.append(_guard(calls, allowed))
        decoded.append(steps)
    name = _fresh_model_name("funrl_score")
    try:
        out = _bfcl().checker(decoded, entry.ground_truth, entry.raw, entry.category, name)
    finally:
        _forget_instances(name)
    if out.get("valid"):
        return {"valid": True, "error_type": None}
    verdict = {"valid": False, "error_type": out.get("error_type"), "error": out.get("error_message")}
    missing = (out.get("details") or {}).get("missing_items")
    if missing is not None:
        verdict["missing_items"] = missing
    differences = (out.get("details") or {}).get("differences")
    if differences is not None:
        verdict["differing_attributes"] = sorted(differences)
    return verdict


def score_multi_turn(category: str, result_lines: Iterable[str], *, entries: dict[str, MultiTurnEntry] | None = None,
                     data_dir: str | os.PathLike | None = None, source: str = "<results>",
                     strip_thinking: bool = False) -> ScoreReport:
    """Score a multi-turn result file (one ``{"id", "result": [[step reply, ...] per turn]}`` per line) with BFCL's
    official checker; one verdict per line, in input order. Lines that cannot be scored (not JSON, no id or result,
    an id not in the category, an id seen before, turns that are not lists) become ``funrl:`` problems naming
    ``source:line``, like :func:`funrl_lib.bfcl.score.score_result_lines`. ``strip_thinking`` removes a leading
    think block from each step before decoding (results written by :func:`run_entry` hold the raw replies)."""
    _check_category(category)
    if entries is None:
        entries = load_multi_turn(category, data_dir)
    def check(entry: MultiTurnEntry, result: Any) -> dict[str, Any]:
        if isinstance(result, list) and not all(isinstance(turn, list) for turn in result):
            raise LineProblem("funrl:malformed_line", "\"result\" must be a list of turns, each a list of step replies")
        try:
            return _check_entry(entry, result, strip_thinking=strip_thinking)
        except Exception as e:  # BFCL's checker asserts on inconsistent instances; report, keep scoring the rest
            raise LineProblem("funrl:checker_error",
                              f"BFCL's multi-turn checker failed ({type(e).__name__}: {e})") from None

    return score_lines(category, result_lines, entries, check, source=source)


def score_multi_turn_file(category: str, path: str | os.PathLike, **kwargs: Any) -> ScoreReport:
    path = Path(path)
    with results_lines(path) as f:  # a byte that is not UTF-8 makes its line a problem, not the file unreadable
        return score_multi_turn(category, f, source=str(path), **kwargs)
