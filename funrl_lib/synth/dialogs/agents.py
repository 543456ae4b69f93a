"""The programmatic user, assistant and tool agents of ToolACE's multi-agent dialog generation (arXiv 2409.00920v2
§2.2): the **user** agent draws argument values and phrases requests with
:func:`~funrl_lib.synth.api_pool.phrase_request` (every value verbatim) in a style; the **tool** agent is
:func:`~funrl_lib.synth.api_pool.execute` (real, deterministic results matching the API's return schema); the
**assistant** agent writes ToolACE v1's *formalised thinking* (need a tool? which one and why? each required
parameter and where its value comes from? optional ones?) into ``Message.think``, then its calls, a summary quoting
values from the results, or a refusal.
"""

from __future__ import annotations

import random

from ...calls import Call
from ..api_pool import ExecutionError, execute, phrase_request, sample_arguments, validate_arguments
from ..api_pool.phrasing import api_verb_phrase, phrase_action, phrase_mentions
from ..api_pool.verbs import VerbPhrase
from ..sample import Message
from .pool_index import _PoolIndex
from .summaries import refusal_text, summary_text
from .text import _CONTEXT, _DESCRIPTIVE, _POLITE, _RETURNS, _facts, _first_sentence, _lit


class _UserAgent:
    """What the user asks for: argument values, the request for them, and the user's voice around it."""

    def __init__(self, ix: _PoolIndex):
        self.ix = ix

    def args(self, i: int, rng: random.Random, level: float) -> dict:
        return sample_arguments(self.ix.apis[i], rng, optional=0.3 + 0.4 * level)

    def request(self, i: int, args: dict, rng: random.Random) -> str:
        """A whole request: "Could you book a flight for passenger Jamal Wright?"."""
        return phrase_request(self.ix.apis[i], args, rng)

    def action(self, i: int, args: dict, rng: random.Random) -> str:
        """The call as a clause to join with others: "book a flight for passenger Jamal Wright"."""
        return phrase_action(self.ix.apis[i], args, rng)

    def mentions(self, i: int, args: dict, rng: random.Random) -> str:
        """The call's values alone, for "do the same {mentions}": "for passenger Jamal Wright"."""
        return phrase_mentions(self.ix.apis[i], args, rng)

    def styled(self, text: str, apis: int | list[int], style: str, rng: random.Random) -> str:
        """The user's voice around a request: ``descriptive`` restates what the tools do (the request then shares
        the descriptions' words: low dissimilarity, an easier dialog), ``terse`` adds nothing."""
        apis = [apis] if isinstance(apis, int) else apis
        i = apis[0]
        if style == "polite":
            return rng.choice(_POLITE).replace("{t}", text)
        if style == "context":
            topic = (self.ix.sub[i][1] or self.ix.apis[i].domain).lower()
            return rng.choice(_CONTEXT).replace("{topic}", topic).replace("{t}", text)
        if style == "descriptive":
            d = " ".join(dict.fromkeys(self.restate(j) for j in apis))
            return rng.choice(_DESCRIPTIVE).replace("{d}", d).replace("{t}", text)
        return text

    def restate(self, i: int) -> str:
        """What the API does in the user's words: the description's first sentence, and the returned fields it
        names ("Returns date, title and image URL." -> "I'd like to get back the date, title and image URL.")."""
        desc = self.ix.apis[i].tool.description or self.ix.purpose[i]
        out = _first_sentence(desc)
        m = _RETURNS.search(desc)
        if m:
            out += f" I'd like to get back the {m.group(1).rstrip(' ,.')}."
        return out


class _ToolAgent:
    """Runs the calls on the pool's executors: a rejected call gives ``None``, not an exception."""

    def __init__(self, ix: _PoolIndex):
        self.ix = ix

    def execute(self, i: int, args: dict) -> dict | None:
        try:
            return execute(self.ix.apis[i], args)
        except ExecutionError:
            return None

    def valid(self, i: int, args: dict) -> bool:
        try:
            validate_arguments(self.ix.apis[i], args)
        except ExecutionError:
            return False
        return True

    def run_calls(self, calls: list[tuple[int, dict]]) -> list[dict] | None:
        results = []
        for i, args in calls:
            r = self.execute(i, args)
            if r is None:
                return None
            results.append(r)
        return results

    def turn(self, calls: list[tuple[int, dict]], results: list[dict]) -> Message:
        return Message("tool", results=[{"name": self.ix.names[i], "results": r} for (i, _), r in zip(calls, results)])


class _AssistantAgent:
    """The assistant's turns around the calls: thinking and calls, summaries of the results, refusals."""

    def __init__(self, ix: _PoolIndex):
        self.ix = ix

    def think_calls(self, calls: list[tuple[int, dict]], sources: dict[tuple[int, str], str] | None = None) -> str:
        """ToolACE v1 formalised thinking for a call turn: need a tool -> which and why -> required parameters and
        the source of each value -> optional parameters."""
        ix = self.ix
        sources = sources or {}
        lines = ["Need a tool? Yes" + (f": {len(calls)} calls in one turn." if len(calls) > 1 else ".")]
        for n, (i, args) in enumerate(calls):
            req = [r for r in (ix.params[i].get("required") or []) if isinstance(r, str)]
            r = [f"{p}={_lit(args[p])} ({sources.get((n, p), 'from the user')})" for p in req if p in args]
            o = [f"{p}={_lit(v)} ({sources.get((n, p), 'from the user')})" for p, v in args.items() if p not in req]
            head = f"Call {n + 1}: {ix.names[i]}" if len(calls) > 1 else f"Tool: {ix.names[i]}"
            lines.append(f"{head}, because the user wants to {ix.purpose[i]}. Required: "
                         f"{', '.join(r) if r else 'none'}. Optional: {', '.join(o) if o else 'none needed'}.")
        return " ".join(lines)

    def call_turn(self, calls: list[tuple[int, dict]], sources: dict | None = None) -> Message:
        return Message("assistant", think=self.think_calls(calls, sources),
                       calls=[Call(self.ix.names[i], args) for i, args in calls])

    def vp(self, i: int) -> VerbPhrase:
        return api_verb_phrase(self.ix.apis[i])

    def summary(self, calls: list[tuple[int, dict]], results: list[dict], rng: random.Random) -> Message:
        """The final answer: a sentence per call stating its output's values (:func:`.summaries.summary_text`)."""
        quoted = [f for res in results for f in _facts(res)]
        think = (f"Need a tool? No, the results are in. Summarise them for the user: "
                 f"{'; '.join(quoted[:4]) if quoted else 'nothing to report'}.")
        return Message("assistant", summary_text([self.vp(i) for i, _ in calls], results, rng), think=think)

    def refusal(self, t: int, cands: list[int], rng: random.Random) -> Message:
        ix = self.ix
        purpose = ix.purpose[t]
        text = refusal_text(self.vp(t), [self.vp(j) for j in cands], rng)
        listed = ", ".join(f"{ix.names[j]} ({ix.purpose[j]})" for j in cands)
        think = (f"Need a tool? The user wants to {purpose}. Candidates: {listed}. None of them can do that, so no "
                 f"call; say so.")
        return Message("assistant", text, think=think)


class _Agents:
    """The three agents over one indexed pool, as the dialog types and the builder use them."""

    def __init__(self, ix: _PoolIndex):
        self.ix = ix
        self.user = _UserAgent(ix)
        self.tool = _ToolAgent(ix)
        self.assistant = _AssistantAgent(ix)
