"""The BFCL v4 checker for the Python single-turn categories, exact to the official semantics.

A port of ``bfcl_eval/eval_checker/ast_eval/ast_checker.py`` and the single-turn paths of ``eval_runner.py``
(bfcl-eval 2026.3.23, Apache-2.0), checked row by row against the official code by ``tests/test_bfcl_parity.py``
on the fixtures written by ``scripts/bfcl_parity.py``. One checker serves BFCL scoring, the GRPO reward and the
verification of synthesized data.

Semantics (BFCL v4, verified against the official code):

* Dispatch by category name: contains ``parallel`` -> order-insensitive matching of as many calls as the ground
  truth has; else contains ``multiple`` -> exactly as many calls as the ground truth (always one), checked against the
  expected function; else (simple) -> exactly one call, checked against the *first* function offered.
* Per call: the name must match exactly (dots become ``_`` first when ``underscore_to_dot``, as for FC models that
  cannot use dots); every schema-required parameter present; every given parameter declared **and** listed in the
  ground truth; each ground-truth parameter left out must allow ``""`` ("optional").
* Types: exact Python types (``bool`` is not ``int``); an int is accepted for a float (converted), a float never for
  an int; tuples become lists for ``tuple`` parameters; array/tuple elements are type-checked one level deep;
  ``any`` means ``str``. A value of the possible answer's own type is accepted when it differs from the schema type
  (the "variable" escape).
* Values: strings compared after removing spaces and ``,./-_*^``, lowercasing and turning ``'`` into ``"``; lists must
  equal one allowed list element by element (order matters; string elements normalised); dicts key by key against
  each alternative; lists of dicts dict by dict in order; anything else by ``in`` (so ``1 == 1.0 == True``).
* Relevance: ``irrelevance`` / ``live_irrelevance`` pass when the output does not decode into a non-empty list of
  calls with BFCL's Python decoder; ``live_relevance`` passes when it does (arguments are not checked).
* FC mode (``score_entry(..., fc=True)``; ``funrl bfcl evaluate`` uses it for a result folder named ``*-FC``, BFCL's
  convention): the output is decoded as BFCL decodes its ``Qwen/...-FC`` models, with ``QwenFCHandler``: first the
  part its generation keeps (:func:`~funrl_lib.calls.qwen_fc_response`: after the last ``</think>``), then
  ``decode_ast`` (:func:`~funrl_lib.calls.decode_qwen_fc`: ``<tool_call>\\n{json}\\n</tool_call>`` blocks, broken
  ones skipped). An output without a (parsable) block decodes to no call: in an AST category that is a wrong count
  (``*:wrong_count``, not ``ast_decoder:decoder_failed``), in ``irrelevance`` / ``live_irrelevance`` it is correct,
  in ``live_relevance`` it fails. A block that parses but is not ``{"name", "arguments": {...}}`` fails the whole
  decode (``ast_decoder:decoder_failed``; a refusal for the irrelevance categories). Names are compared as they are
  (QwenFC models have ``underscore_to_dot`` off). Parity with the official code: ``tests/test_bfcl_fc_parity.py``.

BFCL quirks reproduced on purpose (each one makes verdicts match the leaderboard's):

* A malformed call counts as a refusal: in the irrelevance categories any output that fails to decode passes,
  including ``<tool_call>`` JSON and fenced code (gorilla issues #443, #1362).
* Prose around the call list, or a code fence with a language tag (```` ```python ````), makes the decode fail, so
  an otherwise correct answer scores 0; a bare ```` ``` ```` fence is stripped along with the backticks and passes.
* Positional arguments are dropped by the decoder: ``f(5)`` is a call of ``f`` with no arguments.
* A unary operator on a number negates it whatever the operator: ``+5`` decodes as ``-5``.
* Passing an optional parameter that the ground truth does not list fails ("unexpected parameter") even when the
  value equals the schema default.
* ``simple`` checks the single call against the first function offered; ``multiple`` against the expected one.
* Parallel matching is greedy in ground-truth order (first unmatched call that passes), not a maximum matching.
* An optional list parameter whose allowed values include ``""`` accepts ``[]``; an optional dict parameter whose
  allowed values are only ``""`` rejects any dict (``dict_checker:unclear``).
* Membership uses Python equality, so ``True`` is accepted where the answer lists ``1`` once the type check passed
  through the variable escape.

Deliberate differences, none of which can change a verdict on BFCL's data:

* Where the official checker raises (a ground-truth function missing from the functions offered, a malformed answer
  structure), the official evaluation aborts; funrl records an invalid verdict with ``error_type``
  ``checker_error:<ExceptionName>`` and scores the other entries. The parity fixtures record the official
  exception the same way, so such rows still compare.
* An array parameter without ``items`` is not element-checked (the official code raises KeyError).
* Arithmetic values are folded without ``eval`` (see :mod:`funrl_lib.calls`), and decoding has limits (input size,
  nesting, integer digits, what arithmetic may build) far beyond any real output; past one an output does not decode.
* Messages quote values shortened to :data:`funrl_lib.calls.SHORT_REPR_LIMIT` characters (longer than any value in
  BFCL's data), so a verdict's size is bounded whatever the decoded value.

:func:`check_calls` raises :class:`CheckerError` (a ``ValueError``) and nothing else for inputs it cannot check.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from ..answers import gold_calls, infer_category, possible_answer_from_calls
from ..calls import (Call, DecodeError, decode_calls, decode_python, decode_qwen_fc, qwen_fc_response, short_repr,
                     short_str, strip_think)
from ..tools import ToolDef, load_tools
from .data import AST_CATEGORIES, JAVA_JS_CATEGORIES, RELEVANCE_CATEGORIES, BFCLEntry
from .value_checks import (_NESTED_KINDS, _OK, _PY_TYPE, CheckerError, GroundTruthError, Verdict, _dict_check,
                           _fail, _func_name, _list_check, _list_dict_check, _string_check, _type_check, _value_check,
                           standardize_string)

__all__ = [
    "CheckerError",
    "GroundTruthError",
    "Verdict",
    "ground_truth_defects",
    "check_calls",
    "check_relevance",
    "infer_category",
    "possible_answer_from_calls",
    "score_entry",
    "standardize_string",
]


def _check_one(tool: ToolDef, call: Call, expected: dict, underscore_to_dot: bool) -> Verdict:
    """ast_checker.simple_function_checker."""
    possible_answer = list(expected.values())[0]
    func_name = _func_name(tool.name, underscore_to_dot)
    if call.name != func_name:
        return _fail("simple_function_checker:wrong_func_name", f"Function name {func_name!r} not found in model "
                                                                 f"output.")
    required, properties = tool.checker_view()
    params = call.arguments
    for param in required:
        if param not in params:
            return _fail("simple_function_checker:missing_required", f"Missing required parameter: {param!r}.")

    for param, value in params.items():
        if param not in properties or param not in possible_answer:
            return _fail("simple_function_checker:unexpected_param", f"Unexpected parameter: {param!r}.")
        kind, spelling, item_kind = properties[param]
        if not isinstance(spelling, str):
            spelling = kind
        expected_type = _PY_TYPE.get(kind, str)
        nested = None
        if kind in _NESTED_KINDS and item_kind is not None:
            nested = _PY_TYPE.get(item_kind, str)
        if kind == "tuple" and type(value) == tuple:
            value = list(value)
        if kind == "number" and type(value) == int:
            value = float(value)

        failure = _value_check(param, value, possible_answer[param], spelling, expected_type, nested)
        if failure is not None:
            return failure

    for param in possible_answer:
        if param not in params and "" not in possible_answer[param]:
            return _fail("simple_function_checker:missing_optional", f"Optional parameter {param!r} not provided and "
                                                                      f"not marked as optional.")
    return _OK


def _find(tools: Sequence[ToolDef], name: str) -> ToolDef:
    for tool in tools:
        if tool.name == name:
            return tool
    raise GroundTruthError(f"ground truth calls {short_repr(name)}, which is not among the functions offered "
                           f"({short_str(', '.join(str(t.name) for t in tools))})")


def check_calls(functions: Sequence[ToolDef | dict] | str, calls: Sequence[Call], possible_answer: list,
                category: str, *, underscore_to_dot: bool = False) -> Verdict:
    """BFCL's ``ast_checker``: decoded ``calls`` against ``possible_answer`` (``[{name: {param: [allowed]}}]``).

    ``category`` picks the checker exactly as BFCL does (by substring: ``parallel``, ``multiple``, else simple); for
    data of your own use :func:`infer_category`. Returns a verdict wherever the official checker returns one; raises
    :class:`CheckerError` (a ``ValueError``) and nothing else where it cannot check: :class:`GroundTruthError` if the
    ground truth names a function that is not offered, a ``CheckerError`` naming the official exception where the
    official checker raises on a malformed answer or call, or one with ``official=None`` for arguments of the wrong
    type (a category that is not a string, calls that are not :class:`~funrl_lib.calls.Call` objects). Messages are
    bounded whatever the size of the values.
    """
    if not isinstance(category, str):
        raise CheckerError(f"category must be a string, got {type(category).__name__}")
    if not isinstance(calls, (list, tuple)) or not all(isinstance(c, Call) for c in calls):
        raise CheckerError(f"calls must be a list of Call objects, got {short_repr(calls)}")
    try:
        return _check_calls(functions, calls, possible_answer, category, underscore_to_dot)
    except CheckerError:
        raise
    except RecursionError:
        raise CheckerError("the possible answer or a call is nested too deeply to check", "RecursionError") from None
    except Exception as e:  # noqa: BLE001 - where the official checker raises too (see the module docstring)
        raise CheckerError(f"{type(e).__name__}: {short_str(str(e))}", type(e).__name__) from e


def _check_calls(functions: Sequence[ToolDef | dict] | str, calls: Sequence[Call], possible_answer: list,
                 category: str, underscore_to_dot: bool) -> Verdict:
    tools = functions if _all_tooldefs(functions) else load_tools(functions)
    if "parallel" in category:
        if len(calls) != len(possible_answer):
            return _fail("parallel_function_checker_no_order:wrong_count", "Wrong number of functions.")
        matched: list[int] = []
        for i, expected in enumerate(possible_answer):
            tool = _find(tools, list(expected)[0])
            errors = []
            result = _OK
            for index, call in enumerate(calls):
                if index in matched:
                    continue
                result = _check_one(tool, call, expected, underscore_to_dot)
                if result.valid:
                    matched.append(index)
                    break
                errors.append({f"Model Result Index {index}": {"sub_error": result.errors,
                                                               "sub_error_type": result.error_type}})
            if not result.valid:
                considered = [j for j in range(len(calls)) if j not in matched]
                errors.insert(0, f"Could not find a matching function among index {considered} of model output for "
                                 f"index {i} of possible answers.")
                return Verdict(False, "parallel_function_checker_no_order:cannot_find_match", errors)
        return _OK
    if "multiple" in category:
        if len(calls) != len(possible_answer):
            return _fail("multiple_function_checker:wrong_count", "Wrong number of functions.")
        tool = _find(tools, list(possible_answer[0])[0])
        return _check_one(tool, calls[0], possible_answer[0], underscore_to_dot)
    if len(calls) != 1:
        return _fail("simple_function_checker:wrong_count", "Wrong number of functions.")
    return _check_one(tools[0], calls[0], possible_answer[0], underscore_to_dot)


def _all_tooldefs(functions: Any) -> bool:
    return isinstance(functions, (list, tuple)) and all(isinstance(f, ToolDef) for f in functions)


# ---------------------------------------------------------------------------------------------------------------
# Relevance and whole-entry scoring (eval_runner._evaluate_single_*_entry)
# ---------------------------------------------------------------------------------------------------------------

def decodes_to_calls(output: Any, fmt: str = "python", *, known_names: Iterable[str] = ()) -> bool:
    """Does ``output`` decode into a non-empty list of calls? With ``fmt="python"`` this is BFCL's relevance test."""
    try:
        return bool(decode_calls(output, fmt, known_names=known_names))
    except DecodeError:
        return False


def check_relevance(output: Any, category: str, fmt: str = "python") -> Verdict:
    """``irrelevance``/``live_irrelevance``: pass when no call decodes; ``live_relevance``: pass when one does.
    ``fmt``: the decoder (``python``: BFCL's prompting models; ``qwen_fc``: its Qwen FC models)."""
    has_call = decodes_to_calls(output, fmt)
    if "irrelevance" in category:
        if has_call:
            return _fail("irrelevance_error:decoder_success", "Valid syntax. Successfully decode AST when it should "
                                                              "not.")
        return _OK
    if not has_call:
        return _fail("relevance_error:decoder_failed", "Invalid syntax. Failed to decode AST when it should have.")
    return _OK


def score_entry(entry: BFCLEntry, output: Any, *, strip_thinking: bool = False,
                underscore_to_dot: bool = False, fc: bool = False) -> Verdict:
    """Score one raw model output against a BFCL entry, as ``bfcl evaluate`` does for that category.

    ``strip_thinking`` removes a leading ``<think>…</think>`` first (for models that think; BFCL itself does not in
    prompting mode). ``fc``: decode as BFCL's ``QwenFCHandler`` does (see the module docstring), else as its
    prompting models (Python-list syntax).
    """
    if strip_thinking:
        output = strip_think(output)
    if fc:
        output = qwen_fc_response(output)
    category = entry.category
    if category in RELEVANCE_CATEGORIES:
        return check_relevance(output, category, "qwen_fc" if fc else "python")
    if category in JAVA_JS_CATEGORIES:  # tree-sitter decoding and the language's converters: funrl_lib.bfcl.java_js
        from .java_js import score_java_js_entry
        return score_java_js_entry(entry, output, underscore_to_dot=underscore_to_dot, fc=fc)
    if category not in AST_CATEGORIES:
        raise ValueError(f"category {category!r} is not scored by this checker")
    try:
        calls = decode_qwen_fc(output) if fc else decode_python(output)
    except DecodeError as e:
        return _fail("ast_decoder:decoder_failed", f"Invalid syntax. Failed to decode AST. {e.reason}")
    try:
        return check_calls(entry.functions, calls, entry.possible_answer or [], category,
                           underscore_to_dot=underscore_to_dot)
    except CheckerError as e:  # the official evaluator would abort here; see the module docstring
        return _fail(f"checker_error:{e.official or type(e).__name__}", f"the official checker raises here: "
                                                                          f"{_cause(e)}")


def _cause(error: CheckerError) -> str:
    """The message of the official exception a CheckerError stands for (as the verdicts have always shown it)."""
    cause = error.__cause__
    return short_str(str(cause)) if cause is not None and error.official == type(cause).__name__ else str(error)


# ---------------------------------------------------------------------------------------------------------------
# Ground truth for data of your own
# ---------------------------------------------------------------------------------------------------------------

def ground_truth_defects(functions: Sequence[ToolDef | dict], possible_answer: list) -> list[str]:
    """Reasons why no output can pass this ground truth under BFCL's rules (empty when it is satisfiable as far as
    these rules tell): a required parameter the answer does not list (giving it is "unexpected", leaving it out is
    "missing"), or an answer parameter the function does not declare and that may not be omitted."""
    tools = {t.name: t for t in (functions if _all_tooldefs(functions) else load_tools(functions))}
    defects = []
    for i, expected in enumerate(possible_answer):
        (name, params), = expected.items()
        tool = tools.get(name)
        if tool is None:
            defects.append(f"call {i}: {name!r} is not among the functions offered")
            continue
        required, properties = tool.checker_view()
        for p in required:
            if p not in params:
                defects.append(f"call {i} ({name}): required parameter {p!r} is not in the possible answer")
        for p, allowed in params.items():
            if p not in properties and "" not in allowed:
                defects.append(f"call {i} ({name}): answer parameter {p!r} is not a parameter of the function and "
                               "may not be omitted")
    return defects
