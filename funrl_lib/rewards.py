"""Rewards for GRPO on function calling, with TRL's reward-function signature.

TRL calls a reward function with keyword arguments only: ``prompts``, ``completions`` (strings, or for
conversational data lists of messages ``[{"role": "assistant", "content": ...}]``), ``completion_ids``, every dataset
column except ``prompt`` (one value per completion, already repeated for each of the G rollouts), plus
``trainer_state``, ``log_extra`` and ``log_metric``. It returns one float per completion. The functions here read
these dataset columns:

``tools``
    The functions offered, as a list of tool dicts in either dialect or (recommended for ``datasets``, whose Arrow
    schema otherwise merges the keys of every tool into every other) its JSON string.
``ground_truth``
    What a correct answer is. Either BFCL's possible-answer list ``[{name: {param: [allowed, ...]}}]`` (``""`` in
    an allowed list = may be omitted; ``[]`` = no call expected), its JSON string, or reference calls in Python
    syntax (``"[f(a=1)]"``), turned into a possible answer with
    :func:`funrl_lib.bfcl.checker.possible_answer_from_calls` (optional parameters may be omitted or set to their
    default).
``category`` (optional)
    The BFCL checker to use (``simple_python``, ``multiple``, ``parallel``, ...); by default
    :func:`funrl_lib.bfcl.checker.infer_category` picks ``multiple`` for one expected call and ``parallel``
    (order-insensitive) for several.

Neither reward raises on a completion, whatever its text: what does not decode, or what the checker cannot check
(where the official checker would raise on a malformed answer), scores as a wrong answer. A malformed ground truth is
a data error, raised for every completion of its row (:func:`parse_ground_truth`).

Both rewards are built by factories so a run can choose the answer format (``"python"``, FunRL's and BFCL's; or
``"json"``, ``"hermes"``, ``"auto"``) and whether the chat template pre-fills ``<think>``:
``make_funrl_binary(fmt="hermes")``. The module-level :func:`funrl_binary` and :func:`toolrl_graded` are the defaults.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from .bfcl.checker import (CheckerError, GroundTruthError, check_calls, decodes_to_calls, infer_category,
                           possible_answer_from_calls)
from .calls import Call, DecodeError, decode_calls, parse_completion, short_repr
from .tools import ToolDef, load_tools

__all__ = ["Judgement", "funrl_binary", "judge_completion", "make_funrl_binary", "make_toolrl_graded", "match_score", "toolrl_correctness",
           "toolrl_graded"]

RewardFunc = Callable[..., list[float]]


# ---------------------------------------------------------------------------------------------------------------
# Reading TRL's arguments
# ---------------------------------------------------------------------------------------------------------------

def completion_text(completion: Any) -> tuple[str, list[Call] | None]:
    """(text, calls carried as structured ``tool_calls``) of one completion, standard or conversational."""
    if isinstance(completion, str):
        return completion, None
    if isinstance(completion, dict):
        completion = [completion]
    texts, calls = [], None
    for message in completion if isinstance(completion, (list, tuple)) else []:
        if not isinstance(message, dict) or message.get("role", "assistant") != "assistant":
            continue
        content = message.get("content")
        if isinstance(content, list):  # multimodal-style parts
            content = "".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
        texts.append(content if isinstance(content, str) else "")
        if message.get("tool_calls"):
            try:
                calls = (calls or []) + decode_calls({"tool_calls": message["tool_calls"]}, "openai")
            except DecodeError:
                calls = calls or []
    return "".join(texts), calls


class _RowCache:
    """Parsed tools and ground truth per distinct row value (the G rollouts of a prompt share them)."""

    def __init__(self) -> None:
        self.tools: dict[Any, list[ToolDef]] = {}
        self.truth: dict[Any, list] = {}

    @staticmethod
    def _key(value: Any) -> Any:
        return value if isinstance(value, str) else id(value)

    def get_tools(self, value: Any) -> list[ToolDef]:
        key = self._key(value)
        if key not in self.tools:
            self.tools[key] = load_tools(value) if value is not None else []
        return self.tools[key]

    def get_truth(self, value: Any, tools: list[ToolDef]) -> list:
        key = (self._key(value), id(tools))
        if key not in self.truth:
            self.truth[key] = parse_ground_truth(value, tools)
        return self.truth[key]


def parse_ground_truth(value: Any, tools: Sequence[ToolDef] = ()) -> list:
    """A ground-truth column value as a BFCL possible answer (see the module docstring for accepted forms); raises
    :class:`~funrl_lib.bfcl.checker.GroundTruthError` (a ``ValueError``) for any other shape, whatever the completion."""
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            calls = decode_calls(value, "python", known_names=[t.name for t in tools])
            return possible_answer_from_calls(calls, tools)
    if isinstance(value, list) and all(isinstance(v, Call) for v in value):
        return possible_answer_from_calls(value, tools)
    if not isinstance(value, list) or not all(isinstance(v, dict) and len(v) == 1 for v in value):
        raise GroundTruthError(f"ground_truth must be a BFCL possible-answer list, its JSON, or calls in Python "
                               f"syntax; got {short_repr(value)}")
    for i, expected in enumerate(value):
        (name, params), = expected.items()
        if not isinstance(params, dict) or not all(isinstance(allowed, list) for allowed in params.values()):
            raise GroundTruthError(f"ground_truth call {i} ({short_repr(name)}): each parameter must map to a list of "
                                   f"allowed values; got {short_repr(params)}")
    return value


def _column(kwargs: dict[str, Any], name: str, n: int) -> list:
    values = kwargs.get(name)
    if values is None:
        return [None] * n
    if len(values) != n:
        raise ValueError(f"column {name!r} has {len(values)} values for {n} completions")
    return list(values)


def _log(kwargs: dict[str, Any], name: str, value: float) -> None:
    log_metric = kwargs.get("log_metric")
    if callable(log_metric):
        log_metric(name, value)


# ---------------------------------------------------------------------------------------------------------------
# FunRL's binary reward
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Judgement:
    """One completion judged against a row: ``template_ok`` (the think template is followed), ``answer_ok`` (the
    answer is right: calls that pass the BFCL checker, or no call where none is wanted), ``has_calls``."""

    template_ok: bool
    answer_ok: bool
    has_calls: bool
    checker_error: str | None = None  # the checker could not check these calls (see CheckerError): answer_ok False


def judge_completion(completion: Any, tools: Sequence[ToolDef], truth: list, category: str | None = None, *,
                     fmt: str = "python", prefilled_think: bool = False, strict_abstain: bool = False,
                     underscore_to_dot: bool = False) -> Judgement:
    """The two halves of :func:`make_funrl_binary`'s reward for one completion (``truth``: a parsed possible answer,
    :func:`parse_ground_truth`). The reward is ``template_ok and answer_ok``; ``answer_ok`` alone is the exact-call
    accuracy an evaluation reports."""
    text, structured = completion_text(completion)
    names = [t.name for t in tools]
    parsed = parse_completion(text, fmt, known_names=names, prefilled_think=prefilled_think)
    calls = structured if structured is not None else parsed.calls
    if not truth:
        answer_ok = not calls
        if strict_abstain and answer_ok:
            answer_ok = not any(decodes_to_calls(parsed.answer.strip(), f, known_names=names)
                                for f in ("python", "json", "hermes"))
    elif calls is None:
        answer_ok = False
    else:
        try:
            answer_ok = check_calls(tools, calls, truth, category or infer_category(truth),
                                    underscore_to_dot=underscore_to_dot).valid
        except CheckerError as e:  # where the official checker would raise (a malformed answer met by these calls)
            return Judgement(bool(parsed.template_ok), False, bool(calls), e.official or type(e).__name__)
    return Judgement(bool(parsed.template_ok), bool(answer_ok), bool(calls))


def make_funrl_binary(fmt: str = "python", *, prefilled_think: bool = False, strict_abstain: bool = False,
                      underscore_to_dot: bool = False) -> RewardFunc:
    """FunRL / EGPO's single-criterion 0/1 reward (arXiv 2508.05118 v4 §4.1 and App. D).

    r = 1 if and only if the completion follows the think template (``<think>`` non-empty thought ``</think>``, then a
    non-empty answer; :func:`funrl_lib.calls.split_think`) **and**

    * the ground truth has calls: the answer decodes in ``fmt`` and passes the BFCL checker
      (:func:`funrl_lib.bfcl.checker.check_calls`: names, required/unexpected/optional parameters, types, values);
    * the ground truth has no call: the answer does not decode into a non-empty list of calls (the paper: "the
      output fails AST parsing"). With ``strict_abstain=True`` it must not decode in *any* format (python, json,
      hermes), which closes BFCL's malformed-call-counts-as-refusal loophole for training.

    Otherwise r = 0. No partial credit: the paper found a separate format reward hurts ("reward redundancy").
    """

    def funrl_binary(prompts: Any = None, completions: Sequence[Any] = (), **kwargs: Any) -> list[float]:
        n = len(completions)
        tools_col, truth_col = _column(kwargs, "tools", n), _column(kwargs, "ground_truth", n)
        category_col = _column(kwargs, "category", n)
        cache = _RowCache()
        rewards, template_ok, decoded, unchecked = [], 0, 0, 0
        for completion, tools_value, truth_value, category in zip(completions, tools_col, truth_col, category_col):
            tools = cache.get_tools(tools_value)
            judged = judge_completion(completion, tools, cache.get_truth(truth_value, tools), category, fmt=fmt,
                                      prefilled_think=prefilled_think, strict_abstain=strict_abstain,
                                      underscore_to_dot=underscore_to_dot)
            template_ok += judged.template_ok
            decoded += judged.has_calls
            unchecked += judged.checker_error is not None
            rewards.append(1.0 if judged.template_ok and judged.answer_ok else 0.0)
        if n:
            _log(kwargs, "funrl/think_template_ok", template_ok / n)
            _log(kwargs, "funrl/answer_has_calls", decoded / n)
            if unchecked:  # a malformed ground truth met by these completions (rewarded 0)
                _log(kwargs, "funrl/checker_errors", unchecked / n)
        return rewards

    funrl_binary.__name__ = "funrl_binary"
    funrl_binary.__qualname__ = "funrl_binary"
    funrl_binary.__doc__ = make_funrl_binary.__doc__
    return funrl_binary



# ---------------------------------------------------------------------------------------------------------------
# ToolRL's graded reward
# ---------------------------------------------------------------------------------------------------------------

def match_score(a: Sequence[Any], b: Sequence[Any]) -> float:
    """ToolRL's ``match_score``: 1 if the lists are equal, 0 if either is empty, else the multiset Jaccard
    |A ∩ B| / (|A| + |B| − |A ∩ B|) (element frequency counts, order ignored)."""
    if list(a) == list(b):
        return 1.0
    if not a or not b:
        return 0.0
    ca, cb = Counter(a), Counter(b)
    inter = sum(min(ca[k], cb[k]) for k in ca.keys() & cb.keys())
    union = len(a) + len(b) - inter
    return inter / union if union else 0.0


def toolrl_correctness(truth: list, calls: Sequence[Call], *, r_max: float = 3.0, r_min: float = -3.0) -> float:
    """ToolRL's correctness reward R_correct ∈ [r_min, r_max] (arXiv 2504.13958 §3.3; ``rlla.py``
    ``compute_tool_call_reward``), on BFCL possible answers.

    S = match_score(GT names, predicted names) + Σ_j best_j, where for ground-truth call j, best_j is the largest
    ``match_score(K_j, keys of p) + #{k ∈ K_j : p[k] allowed}`` over predicted calls p with the same name not yet
    used (greedy, in ground-truth order; a candidate must score above 0). K_j = the parameters call j must give (whose
    allowed values do not include ``""``); parameters the ground truth marks optional are left out of p's keys. A
    value is allowed when it equals one of the listed alternatives. S_max = 1 + Σ_j (1 + |K_j|), and
    R_correct = (r_max − r_min) · S / S_max + r_min.
    """
    gt_names = [list(expected)[0] for expected in truth]
    score = match_score(gt_names, [c.name for c in calls])
    s_max = 1.0
    used: set[int] = set()
    for expected in truth:
        (name, params), = expected.items()
        must = [k for k, allowed in params.items() if "" not in allowed]
        optional = {k for k, allowed in params.items() if "" in allowed}
        s_max += 1.0 + len(must)
        best, best_index = 0.0, -1
        for i, call in enumerate(calls):
            if i in used or call.name != name:
                continue
            keys = [k for k in call.arguments if k not in optional]
            values = sum(1.0 for k in must if k in call.arguments and _allowed(call.arguments[k], params[k]))
            total = match_score(must, keys) + values
            if total > best:
                best, best_index = total, i
        if best_index >= 0:
            used.add(best_index)
            score += best
    return (r_max - r_min) * score / s_max + r_min


def _allowed(value: Any, allowed: Any) -> bool:
    """``value in allowed``, False where that comparison raises (a malformed answer: allowed values in a string)."""
    try:
        return value in allowed
    except (TypeError, ValueError, RecursionError):
        return False


def make_toolrl_graded(fmt: str = "python", *, prefilled_think: bool = False, r_max: float = 3.0,
                       r_min: float = -3.0, format_reward: float = 1.0) -> RewardFunc:
    """ToolRL's reward R = R_format + R_correct ∈ [r_min, format_reward + r_max] = [−3, 4] by default
    (arXiv 2504.13958 §3.3, ``qiancheng0/ToolRL`` ``verl/utils/reward_score/rlla.py``), adapted to this project's
    output format.

    * R_format = ``format_reward`` if the think template is followed and the answer has the right shape (calls that
      decode in ``fmt`` when the ground truth has calls; no decodable call when it has none), else 0. ToolRL checks
      ``<think>…</think>\\n<tool_call>…</tool_call>`` / ``<response>`` tags instead.
    * R_correct = :func:`toolrl_correctness` when the ground truth has calls (r_min if the answer does not decode, as
      in ToolRL), 0 when it has none (as in ToolRL's code).
    """

    def toolrl_graded(prompts: Any = None, completions: Sequence[Any] = (), **kwargs: Any) -> list[float]:
        n = len(completions)
        tools_col, truth_col = _column(kwargs, "tools", n), _column(kwargs, "ground_truth", n)
        cache = _RowCache()
        rewards = []
        for completion, tools_value, truth_value in zip(completions, tools_col, truth_col):
            text, structured = completion_text(completion)
            tools = cache.get_tools(tools_value)
            truth = cache.get_truth(truth_value, tools)
            parsed = parse_completion(text, fmt, known_names=[t.name for t in tools], prefilled_think=prefilled_think)
            calls = structured if structured is not None else parsed.calls
            shape_ok = bool(calls) if truth else not calls
            r_format = format_reward if (parsed.template_ok and shape_ok) else 0.0
            if not truth:
                r_correct = 0.0
            elif calls is None:
                r_correct = r_min
            else:
                r_correct = toolrl_correctness(truth, calls, r_max=r_max, r_min=r_min)
            rewards.append(r_format + r_correct)
        return rewards

    toolrl_graded.__name__ = "toolrl_graded"
    toolrl_graded.__qualname__ = "toolrl_graded"
    toolrl_graded.__doc__ = make_toolrl_graded.__doc__
    return toolrl_graded


funrl_binary = make_funrl_binary()
toolrl_graded = make_toolrl_graded()
