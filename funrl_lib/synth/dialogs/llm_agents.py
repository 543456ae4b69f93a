"""The LLM agents of ToolACE's multi-agent dialog generation (arXiv 2409.00920v2 §2.2), with ``backend=`` a
non-programmatic :mod:`~funrl_lib.backends` backend. The programmatic dialog is the *plan* (type, candidates,
intents, argument values); the agents are prompts (:data:`~.llm_prompts.DIALOG_PROMPTS`): the user agent rewrites
each user turn (values kept verbatim), the assistant agent decides every assistant turn on its own and is asked
``votes`` (3) times; the turn is kept only when all call parts agree (ToolACE's consistency vote), else the sample
is quarantined with the reason; the tool agent simulates results for APIs without an executor (``impl``), real
execution is used otherwise. Malformed replies are re-asked (``chat_json``) then quarantined.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Callable

from ...calls import Call
from ...prompts import tools_json
from ..api_pool import ApiRecord, ExecutionError, execute, mentioned_values, validate_arguments
from ..sample import Message, Sample
from .builder import _Builder
from .complexity import complexity
from .llm_prompts import (DIALOG_PROMPTS, TYPE_DESCRIPTIONS, _assistant_chat, _Decision, _decision_from,
                          _message_from, _prompted, _result_from, _transcript)
from .mix import _stable_int
from .structure import structure_problem


class _Quarantine(Exception):
    def __init__(self, reason: str, text: str | None = None):
        super().__init__(reason)
        self.reason, self.text = reason, text


def _backends() -> Any:
    from ... import backends
    return backends


class _LLMDialogs:
    """Prompted agents over the programmatic plan; one coroutine per sample."""

    def __init__(self, builder: _Builder, backend: Any, seed: int, votes: int, retries: int = 2):
        self.b, self.backend, self.seed, self.votes, self.retries = builder, backend, seed, votes, retries
        self.bk = _backends()

    def _request(self, messages: list[dict], index: int, turn: int, vote: int = 0, temperature: float = 0.7) -> Any:
        return self.bk.ChatRequest(messages, stage="dialogs", temperature=temperature,
                                   seed=_stable_int(self.seed, index, turn, vote), attempt=vote * (self.retries + 1),
                                   json_mode=True)

    async def _ask(self, req: Any, read: Callable[[Any], Any], what: str) -> Any:
        """Ask ``req``; ``read`` turns the JSON in the reply into the answer (a ``ValueError`` asks again, up to
        ``retries`` times; then the sample is quarantined)."""
        def parse(text: str) -> Any:
            return read(self.bk.extract_json(text))

        value = await self.bk.chat_json(self.backend, req, parse, retries=self.retries)
        if isinstance(value, self.bk.Quarantined):
            raise _Quarantine(f"{what}: {value.reason}", value.last_text)
        return value

    async def sample(self, index: int, typ: str, band: str) -> Sample:
        plan = self.b.make(index, typ, band)
        ix = self.b.ix
        cand = [ix.by_id[a] for a in plan.meta["api_ids"]]
        by_name = {ix.names[j]: j for j in cand}
        odd = [n for n in by_name if not n.isidentifier()]
        plan_values = [v for c in plan.calls() for v in mentioned_values(c.arguments)]
        style = plan.meta.get("style", "terse")
        tools_text = tools_json(plan.tools)
        convo: list[Message] = []
        for k, pm in enumerate(plan.messages):
            if pm.role == "user":
                keep = list(dict.fromkeys(v for v in plan_values if v and v in pm.content))
                convo.append(Message("user", await self._user(index, k, typ, style, tools_text, convo, pm.content,
                                                              keep)))
            elif pm.role == "assistant":
                d = await self._assistant(index, k, tools_text, convo, set(by_name), odd)
                if bool(d.calls) != bool(pm.calls):
                    raise _Quarantine(f"assistant turn {k}: expected {'a call' if pm.calls else 'a text answer'} "
                                      f"for a {typ} dialog, the agents agreed on "
                                      f"{'a call' if d.calls else 'a text answer'}")
                convo.append(Message("assistant", d.content, calls=d.calls, think=d.think))
            else:
                prev = convo[-1] if convo else None
                if prev is None or not prev.calls:
                    raise _Quarantine(f"turn {k}: a tool turn without calls before it")
                results = [await self._tool(index, k, n, ix.apis[by_name[c.name]], c) for n, c in
                           enumerate(prev.calls)]
                convo.append(Message("tool", results=[{"name": c.name, "results": r}
                                                      for c, r in zip(prev.calls, results)]))
        meta = dict(plan.meta)
        meta["source"] = getattr(self.backend, "name", "llm")
        meta["votes"] = self.votes
        sample = Sample(plan.id, plan.tools, convo, typ, None, meta)
        meta["complexity"] = complexity(sample)
        problem = structure_problem(sample)
        if problem:
            raise _Quarantine(f"structure: {problem}")
        return sample

    async def _user(self, index: int, turn: int, typ: str, style: str, tools_text: str, convo: list[Message],
                    intent: str, keep: list[str]) -> str:
        prompt = (f"The assistant's functions:\n{tools_text}\n\nDialog type: {typ} ({TYPE_DESCRIPTIONS[typ]}).\n"
                  f"Conversation so far:\n{_transcript(convo)}\n\nIntent of your next message: {intent}\n"
                  f"Style: {style}.\nKeep verbatim: {json.dumps(keep, ensure_ascii=False)}")
        req = self._request(_prompted("user", prompt), index, turn)
        return await self._ask(req, lambda obj: _message_from(obj, keep), f"user turn {turn}")

    async def _assistant(self, index: int, turn: int, tools_text: str, convo: list[Message], names: set[str],
                         odd: list[str]) -> _Decision:
        import asyncio

        system = DIALOG_PROMPTS["assistant"].replace("{tools}", tools_text)
        chat = [{"role": "system", "content": system}] + _assistant_chat(convo)
        decisions = await asyncio.gather(*[self._ask(self._request(chat, index, turn, v),
                                                     lambda obj: _decision_from(obj, names, odd),
                                                     f"assistant turn {turn}, vote {v + 1}")
                                           for v in range(self.votes)], return_exceptions=True)
        for d in decisions:
            if isinstance(d, BaseException):
                raise d
        keys = Counter(d.key() for d in decisions)
        if len(keys) > 1:
            shown = "; ".join(f"{n}x {key[:120]}" for key, n in keys.most_common())
            raise _Quarantine(f"assistant turn {turn}: the {self.votes} votes disagree on the call parts ({shown})")
        return decisions[0]

    async def _tool(self, index: int, turn: int, n: int, api: ApiRecord, call: Call) -> Any:
        if api.impl is not None:
            try:
                return execute(api, call.arguments)
            except ExecutionError as e:
                raise _Quarantine(f"tool turn {turn}: call rejected: {e}") from None
        try:  # a simulated result still needs a valid call
            validate_arguments(api, call.arguments)
        except ExecutionError as e:
            raise _Quarantine(f"tool turn {turn}: call rejected: {e}") from None
        prompt = (f"API definition:\n{json.dumps(api.tool.to_dict(), ensure_ascii=False)}\n\nReturn schema:\n"
                  f"{json.dumps(api.returns, ensure_ascii=False)}\n\nCall:\n"
                  f"{json.dumps({'name': call.name, 'arguments': call.arguments}, ensure_ascii=False)}")
        req = self._request(_prompted("tool", prompt), index, turn, n, temperature=0.0)
        return await self._ask(req, lambda obj: _result_from(obj, api), f"tool turn {turn}")
