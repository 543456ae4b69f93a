"""FunRL's two-stage data filter (arXiv 2508.05118v4 §5.1): an LLM evaluates each reference answer and regenerates
wrong ones, then an AST stage drops references whose call/no-call shape contradicts the task. Offline, stage 1 is
ToolACE's dual-layer verification (ToolACE §2.3, :func:`.verdicts.verify_sample`)."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

from ...calls import DecodeError, decode_calls
from ..sample import Message, Sample, render_toolace_calls
from .common import _short
from .context import CALL_TYPES, VerifyContext
from .judges import _ask_judge, render_for_judge
from .verdicts import verify_sample


FUNRL_PROMPTS: dict[str, str] = {
    "judge": (
        "You evaluate the reference answers of a function-calling dataset (FunRL's data filter). Given the "
        "functions, the dialog so far and the reference answer for the next assistant turn, decide whether the "
        "reference is correct: the right function(s) with the right arguments when a function fits, or a plain-text "
        "reply when no function fits (say so) or a required parameter is missing (ask for it). Also say whether the "
        "turn needs a function call at all.\n"
        'Reply with one JSON object and nothing else: {"pass": true or false, "needs_call": true or false, '
        '"reason": "<one sentence>"}'),
    "regenerate": (
        "You are an expert in composing functions. Write the correct next assistant turn for the dialog below. If a "
        "function fits, reply with only the call list in the format [func_name1(params_name1=params_value1, "
        "params_name2=params_value2...), func_name2(params)]; if none fits, or a required parameter is missing, "
        "reply in plain text saying so or asking for it. No other text."),
}


@dataclass
class FilterOutcome:
    """One sample through FunRL's filter: ``kept``, the ``stage`` that dropped it ("llm" / "ast" / "verify", or
    ``None``), the ``reasons``, ``quarantined`` when a judge or regeneration failed for good, and the ``sample``
    (with any corrected answer; ``sample.meta["corrected"]`` lists the corrections)."""

    id: Any
    kept: bool
    stage: str | None = None
    reasons: list[str] = field(default_factory=list)
    quarantined: str | None = None
    sample: Sample | None = field(default=None, repr=False)


def _reference_text(m: Message, names: Sequence[str]) -> str:
    if m.calls is not None:
        try:
            return render_toolace_calls(m.calls)
        except Exception:
            return json.dumps([{"name": c.name, "arguments": c.arguments} for c in m.calls], ensure_ascii=False)
    return m.raw if m.raw is not None else m.content


def _odd_names(sample: Sample) -> list[str]:
    return [n for n in sample.tool_names() if isinstance(n, str) and n]


def _decodes(text: str, names: Sequence[str]) -> bool:
    """Does the reference text decode as a non-empty call list (BFCL's Python syntax, tool names with spaces
    allowed)? FunRL's stage 2 is this AST test."""
    try:
        return bool(decode_calls(text.strip(), "python", known_names=names))
    except DecodeError:
        return False


def _answer_from_text(text: str, names: Sequence[str]) -> Message:
    """A regenerated answer as a turn: calls when it decodes as a Python-syntax or JSON call list, else text."""
    stripped = (text or "").strip()
    for fmt in ("python", "json"):
        if fmt == "python" and not stripped.startswith("["):
            continue
        try:
            calls = decode_calls(stripped, fmt, known_names=names)
        except DecodeError:
            continue
        if calls:
            return Message("assistant", calls=calls)
    return Message("assistant", stripped)


def _expects_call(sample: Sample, turn: int, first: bool, needs_call: bool | None) -> bool | None:
    """Whether decision turn ``turn`` should be a call: the judge's word when there is one; else the sample type
    (irrelevance: never; clarify: not the first answer, then yes; a call type: the first answer); else unknown."""
    if needs_call is not None:
        return needs_call
    if sample.type == "irrelevance":
        return False
    if sample.type == "clarify":
        return not first
    if sample.type in CALL_TYPES and first:
        return True
    return None


def _ast_stage(sample: Sample, needs: Mapping[int, bool | None]) -> list[str]:
    """FunRL stage 2: (i) no call expected, yet the reference decodes as one; (ii) a call expected, yet the
    reference is text that does not decode."""
    names = _odd_names(sample)
    out = []
    for n, turn in enumerate(sample.decision_turns()):
        m = sample.messages[turn]
        expect = _expects_call(sample, turn, n == 0, needs.get(turn))
        if expect is None and m.is_call:
            expect = True  # it was written as a call (a raw one that did not decode included)
        text = _reference_text(m, names)
        decodes = bool(m.calls) if m.calls is not None else _decodes(text, names)
        if expect is False and decodes:
            out.append(f"turn {turn}: no call is expected, yet the reference decodes as a call: {_short(text, 80)}")
        elif expect is True and not decodes:
            out.append(f"turn {turn}: a call is expected, yet the reference does not decode as one: "
                       f"{_short(text, 80)}")
    return out


async def _funrl_one(sample: Sample, backend: Any, max_regenerations: int, ctx: VerifyContext) -> FilterOutcome:
    names = _odd_names(sample)
    s = copy.deepcopy(sample)
    needs: dict[int, bool | None] = {}
    corrections = []
    for turn in list(s.decision_turns()):
        if turn >= len(s.messages):
            break
        attempts = 0
        while True:
            ref = _reference_text(s.messages[turn], names)
            user = render_for_judge(s, turn) + f"\n\nReference answer for turn {turn}:\n{ref}"
            reply = await _ask_judge(backend, FUNRL_PROMPTS["judge"], user, ctx.judge_retries)
            if not isinstance(reply, dict):
                return FilterOutcome(sample.id, False, "llm", [], f"judge: {reply.reason}", s)
            needs[turn] = reply.get("needs_call") if isinstance(reply.get("needs_call"), bool) else None
            if reply["pass"]:
                break
            if attempts >= max_regenerations:
                return FilterOutcome(sample.id, False, "llm", [
                    f"turn {turn}: judged wrong after {attempts} regeneration(s): {reply['reason'] or 'no reason'}"],
                    None, s)
            attempts += 1
            new = await _regenerate(backend, s, turn, reply["reason"], attempts)
            if isinstance(new, _Failure):
                return FilterOutcome(sample.id, False, "llm", [], f"regeneration: {new}", s)
            before = ref
            s.messages[turn] = _answer_from_text(new, names)
            s.messages[turn].think = None
            if turn + 1 < len(s.messages):
                # later turns answered the old reference; the corrected answer becomes the sample's last turn
                del s.messages[turn + 1:]
            corrections.append({"turn": turn, "attempt": attempts, "before": before,
                                "after": _reference_text(s.messages[turn], names), "reason": reply["reason"]})
    if corrections:
        last = {}
        for c in corrections:
            last[c["turn"]] = c
        s.meta = {**s.meta, "corrected": list(last.values())}
        # a regenerated answer is new data: it must pass the rule layer like any other
        rules_only = replace(ctx, backend=None, rules=[r.name for r in ctx.selected("rule")])
        v = verify_sample(s, rules_only)
        if not v.kept:
            return FilterOutcome(sample.id, False, "llm", [f"corrected answer fails {rule}: {r}"
                                                           for rule, rs in v.failed.items() for r in rs], None, s)
    problems = _ast_stage(s, needs)
    if problems:
        return FilterOutcome(sample.id, False, "ast", problems, None, s)
    return FilterOutcome(sample.id, True, None, [], None, s)


async def _regenerate(backend: Any, sample: Sample, turn: int, reason: str, attempt: int) -> str:
    """The regenerated answer's text, or a :class:`_Failure` (the backend's error) when there is none. Sampled at
    temperature 0.7 with ``attempt`` in the request, so each regeneration is a new answer (and a new cache key)."""
    from ...backends import ChatRequest

    user = (render_for_judge(sample, turn) + f"\n\nA previous answer for turn {turn} was judged wrong: {reason}\n"
            f"Write the correct assistant turn {turn}.")
    request = ChatRequest(messages=[{"role": "system", "content": FUNRL_PROMPTS["regenerate"]},
                                    {"role": "user", "content": user}],
                          stage="verify", temperature=0.7, attempt=attempt - 1)
    [result] = await backend.achat([request])
    if result.error is not None or result.text is None:
        return _Failure(f"backend error: {result.error}")
    return result.text


class _Failure(str):
    """A regeneration that failed at the backend (distinguishes an error from a reply)."""


async def afunrl_filter(samples: Sequence[Sample], backend: Any = None, *, max_regenerations: int = 3,
                        ctx: VerifyContext | None = None) -> list[FilterOutcome]:
    """FunRL's filter (arXiv 2508.05118v4 §5.1) over a batch, all samples concurrently.

    Stage 1, LLM evaluate-and-correct: for each decision turn a judge sees (functions, dialog so far, reference
    answer); a reference judged wrong is regenerated by the LLM (decoded with :func:`decode_calls`, Python syntax
    then JSON, else kept as text) and judged again; after ``max_regenerations`` regenerations still judged wrong the
    sample is dropped. A corrected turn that was not the last one ends the sample (later turns answered the old
    reference); ``meta["corrected"]`` records each correction, and a corrected sample must pass the rule layer
    again. Stage 2, AST: drop when no call is expected
    (irrelevance/clarify, or the judge says no function applies) yet the reference decodes as a call, or a call is
    expected yet the reference is text that does not decode.

    With no backend or the programmatic one, stage 1 is the rule and model layers (:func:`verify_sample`; nothing
    to correct) and stage 2 runs as is, expecting calls from the sample type.
    """
    ctx = ctx or VerifyContext(backend=backend)
    if backend is None or getattr(backend, "is_programmatic", False):
        out = []
        for s in samples:
            v = verify_sample(s, replace(ctx, backend=None) if ctx.llm else ctx)
            if not v.kept:
                reasons = [f"{rule}: {r}" for rule, rs in v.failed.items() for r in rs]
                out.append(FilterOutcome(s.id, False, "verify", reasons, v.quarantined, s))
                continue
            problems = _ast_stage(s, {})
            out.append(FilterOutcome(s.id, not problems, "ast" if problems else None, problems, None, s))
        return out
    import asyncio

    return list(await asyncio.gather(*(_funrl_one(s, backend, max_regenerations, ctx) for s in samples)))


def funrl_filter(samples: Sequence[Sample], backend: Any = None, max_regenerations: int = 3, *,
                 ctx: VerifyContext | None = None) -> list[FilterOutcome]:
    """Blocking :func:`afunrl_filter` (works inside Jupyter's running loop too)."""
    from ...backends import run_sync

    return run_sync(afunrl_filter(samples, backend, max_regenerations=max_regenerations, ctx=ctx))
