"""Scripted LLM replies for the loopback OpenAI-compatible server (tests/loopback_server.py): the three ToolACE dialog
agents (user, assistant, tool) played from programmatic reference dialogs, so that a run through a real HTTP backend
can be compared with the programmatic one. Used by test_fleet.py and test_speciation.py."""

from __future__ import annotations

import json
import re

from funrl_lib.synth import dialogs as D
from funrl_lib.synth.api_pool import ApiRecord, execute
from funrl_lib.synth.sample import Sample
from loopback_server import ok


def scripted_replies(pool: list[ApiRecord], n: int, seed: int, mix: str):
    """A ``respond`` for the loopback server that plays the three dialog agents from the programmatic reference
    dialogs (as test_dialogs.Scripted does for a backend): replies depend on the request only."""
    reference = D.generate_dialogs(pool, n, seed=seed, mix=mix, progress=False)
    by_first = {s.messages[0].content: s for s in reference}
    apis = {a.tool.name: a for a in pool}

    def respond(received) -> object:
        messages = received.body["messages"]
        system, prompt = messages[0]["content"], messages[-1]["content"]
        if system.startswith("You are the user agent"):
            intent = re.search(r"Intent of your next message: (.*)\nStyle:", prompt, re.S).group(1)
            return ok(json.dumps({"message": intent}))
        if system.startswith("You are the tool agent"):
            call = json.loads(prompt.split("Call:\n", 1)[1])
            return ok("Result:\n```json\n" + json.dumps(execute(apis[call["name"]], call["arguments"])) + "\n```")
        ref: Sample = by_first[messages[1]["content"]]
        k = sum(1 for m in messages if m["role"] == "assistant")
        target = [m for m in ref.messages if m.role == "assistant"][k]
        body = {"think": target.think}
        if target.calls:
            from funrl_lib.calls import render_calls

            body["calls"] = render_calls(target.calls)
        else:
            body["content"] = target.content
        return ok(json.dumps(body))

    return respond
