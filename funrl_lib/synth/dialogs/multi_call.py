"""Dialog types of several calls, planned with the three agents of ToolACE's Self-Guided Dialog Generation
(arXiv 2409.00920v2 §2.2), whose dialogs range from parallel to dependent calls over several turns:

* ``parallel``: one turn, the same tool called 2-4 times with different arguments;
* ``parallel_multiple``: one turn, 2-3 different tools (a repeat at high complexity);
* ``dependent``: call A, then call B with a value A *really returned* (A's return field and B's parameter share a
  slot): the tool agent runs A while planning;
* ``multi_turn``: 2-3 user requests in sequence, each with its call, tool turn and summary.

Each is ``(agents, rng, level, style) -> _Draft | None`` (``None``: draw again); the knob ``level`` sets the number
of calls (:func:`_n_calls`).
"""

from __future__ import annotations

import json
import random

from ..api_pool import mentioned_values
from .agents import _Agents
from .plan import _Draft, _Step
from .pool_index import _PoolIndex, _values_at
from ..api_pool.slots import _label as _words_of
from .text import _render, depends, next_turn, same_again, several

_BUILD_TRIES = 12  # draws of APIs/arguments per attempt before the attempt counts as failed


def _n_calls(level: float) -> int:
    """Calls (or turns) of a multi-call dialog: 2 up to the middle level, then up to 4 at the top."""
    return 2 + int(round(max(0.0, level - 0.5) * 4))


def _related(ix: _PoolIndex, i: int, m: int, rng: random.Random) -> list[int]:
    """``m`` other APIs near ``i`` (same subdomain, then domain, then anywhere), names distinct."""
    return [j for j in ix.candidates([i], m + 1, rng, similar=True) if j != i][:m]


def parallel(ag: _Agents, rng: random.Random, level: float, style: str) -> _Draft | None:
    ix = ag.ix
    i = rng.choice(ix.with_params)
    k = _n_calls(level)
    seen, calls = set(), []
    for _ in range(k * 4):
        args = ag.user.args(i, rng, level)
        key = json.dumps(args, sort_keys=True)
        if args and key not in seen:
            seen.add(key)
            calls.append((i, args))
            if len(calls) == k:
                break
    if len(calls) < 2:
        return None
    first = ag.user.request(i, calls[0][1], rng)
    mentions = [ag.user.mentions(i, a, rng) for _, a in calls]
    user = ag.user.styled(same_again(first, ag.assistant.vp(i).text(), mentions, rng), i, style, rng)
    return _Draft([_Step("user", user), _Step("calls", calls=calls, summary=True)], [i], i, False)


def parallel_multiple(ag: _Agents, rng: random.Random, level: float, style: str) -> _Draft | None:
    ix = ag.ix
    i = rng.randrange(len(ix.apis))
    n_calls = _n_calls(level)
    tools = [i] + _related(ix, i, min(n_calls, 3) - 1, rng)
    if len(tools) < 2:
        return None
    calls = [(j, ag.user.args(j, rng, level)) for j in tools]
    if n_calls > len(tools):  # a repeat of the first tool with other arguments
        extra = ag.user.args(i, rng, level)
        if extra and extra != calls[0][1]:
            calls.append((i, extra))
    first = ag.user.request(calls[0][0], calls[0][1], rng)
    actions = [ag.user.action(j, a, rng) for j, a in calls]
    user = ag.user.styled(several(first, actions, rng), tools, style, rng)
    return _Draft([_Step("user", user), _Step("calls", calls=calls, summary=True)], tools, i, False)


def dependent(ag: _Agents, rng: random.Random, level: float, style: str) -> _Draft | None:
    ix = ag.ix
    for attempt in range(_BUILD_TRIES):
        # mostly the best tier (id slots within a domain); now and then the others, for variety
        best = rng.random() < 0.85 or attempt < 2
        tier = ix.consumer_tiers[0 if best else rng.randrange(len(ix.consumer_tiers))]
        b, param, slot = rng.choice(tier)
        producers = [(a, path) for a, path in ix.producers[slot] if a != b and ix.names[a] != ix.names[b]]
        near = [(a, p) for a, p in producers if ix.apis[a].domain == ix.apis[b].domain]
        a, path = rng.choice(near or producers)
        args_a = ag.user.args(a, rng, level)
        res_a = ag.tool.execute(a, args_a)  # the tool agent runs the first call now: its value feeds the second
        if res_a is None:
            continue
        # a value the call really produced, not an echo of what the user said
        said = set(mentioned_values(args_a))
        values = [v for v in _values_at(res_a, path) if _render(v) not in said]
        if not values:
            continue
        value = values[0]
        args_b = ag.user.args(b, rng, level)
        args_b = {param: value, **{k: v for k, v in args_b.items() if k != param}}
        if not ag.tool.valid(b, args_b):
            continue
        ra = ag.user.action(a, args_a, rng)
        rb = ag.user.action(b, {k: v for k, v in args_b.items() if k != param}, rng)
        user = ag.user.styled(depends(ra, rb, _words_of(param), rng), [a, b], style, rng)
        steps = [_Step("user", user), _Step("calls", calls=[(a, args_a)], results=[res_a]),
                 _Step("calls", calls=[(b, args_b)], summary=True,
                       sources={(0, param): f"from the {ix.names[a]} result, field {path}"})]
        return _Draft(steps, [a, b], b, False,
                      extras={"depends": {"from": ix.apis[a].id, "field": path, "to": ix.apis[b].id,
                                          "param": param}})
    return None


def multi_turn(ag: _Agents, rng: random.Random, level: float, style: str) -> _Draft | None:
    ix = ag.ix
    i = rng.randrange(len(ix.apis))
    turns = min(_n_calls(level), 3)
    apis = [i] + _related(ix, i, turns - 1, rng)
    steps: list[_Step] = []
    for n, j in enumerate(apis):
        args = ag.user.args(j, rng, level)
        req = ag.user.request(j, args, rng)
        user = ag.user.styled(req, j, style, rng) if n == 0 or style == "descriptive" else req
        if n > 0:
            user = next_turn(user, rng)
        steps += [_Step("user", user), _Step("calls", calls=[(j, args)], summary=True)]
    return _Draft(steps, apis, i, False)
