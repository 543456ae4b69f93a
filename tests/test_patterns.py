"""Regexes from tool definitions run on RE2 (issue 17): linear time whatever the pattern, JSON Schema semantics,
and a pattern RE2 cannot run (a backreference, a lookaround) is a failed check with the reason, never a hang.

The repros run under :func:`no_hang`, an alarm minutes away from work that takes microseconds: it turns a hang (a
regression to a backtracking engine) into a failure and measures nothing.
"""

from __future__ import annotations

import contextlib
import json
import random
import signal

import pytest

from funrl_lib.calls import Call
from funrl_lib.patterns import PatternError, pattern_search
from funrl_lib.synth.api_pool import ApiRecord, build_pool, execute, gen_from_pattern
from funrl_lib.synth.sample import Message, Sample
from funrl_lib.synth.verify import RULES, VerifyContext


@contextlib.contextmanager
def no_hang(seconds: int = 300):
    """Fail (instead of hanging the suite) if the block runs for ``seconds``: a hang detector, not a speed test."""
    def boom(*_):
        raise AssertionError(f"still running after {seconds} s: the work is no longer bounded")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module")
def pool() -> list[ApiRecord]:
    return build_pool(40, seed=0, progress=False)


def _pattern_reasons(pattern: str, value: str) -> list[str]:
    tool = {"name": "f", "description": "d", "parameters": {"type": "dict", "properties": {
        "code": {"type": "string", "description": "a code", "pattern": pattern}}, "required": ["code"]}}
    s = Sample("x", [tool], [Message("user", "u"), Message("assistant", calls=[Call("f", {"code": value})])])
    return RULES["param_values"](s, VerifyContext())


@pytest.mark.parametrize("pattern, value", [
    ("^(a+)+$", "a" * 28 + "!"),  # 41 s on Python's re, doubling with each character
    ("^(a+)+$", "a" * 5000 + "!"),
    (r"^([A-Za-z]+\s?)+$", "Hello World " * 40 + "!"),  # an ordinary-looking pattern: 4 s on Python's re
])
def test_catastrophic_tool_patterns_are_checked_in_linear_time(pattern, value):
    with no_hang():
        reasons = _pattern_reasons(pattern, value)
        assert pattern_search(pattern, value[:-1]) and not pattern_search(pattern, value)
    shown = json.dumps(value) if len(json.dumps(value)) <= 60 else json.dumps(value)[:57] + "..."
    assert reasons == [f"turn 1 call 0 'f': parameter 'code': {shown} does not match the pattern {pattern!r}"]


@pytest.mark.parametrize("pattern", [r"^(a)\1$", r"^(?=a)a$", r"^(?<!b)a$"])
def test_a_pattern_re2_cannot_run_is_a_failed_check_with_the_reason(pattern):
    [reason] = _pattern_reasons(pattern, "aa")
    assert "cannot be checked against the pattern" in reason and "RE2 cannot run this pattern" in reason
    assert "backreferences or lookarounds" in reason
    with pytest.raises(PatternError):
        pattern_search(pattern, "aa")


def test_patterns_keep_json_schema_semantics():
    assert _pattern_reasons("HTL", "X-HTL-9") == []  # a search: unanchored patterns match anywhere
    assert _pattern_reasons(r"^\d{4}-\d{2}-\d{2}$", "2025-01-31") == []
    assert _pattern_reasons("[", "x") == []  # invalid for Python too: tool_schema reports the definition


def test_pool_executor_checks_patterns_in_linear_time(pool):
    def plain(node):
        return isinstance(node, dict) and node.get("type") == "string" and "enum" not in node

    api = next(a for a in pool if any(plain(p) for p in a.tool_dict()["parameters"]["properties"].values()))
    d = api.to_dict()
    name, node = next((k, v) for k, v in d["tool"]["parameters"]["properties"].items() if plain(v))
    node["pattern"] = "^(a+)+$"
    d["tool"]["parameters"]["required"] = [name]
    bad = ApiRecord.from_dict(d)
    with no_hang(), pytest.raises(Exception, match="does not match pattern"):
        execute(bad, {name: "a" * 5000 + "!"})


def test_generating_from_a_pattern_is_bounded():
    with no_hang():
        for pattern in ("a{1000000000}", "(a{1000}){1000}", "x{99999999999999999999}"):
            with pytest.raises(ValueError, match="cannot generate from pattern"):
                gen_from_pattern(pattern, random.Random(0))
