#!/usr/bin/env python3
"""Fuzz the decoders, both rewards and the checker with generated model outputs (issue 17).

    python benchmarks/fuzz.py --n 100000             # the committed run: results/fuzz/fuzz.txt
    python benchmarks/fuzz.py --n 2000 --seed 3      # a quick one

Every input goes through every decoder format (``decode_calls`` with python, python with ``known_names``, json,
openai, hermes, qwen_fc, auto), through ``funrl_binary`` and ``toolrl_graded`` on one of a few dataset rows, and,
when it decodes in python syntax, through ``check_calls`` against one of a pool of ground truths, some of them
malformed (and a quarter of the time with arguments of the wrong type). Inputs: rendered calls mutated by random
edits and splices of hostile snippets, random text, and a few large hostile inputs (tag and fence runs, format and
repetition bombs, shift chains, deep nesting, long integers, thousands of calls with ``known_names``), some behind a
``<think>`` block. Seeded: the same ``--seed`` and ``--n`` give the same inputs.

The table: inputs; typed errors (DecodeError, CheckerError: the contract); other crashes (any other exception, or a
DecodeError the decoder did not expect, ``DecodeError.unexpected``); slow inputs: one call (a decoder, a reward, the
checker) on the input took over ``--slow`` seconds, and, beside it, all ten calls together did (an 80,000-character
expression is parsed by five of them); peak RSS of the process. Goal: 0 other crashes, 0 slow inputs, peak RSS under 200 MB. Crashes and
slow inputs are written, shortened, to ``--report`` (default: none) to reproduce them.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import string
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from funrl_lib.bfcl.checker import CheckerError, check_calls  # noqa: E402
from funrl_lib.calls import FORMATS, Call, DecodeError, decode_calls, render_calls  # noqa: E402
from funrl_lib.rewards import funrl_binary, toolrl_graded  # noqa: E402
from funrl_lib.tools import load_tools  # noqa: E402

TOOLS = [
    {"name": "get_weather", "description": "", "parameters": {"type": "dict", "required": ["city"], "properties": {
        "city": {"type": "string"}, "days": {"type": "integer"}, "unit": {"type": "string", "default": "c"}}}},
    {"name": "Market Trends API", "description": "", "parameters": {"type": "dict", "required": ["a"], "properties": {
        "a": {"type": "integer"}, "b": {"type": "array", "items": {"type": "dict"}}, "c": {"type": "dict"},
        "d": {"type": "float"}, "e": {"type": "tuple", "items": {"type": "string"}}}}},
    {"name": "book.flight", "description": "", "parameters": {"type": "dict", "required": [], "properties": {
        "to": {"type": "string"}, "when": {"type": "array", "items": {"type": "integer"}}}}},
]
TOOL_NAMES = [t["name"] for t in TOOLS]
TRUTHS = [
    [{"get_weather": {"city": ["Paris", "paris"], "days": ["", 3]}}],
    [{"Market Trends API": {"a": [1], "b": ["", [{"x": [1]}]], "c": ["", {"k": ["v"]}]}}],
    [{"get_weather": {"city": ["Rome"]}}, {"book.flight": {"to": ["Oslo"], "when": [[1, 2]]}}],
    [],
    [{"Market Trends API": {"a": 5}}],  # malformed: allowed values not a list
    [{"nowhere": {"a": [1]}}],  # names a function that is not offered
    [{"get_weather": {"city": "Paris"}}],  # malformed: a string of allowed values
]
CATEGORIES = ["simple", "multiple", "parallel", "parallel_multiple"]
TOOLS_JSON = json.dumps(TOOLS)
TRUTH_JSON = [json.dumps(t) for t in TRUTHS]
LOADED_TOOLS = load_tools(TOOLS)

SNIPPETS = ["<tool_call>", "</tool_call>", "<tool_call>\n", "\n</tool_call>", "```", "```json\n", "```python\n",
            "<think>", "</think>", "[", "]", "(", ")", "{", "}", ",", "=", "'", '"', "\\", "\n", " ", "...",
            "'%*d' % (10**9, 1)", "'%(x)s' % {}", "'%s' % ([0]*600000,)", "1<<10**6<<10**6", "9**9**9",
            "[[0]*10**6]*50", "'a'*10**7", "'ab'+'cd'", "10**4300", "1" * 4400, "-1e999", "~5", "+5", "not 1",
            "lambda x: x", "f'{a}'", "x[0]", "a.b", "**{}", "*args", "{1, 2}", "(1,)", "b'x'", "1j", "None",
            "True", "get weather(", "Market Trends API(", "book.flight(", '{"name": "f", "arguments": {}}',
            '"arguments": "{\\"a\\": 1}"', '{"type": "function", "function": {"name": "f", "arguments": "{}"}}',
            '"tool_calls": [', "\x00", "\ud800", "\u00a0", "\u2028", "é", "%", "*", "+", "-", ":", ";", "#"]
WORDS = ["Paris", "Rome", "", "x" * 50, "a'b", 'q"t', "<tool_call>", "\\n", "ünï", "%s"]


def random_value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(9 if depth < 3 else 5)
    if kind == 0:
        return rng.randint(-10 ** rng.randint(0, 30), 10 ** rng.randint(0, 30))
    if kind == 1:
        return rng.choice([0.5, -2.25, 1e300, 3.0, 1e-7])
    if kind == 2:
        return rng.choice(WORDS)
    if kind == 3:
        return rng.choice([True, False, None])
    if kind == 4:
        return "".join(rng.choice(string.printable) for _ in range(rng.randint(0, 12)))
    if kind in (5, 6):
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(["x", "k", "city", "a b"]): random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}


def random_calls(rng: random.Random) -> list[Call]:
    calls = []
    for _ in range(rng.randint(0, 3)):
        name = rng.choice(TOOL_NAMES + ["f", "ns.g"])
        keys = rng.sample(["city", "days", "unit", "a", "b", "c", "d", "e", "to", "when"], rng.randint(0, 4))
        calls.append(Call(name, {k: random_value(rng) for k in keys}))
    return calls


def rendered(rng: random.Random) -> str:
    calls = random_calls(rng)
    for fmt in rng.sample(["python", "json", "hermes", "openai"], 4):
        try:
            out = render_calls(calls, fmt)
        except ValueError:  # a value this format cannot write
            continue
        return out if isinstance(out, str) else json.dumps(out)
    return "[]"


def mutate(rng: random.Random, text: str) -> str:
    for _ in range(rng.randint(0, 6)):
        i = rng.randint(0, len(text))
        op = rng.randrange(6)
        if op == 0:
            text = text[:i] + rng.choice(SNIPPETS) + text[i:]
        elif op == 1:
            text = text[:i] + text[i + rng.randint(1, 5):]
        elif op == 2:
            text = text[:i] + rng.choice(string.printable) + text[i + 1:]
        elif op == 3:
            j = rng.randint(i, len(text))
            text = text[:j] + text[i:j] + text[j:]
        elif op == 4:
            text = text[:i]
        else:
            text = text[:i] + "".join(rng.choice(SNIPPETS) for _ in range(rng.randint(1, 4))) + text[i:]
    return text


def large(rng: random.Random) -> str:
    """One large hostile input (hundreds of KB at most)."""
    k = rng.randint(10_000, 80_000)
    choices = [
        lambda: "<tool_call>" * k, lambda: "<tool_call>\n" * k, lambda: '<tool_call>"' * k,
        lambda: "```\n" + "\n" * (4 * k) + "x", lambda: "```" + " \n" * (2 * k) + "x```",
        lambda: "[" * k, lambda: "{" * k + "}" * k, lambda: "[f(a=" + "(" * 300 + ")]",
        lambda: "[f(a=" + "+".join(["'" + "a" * 1000 + "'"] * rng.randint(50, 99)) + ")]",
        lambda: "[f(a=1" + "<<1000000" * 30 + ")]", lambda: "[f(a=" + "1" * k + ")]",
        lambda: '{"name":"f","arguments":{"a":' + "1" * k + "}}",
        lambda: "[" + ",".join(f"get weather(city='c{i}')" for i in range(k // 20)) + "]",
        lambda: "[" + ",".join(f"Market Trends API(a={i})" for i in range(k // 20)) + "]",
        lambda: "[f(a=" + "-" * k + "1)]", lambda: "[f(a=" + "+".join(["1"] * (k // 2)) + ")]",
        lambda: "<think>" + "x" * k + "</think>" + "[get_weather(city='Paris')]",
        lambda: "\n".join(f"<tool_call>\n{json.dumps({'name': 'f', 'arguments': {'a': i}})}\n</tool_call>"
                          for i in range(k // 40)),
    ]
    return rng.choice(choices)()


def generate(rng: random.Random, large_rate: float) -> str:
    roll = rng.random()
    if roll < large_rate:
        text = large(rng)
    elif roll < 0.55:
        text = mutate(rng, rendered(rng))
    elif roll < 0.75:
        text = "".join(rng.choice(SNIPPETS) for _ in range(rng.randint(1, 20)))
    else:
        text = "".join(rng.choice(string.printable + "éü\u00a0") for _ in range(rng.randint(0, 80)))
    if rng.random() < 0.3:
        text = "<think>" + rng.choice(["plan", "", "x" * 20]) + "</think>" + rng.choice(["\n", "", " "]) + text
    return text


BAD_CALLS = [None, "[f()]", [1], [Call("get_weather", None)], [Call(5, {})]]


def run_one(rng: random.Random, text: str, counts: dict[str, int], crashes: list[str]) -> float:
    """Run one input through everything; returns the longest single call, in seconds."""
    longest = 0.0

    def attempt(stage: str, fn) -> object:
        nonlocal longest
        counts["calls"] += 1
        started = time.perf_counter()
        try:
            return fn()
        except DecodeError as e:
            if e.unexpected is not None:
                counts["crashes"] += 1
                crashes.append(f"{stage}: unexpected {e.unexpected}: {str(e)[:300]} | input {text[:300]!r}")
            else:
                counts["typed"] += 1
        except CheckerError:
            counts["typed"] += 1
        except Exception as e:  # noqa: BLE001 - what this harness counts
            counts["crashes"] += 1
            crashes.append(f"{stage}: {type(e).__name__}: {str(e)[:300]} | input {text[:300]!r}")
        finally:
            longest = max(longest, time.perf_counter() - started)
        return None

    decoded = None
    for fmt in FORMATS:
        result = attempt(f"decode {fmt}", lambda: decode_calls(text, fmt))
        if fmt == "python":
            decoded = result
    attempt("decode python known_names", lambda: decode_calls(text, "python", known_names=TOOL_NAMES))
    truth = rng.randrange(len(TRUTHS))
    row = {"tools": [TOOLS_JSON], "ground_truth": [TRUTH_JSON[truth]]}
    attempt("funrl_binary", lambda: funrl_binary(completions=[text], **row))
    attempt("toolrl_graded", lambda: toolrl_graded(completions=[text], **row))
    calls = decoded if decoded is not None and rng.random() < 0.75 else rng.choice(BAD_CALLS)
    functions = rng.choice([LOADED_TOOLS, TOOLS, TOOLS_JSON, [{"name": 5}], None])
    attempt("check_calls", lambda: check_calls(functions, calls, TRUTHS[truth], rng.choice(CATEGORIES)))
    return longest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="inputs to generate (default 100000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--slow", type=float, default=1.0, help="seconds over which an input counts as slow")
    parser.add_argument("--large-rate", type=float, default=0.002, help="share of large hostile inputs")
    parser.add_argument("--report", type=Path, help="write crashes and slow inputs here")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    counts = {"calls": 0, "typed": 0, "crashes": 0}
    crashes: list[str] = []
    slow: list[str] = []  # inputs with one call over --slow seconds
    slow_total = 0  # inputs whose calls together took over --slow seconds
    chars, longest, worst, worst_call = 0, 0, 0.0, 0.0
    start = time.perf_counter()
    for i in range(args.n):
        text = generate(rng, args.large_rate)
        chars += len(text)
        longest = max(longest, len(text))
        t0 = time.perf_counter()
        call = run_one(rng, text, counts, crashes)
        elapsed = time.perf_counter() - t0
        worst, worst_call = max(worst, elapsed), max(worst_call, call)
        slow_total += elapsed > args.slow
        if call > args.slow:
            slow.append(f"{call:.2f}s in one call ({elapsed:.2f}s in all): {len(text)} chars: {text[:200]!r}")
        if (i + 1) % 10_000 == 0:
            print(f"  {i + 1} inputs, {time.perf_counter() - start:.0f}s", file=sys.stderr, flush=True)
    total = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    rows = [
        ("inputs", f"{args.n:,}"),
        ("calls (7 decoders, 2 rewards, checker)", f"{counts['calls']:,}"),
        ("typed errors (DecodeError, CheckerError)", f"{counts['typed']:,}"),
        ("other crashes", f"{counts['crashes']:,}"),
        (f"slow inputs (> {args.slow:g} s in one call)", f"{len(slow):,}"),
        (f"slow inputs (> {args.slow:g} s, all 10 calls together)", f"{slow_total:,}"),
        ("slowest call / slowest input", f"{worst_call:.3f} s / {worst:.3f} s"),
        ("peak RSS", f"{peak_mb:.0f} MB"),
        ("input characters (total / longest)", f"{chars:,} / {longest:,}"),
        ("wall time", f"{total:.0f} s"),
    ]
    width = max(len(k) for k, _ in rows)
    print(f"funrl fuzz: seed {args.seed}, Python {platform.python_version()}, {platform.machine()}")
    print(f"| {'measure'.ljust(width)} | value |")
    print(f"| {'-' * width} | ----- |")
    for key, value in rows:
        print(f"| {key.ljust(width)} | {value} |")
    if args.report:
        args.report.write_text("\n".join(["# crashes"] + crashes + ["# slow"] + slow) + "\n", encoding="utf-8")
    for line in (crashes + slow)[:10]:
        print("  " + line[:400], file=sys.stderr)
    return 1 if counts["crashes"] or slow else 0


if __name__ == "__main__":
    raise SystemExit(main())
