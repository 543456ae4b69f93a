"""The model layer offline: ToolACE's three expert agents (ToolACE §2.3 model checker: hallucination detection,
consistency validation, tool-response check) as deterministic rules, run on the samples that passed the rule layer.
With an LLM backend the same three questions go to judges instead (:mod:`.judges`)."""

from __future__ import annotations

import re
from typing import Any, Iterable, Iterator

from ...io import leaf_values
from ...tools import Schema
from ..sample import Sample
from .common import _dedupe, _is_num, _short
from .context import VerifyContext, _rule
from .execution import _pool_api
from .grounding import _Grounding, _ungrounded
from .lexical import _CJK
from .view import _View
from .words import _content_words, _has_number, _numbers, _overlap


@_rule("model")
def rule_hallucinated_values(sample: Sample, ctx: VerifyContext) -> list[str]:
    """ToolACE's hallucination expert, deterministically: every argument value must come from the context the call
    was made in: the user turns so far, the system prompt (without its tool list), earlier assistant texts and
    earlier tool outputs.

    * strings: normalised containment (case, whitespace, punctuation, ``_``/``-`` ignored), else every word present
      (singular/plural forms); composed free text of 6+ words needs half its words; a ``YYYY-MM-DD`` date is
      grounded by the day written in any usual form (:func:`_date_grounded`).
    * numbers by value: ``3 == 3.0 == "3"``; "1,000" is 1000; "5%" also grounds 0.05, "10k" 10000; written-out
      numbers up to twenty, the tens, hundred, thousand, dozen (and "twice", "a couple", ...) count; the sign is
      ignored ("5 degrees below zero" grounds -5).
    * booleans and ``null`` are exempt (a flag is a decision, rarely a word the user says); a value equal to the
      parameter's default is allowed; an enum value is grounded by word overlap (one word of 3+ letters).
    * arrays and dicts element by element.
    """
    view = ctx.view(sample)
    out = []
    g = _Grounding([view.system_context()])
    last_call = view.last_call_turn()
    for i, m in enumerate(sample.messages[:last_call + 1]):  # turns after the last call ground nothing
        if m.calls:
            for k, call in enumerate(m.calls):
                tool = view.defs.get(call.name)
                props = tool.parameters.properties if tool is not None else {}
                bad: list[str] = []
                for name, value in call.arguments.items():
                    _ungrounded(value, props.get(name), g, name, bad)
                if bad:
                    out.append(f"turn {i} call {k} '{call.name}': value(s) not found in the user turns, system prompt "
                               f"or earlier tool outputs: {', '.join(bad)}")
        if m.role == "user" or (m.role == "assistant" and m.calls is None):
            g.add(m.content)
        elif m.role == "tool":
            g.add(view.output_text(i))
    return out


@_rule("model")
def rule_task_consistency(sample: Sample, ctx: VerifyContext) -> list[str]:
    """ToolACE's consistency expert, deterministically: does each answer fit the task?

    * A call's tool must relate to the request: some content word of its name, description or parameters
      (camelCase split, stop words dropped, compared on 4-letter stems) occurs in the user turns so far or an
      earlier tool output.
      Skipped when the request is CJK and the definition is not (no lexical overlap across languages).
    * An ``irrelevance`` sample calls nothing. A ``clarify`` sample answers its first request with a question that
      names a missing parameter: one whose value the user gives only after the question (when a later call shows
      it), else any required parameter; named by a word of its name or description.
    * A text answer right after a tool turn (a summary) mentions something of that output: one of its words
      (3+ letters) or numbers.
    """
    out = []
    msgs = sample.messages
    view = ctx.view(sample)
    if sample.type == "irrelevance":
        for i, m in enumerate(msgs):
            if m.is_call:
                names = ", ".join(c.name for c in m.calls or ()) or "?"
                out.append(f"turn {i}: an irrelevance sample (no tool fits the request) calls {names}")
    context: list[str] = []
    stems: set[str] = set()  # 4-letter stems of the content words of the context so far
    folded = 0  # context[:folded] is in stems (folded only when a call needs it)
    cjk_request = False  # a CJK character in context[:folded]
    last_call = view.last_call_turn()
    lex_of = view.lex_by_name()
    for i, m in enumerate(msgs):
        if m.calls:
            for text in context[folded:]:
                stems.update(w[:4] for w in _content_words(text))  # w[:4] is _stem(w)
                cjk_request = cjk_request or (not text.isascii() and bool(_CJK.search(text)))
            folded = len(context)
            request = " ".join(context) if cjk_request else ""
            for k, call in enumerate(m.calls):
                if call.name not in view.defs:
                    continue
                lex = lex_of[call.name]
                if cjk_request and not _CJK.search(lex.text):
                    continue
                if stems.isdisjoint(lex.stems) and not (cjk_request and any(
                        c in request for c in _CJK.findall(lex.text))):
                    out.append(f"turn {i} call {k} '{call.name}': nothing in the tool's name or description relates "
                               "to the request")
        if m.role == "assistant" and m.calls is None and m.raw is None and i > 0 and msgs[i - 1].role == "tool":
            prev = msgs[i - 1]
            if prev.results and not _mentions_output(m.content or "", _result_values(prev.results)):
                    out.append(f"turn {i} (assistant): the summary mentions nothing from the tool output of turn "
                               f"{i - 1}")
        if i < last_call:  # the context of a later call
            context.extend([m.content] if m.role == "user" else [view.output_text(i)] if m.role == "tool" else
                           [c.name for c in m.calls or ()])
    if sample.type == "clarify":
        out.extend(_clarify_problems(sample, view))
    return out


def _mentions_output(text: str, values: Iterable[Any]) -> bool:
    """Does a summary mention something of a tool output: one of its string values, one of its numbers, or a
    content word of its strings? (Cheapest test first, reading ``values`` only as far as it needs: a summary
    usually quotes the first ones; an output with nothing to mention passes.)"""
    low = text.lower()
    read = []
    for v in values:
        if isinstance(v, str) and len(v) >= 2 and v.lower() in low:
            return True
        read.append(v)
    values = read
    nums = {float(v) for v in values if _is_num(v)}
    if nums:
        said = _numbers(text)
        if any(_has_number(said, x) for x in nums):
            return True
    words = _content_words(" ".join(v for v in values if isinstance(v, str)))
    if words and _overlap(words, _content_words(text)):
        return True
    return not words and not nums


def _result_values(value: Any) -> Iterator[Any]:
    """Leaf values of tool results (the ``results`` of each item, not the item's ``name``), booleans left out, in
    order, as they are read."""
    return (v for item in value for v in leaf_values(item.get("results") if isinstance(item, dict) else item)
            if not isinstance(v, bool))


def _clarify_problems(sample: Sample, view: _View) -> list[str]:
    msgs = sample.messages
    decisions = sample.decision_turns()
    if not decisions:
        return ["a clarify sample without an assistant answer"]
    q = decisions[0]
    m = msgs[q]
    if m.is_call:
        return [f"turn {q}: a clarify sample must first ask for the missing parameter, but it calls "
                f"{', '.join(c.name for c in m.calls or ()) or 'a tool'}"]
    question = _content_words(m.content or "")
    before = _Grounding([view.system_context()] + [x.content for x in msgs[:q] if x.role == "user"])
    candidates: list[tuple[str, Schema | None]] = []
    for later in msgs[q + 1:]:
        for call in later.calls or ():
            tool = view.defs.get(call.name)
            props = tool.parameters.properties if tool is not None else {}
            for name, value in call.arguments.items():
                bad: list[str] = []
                _ungrounded(value, props.get(name), before, name, bad)
                if bad:
                    candidates.append((name, props.get(name)))
        if later.calls:
            break
    if not candidates:
        for tool in view.defs.values():
            candidates += [(p, tool.param(p)) for p in tool.required]
    if not candidates:
        return []
    for name, schema in candidates:
        words = _content_words(name) | _content_words((schema.description or "") if schema is not None else "")
        if _overlap(words, question) or re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", m.content or ""):
            return []  # the question shares words with the parameter, or names it literally ("show_id")
    names = ", ".join(dict.fromkeys(n for n, _ in candidates))
    return [f"turn {q}: the clarifying question names none of the missing parameters ({names})"]


_ERROR_KEYS = ("error", "errors", "error_message", "errorMessage", "error_msg", "exception", "err")
# keys an error envelope carries besides its error; a result with any other key is data (a validation API's
# "errors" list, a payment's "status": "failed"), not a failed call
_ENVELOPE_KEYS = frozenset(_ERROR_KEYS + ("message", "msg", "code", "error_code", "errorCode", "status",
                                           "status_code", "statusCode", "success", "details", "detail", "type",
                                           "reason", "request_id"))


def _error_shape(results: Any) -> str | None:
    """Why ``results`` is an error envelope rather than a result: an "Error: ..." text, or a dict made only of
    envelope keys with an error set, a failed ``status`` or ``success: false``."""
    if isinstance(results, str):
        head = results.strip()[:40].lower()
        if head.startswith(("error", "exception", "traceback", "failed")):
            return f"an error text {_short(results)}"
        return None
    if isinstance(results, dict) and results and set(results) <= _ENVELOPE_KEYS:
        for key in _ERROR_KEYS:
            if results.get(key):
                return f"an error result ({key}: {_short(results[key])})"
        status = results.get("status")
        if isinstance(status, str) and status.lower() in ("error", "failed", "failure", "fail"):
            return f"an error result (status: {status!r})"
        if results.get("success") is False:
            return "an error result (success: false)"
    return None


@_rule("model")
def rule_tool_response_consistency(sample: Sample, ctx: VerifyContext) -> list[str]:
    """ToolACE's tool-response expert, deterministically: each simulated result answers the call it follows (the
    tool turn holds results for the called names) and is not empty. Where the pool knows the API (same definition),
    the result must conform to its return schema (``api_pool.result_issues``: types, enums, missing or unknown
    fields). Otherwise it must not be an error envelope (:func:`_error_shape`): a tool agent that answers a valid
    call with an error simulated the API wrongly."""
    out = []
    view = ctx.view(sample)
    msgs = sample.messages
    for i in range(1, len(msgs)):
        m, prev = msgs[i], msgs[i - 1]
        if m.role != "tool" or m.results is None:
            continue
        called = [c.name for c in prev.calls or ()]
        for k, item in enumerate(m.results):
            if not isinstance(item, dict):
                continue
            name = item.get("name")
            if called and name not in called:
                out.append(f"turn {i} (tool) result {k}: a result for {name!r}, which turn {i - 1} does not call")
            res = item.get("results")
            if res is None or res == {} or res == [] or res == "":
                out.append(f"turn {i} (tool) result {k} {name!r}: empty result")
                continue
            api = _pool_api(ctx, view, name) if isinstance(name, str) else None
            if api is not None and isinstance(getattr(api, "returns", None), dict) and api.returns:
                # the API's return schema is known: it decides (an "errors" field it declares is data)
                from ..api_pool import result_issues

                out.extend(f"turn {i} (tool) result {k} {name!r}: {r} (return schema)"
                           for r in result_issues(api, res))
                continue
            err = _error_shape(res)
            if err:
                out.append(f"turn {i} (tool) result {k} {name!r}: {err}")
    return _dedupe(out)
