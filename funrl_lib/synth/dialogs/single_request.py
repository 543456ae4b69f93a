"""Dialog types of one user request, planned with the three agents of ToolACE's Self-Guided Dialog Generation
(arXiv 2409.00920v2 §2.2), including its non-tool and clarification dialogs:

* ``single``: one call; the candidates mix same-subdomain and cross-domain tools;
* ``multiple``: one call; every distractor is a similar tool (same subdomain, then domain);
* ``irrelevance``: the request's API is not among the candidates (nor any API sharing a leaf); a refusal in text;
* ``clarify``: the user leaves out a required value; the assistant asks for it by name; the user answers; a call.

Each is ``(agents, rng, level, style) -> _Draft | None`` (``None``: draw again).
"""

from __future__ import annotations

import random
import re

from ..api_pool import mentioned_values
from ..api_pool.slots import _label as _words_of
from .agents import _Agents
from .plan import _Draft, _Step
from .summaries import clarify_question
from .text import _ANSWERS, _first_sentence, _label


def single(ag: _Agents, rng: random.Random, level: float, style: str, similar: bool = False) -> _Draft | None:
    ix = ag.ix
    i = rng.choice(ix.similar_ok) if similar and ix.similar_ok else rng.randrange(len(ix.apis))
    args = ag.user.args(i, rng, level)
    user = ag.user.styled(ag.user.request(i, args, rng), i, style, rng)
    return _Draft([_Step("user", user), _Step("calls", calls=[(i, args)], summary=True)], [i], i, similar)


def multiple(ag: _Agents, rng: random.Random, level: float, style: str) -> _Draft | None:
    return single(ag, rng, level, style, similar=True)


def irrelevance(ag: _Agents, rng: random.Random, level: float, style: str) -> _Draft | None:
    ix = ag.ix
    t = rng.randrange(len(ix.apis))
    args = ag.user.args(t, rng, level)
    user = ag.user.styled(ag.user.request(t, args, rng), t, style, rng)
    leaves, name, purpose = ix.leafsets[t], ix.names[t], ix.purpose[t]

    def unfit(j: int) -> bool:  # could this tool serve the request? then it may not be a candidate
        return j == t or ix.names[j] == name or ix.purpose[j] == purpose or bool(ix.leafsets[j] & leaves)

    return _Draft([_Step("user", user)], [], t, False, exclude=unfit, extras={"irrelevant_api": ix.apis[t].id},
                  refuse_for=t)


def clarify(ag: _Agents, rng: random.Random, level: float, style: str) -> _Draft | None:
    ix = ag.ix
    i = rng.choice(ix.clarify_ids)
    missing = rng.choice(ix.clarify[i])
    args = ag.user.args(i, rng, level)
    if missing not in args:
        return None
    given = {k: v for k, v in args.items() if k != missing}
    user = ag.user.styled(ag.user.request(i, given, rng), i, style, rng)
    desc = (ix.params[i].get("properties") or {}).get(missing, {}).get("description") or _label(missing)
    desc = re.sub(r"\s*\([^)]*\)?", "", _first_sentence(desc)).rstrip(". ") or _label(missing)  # no "(" left
    desc = desc[0].lower() + desc[1:] if len(desc) > 1 and desc[1].islower() else desc  # "Unique id" -> "unique"
    # the question names the parameter and says what it is (its description), so the user knows what to give
    ask = clarify_question(ag.assistant.vp(i), missing, _words_of(missing), desc, rng)
    think_ask = (f"Need a tool? Yes: {ix.names[i]}, because the user wants to {ix.purpose[i]}. Required: {missing} "
                 f"is not in the request and cannot be guessed. Ask the user for {missing} before calling.")
    answer = rng.choice(_ANSWERS).replace("{label}", _words_of(missing)) \
        .replace("{v}", " ".join(mentioned_values({missing: args[missing]})))
    steps = [_Step("user", user), _Step("ask", ask, think_ask), _Step("user", answer),
             _Step("calls", calls=[(i, args)], summary=True, sources={(0, missing): "from the user's answer"})]
    return _Draft(steps, [i], i, False, extras={"missing": missing})
