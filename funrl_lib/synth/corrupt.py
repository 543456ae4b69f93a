"""Named corruptions of clean samples: the defects real generators make, injected on purpose.

The programmatic generator writes correct dialogs, so verifying them alone shows a 100% pass rate and proves nothing.
These corruptions reproduce what LLM-written data gets wrong (ToolACE Table 4's rule list, the hallucinated values
its model layer hunts, and the ``date``→``string`` damage in the released ToolACE data), so a run can measure how
much of each the verifier catches — and the notebooks can show pass rates that mean something.

``CORRUPTIONS[name](sample, rng)`` returns a corrupted deep copy, or ``None`` when the sample has nothing to corrupt
that way (no call, no date parameter, ...). ``EXPECTED_RULES[name]`` names the verification rules that should catch
it; :func:`corrupt_samples` corrupts a share of a sample list and labels each sample with what was done.
"""

from __future__ import annotations

import copy
import datetime
import random
import re
from typing import Any, Callable, Iterable

from ..calls import Call
from ..io import leaf_values
from ..tools import ToolDef
from .sample import Message, Sample

__all__ = ["CORRUPTIONS", "EXPECTED_RULES", "corrupt_samples", "pool_executor"]

Corruption = Callable[[Sample, random.Random], "Sample | None"]


def _copy(sample: Sample) -> Sample:
    """A deep copy sharing the tools (a ToolDef is not changed once read: a corruption replaces one instead)."""
    return copy.deepcopy(sample, {id(t): t for t in sample.tools})


def _replaced_tool(s: Sample, ti: int, change: Callable[[dict], None]) -> None:
    """Tool ``ti`` of ``s`` replaced by a copy of its definition that ``change`` edited."""
    d = copy.deepcopy(s.tools[ti].source)
    change(d)
    s.tools[ti] = ToolDef.read(d)


def _call_sites(sample: Sample) -> list[tuple[int, int, Call]]:
    return [(i, k, c) for i, m in enumerate(sample.messages) if m.calls for k, c in enumerate(m.calls)]


def _tool(sample: Sample, name: str) -> dict | None:
    for t in sample.tool_sources():
        if isinstance(t, dict) and t.get("name") == name:
            return t
    return None


def _props(tool: dict | None) -> dict:
    params = (tool or {}).get("parameters") or {}
    return params.get("properties") or {} if isinstance(params, dict) else {}


def _pick_call(sample: Sample, rng: random.Random, want: Callable[[Call, dict], list[str]]):
    """A random (turn, index, call, parameter) where ``want(call, tool)`` offers a parameter."""
    options = []
    for i, k, c in _call_sites(sample):
        for p in want(c, _tool(sample, c.name)):
            options.append((i, k, c, p))
    return rng.choice(options) if options else None


def missing_required(sample, rng):
    site = _pick_call(sample, rng, lambda c, t: [p for p in ((t or {}).get("parameters") or {}).get("required") or []
                                                 if p in c.arguments])
    if not site:
        return None
    s = _copy(sample)
    i, k, _, p = site
    del s.messages[i].calls[k].arguments[p]
    return s


def unknown_param(sample, rng):
    site = _pick_call(sample, rng, lambda c, t: list(c.arguments))
    if not site:
        return None
    s = _copy(sample)
    i, k, c, p = site
    args = s.messages[i].calls[k].arguments
    s.messages[i].calls[k].arguments = {(p + "_value" if q == p else q): v for q, v in args.items()}
    return s


def date_to_string(sample, rng):
    """The released ToolACE data's damage: ``date`` became ``string`` inside the definitions of the tools the dialog
    calls (``start_date`` -> ``start_string``, "up-to-date" -> "up-to-string"), and so in the calls and tool outputs
    made from them. Names stay consistent with each other, as in the released data, so only a lexical check sees it."""
    called = {c.name for _, _, c in _call_sites(sample)}
    s = _copy(sample)
    for ti, t in enumerate(s.tool_sources()):
        if isinstance(t, dict) and t.get("name") in called:
            _replaced_tool(s, ti, lambda d: d.update(_replace_in(d, "date", "string", values=True)))
    for m in s.messages:
        if m.calls:
            m.calls = [Call(c.name.replace("date", "string"),
                            {k.replace("date", "string"): v for k, v in c.arguments.items()}) for c in m.calls]
        if m.results is not None:
            m.results = _replace_in(m.results, "date", "string")
        if m.role == "assistant" and m.content:
            m.content = m.content.replace("update", "upstring").replace("date", "string")
    return None if s.to_dict() == sample.to_dict() else s  # nothing named "date": not applicable


def _replace_in(value: Any, old: str, new: str, *, values: bool = False) -> Any:
    """``old`` -> ``new`` in every dict key (and, with ``values``, every string) of a nested value."""
    if isinstance(value, dict):
        return {k.replace(old, new) if isinstance(k, str) else k: _replace_in(v, old, new, values=values)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_in(v, old, new, values=values) for v in value]
    if values and isinstance(value, str):
        return value.replace(old, new)
    return value


def wrong_type(sample, rng):
    site = _pick_call(sample, rng, lambda c, t: [p for p, v in c.arguments.items()
                                                 if isinstance(v, (int, float, str)) and not isinstance(v, bool)])
    if not site:
        return None
    s = _copy(sample)
    i, k, _, p = site
    v = s.messages[i].calls[k].arguments[p]
    s.messages[i].calls[k].arguments[p] = [v] if isinstance(v, str) else str(v)  # "3" for 3, ["x"] for "x"
    return s


def enum_violation(sample, rng):
    site = _pick_call(sample, rng, lambda c, t: [p for p in c.arguments if isinstance(_props(t).get(p), dict)
                                                 and _props(t)[p].get("enum")])
    if not site:
        return None
    s = _copy(sample)
    i, k, _, p = site
    s.messages[i].calls[k].arguments[p] = "NOT_AN_OPTION"
    return s


def unknown_function(sample, rng):
    site = _pick_call(sample, rng, lambda c, t: ["-"])
    if not site:
        return None
    s = _copy(sample)
    i, k, c, _ = site
    s.messages[i].calls[k].name = c.name + "_v2"
    return s


def hallucinated_value(sample, rng):
    # free-text string parameters only: a value outside an enum or a pattern is a schema defect (param_values), not
    # a hallucination the model layer has to find
    def free_text(c, t):
        return [p for p, v in c.arguments.items()
                if isinstance(v, str) and not {"enum", "pattern"} & set(_props(t).get(p) or {})]

    site = _pick_call(sample, rng, free_text)
    if not site:
        return None
    s = _copy(sample)
    i, k, _, p = site
    s.messages[i].calls[k].arguments[p] = "Zanzibar-" + "".join(rng.choice("QXZJK") for _ in range(5))
    return s


def _tool_turn(sample: Sample, rng: random.Random, *, with_results: bool = True) -> tuple[Sample | None, int]:
    """A copy of ``sample`` and the index of a random tool turn in it (one with results, unless told otherwise)."""
    turns = [i for i, m in enumerate(sample.messages) if m.role == "tool" and (m.results or not with_results)]
    return (_copy(sample), rng.choice(turns)) if turns else (None, -1)


def drop_tool_response(sample, rng):
    s, i = _tool_turn(sample, rng, with_results=False)
    if s is not None:
        del s.messages[i]
    return s


def extra_result(sample, rng):
    s, i = _tool_turn(sample, rng)
    if s is not None:
        s.messages[i].results.append(copy.deepcopy(s.messages[i].results[-1]))
    return s


def response_name_mismatch(sample, rng):
    s, i = _tool_turn(sample, rng)
    if s is not None:
        first = s.messages[i].results[0]
        s.messages[i].results[0] = {**first, "name": str(first.get("name")) + "_other"}
    return s


def tampered_result(sample, rng):
    """A tool output that the API would never return (a simulated result that disagrees with execution)."""
    turns = [i for i, m in enumerate(sample.messages) if m.role == "tool" and m.results
             and isinstance(m.results[0].get("results"), dict) and m.results[0]["results"]]
    if not turns:
        return None
    s = _copy(sample)
    res = s.messages[rng.choice(turns)].results[0]["results"]
    key = rng.choice(sorted(res))
    res[key] = _tamper(res[key])
    return s


def _tamper(v: Any) -> Any:
    if isinstance(v, bool):
        return not v
    if isinstance(v, (int, float)):
        return v + 7
    if isinstance(v, str):
        return v + "-tampered"
    return "tampered"


def _final_text(sample: Sample) -> int | None:
    turns = [i for i, m in enumerate(sample.messages) if m.role == "assistant" and not m.is_call and m.content]
    return turns[-1] if turns else None


def _final_turn(sample: Sample, *, min_length: int = 0) -> tuple[Sample | None, int]:
    """A copy of ``sample`` and the index of its last text answer (at least ``min_length`` characters long)."""
    i = _final_text(sample)
    if i is None or len(sample.messages[i].content) < min_length:
        return None, -1
    return _copy(sample), i


def truncated_response(sample, rng):
    s, i = _final_turn(sample, min_length=24)
    if s is not None:
        text = s.messages[i].content
        cut = rng.randrange(len(text) // 2, len(text) - 4)
        s.messages[i].content = text[:cut].rstrip(" .,!?") + " (the"
    return s


def empty_response(sample, rng):
    s, i = _final_turn(sample)
    if s is not None:
        s.messages[i].content = ""
    return s


def invalid_chars(sample, rng):
    s, i = _final_turn(sample)
    if s is not None:
        text = s.messages[i].content
        at = rng.randrange(len(text) + 1)
        s.messages[i].content = text[:at] + rng.choice(["\x00", "\ufffd", "\x1b[0m"]) + text[at:]
    return s


def broken_schema(sample, rng):
    options = [(ti, p) for ti, t in enumerate(sample.tool_sources()) if isinstance(t, dict) for p in _props(t)]
    if not options:
        return None
    s = _copy(sample)
    ti, p = rng.choice(options)

    def misspell(d: dict) -> None:
        d["parameters"]["properties"][p]["type"] = "strnig"
    _replaced_tool(s, ti, misspell)
    return s


def role_swap(sample, rng):
    if len(sample.messages) < 2 or sample.messages[0].role != "user":
        return None
    s = _copy(sample)
    s.messages[0], s.messages[1] = s.messages[1], s.messages[0]
    return s


def call_when_none_applies(sample, rng):
    """An irrelevance dialog whose refusal became a call to one of the (unsuitable) candidates."""
    if sample.type != "irrelevance" or not sample.tools or not isinstance(sample.tools[0].source, dict):
        return None
    s = _copy(sample)
    tool = s.tools[0].source
    args = {p: "x" for p in ((tool.get("parameters") or {}).get("required") or [])}
    for i, m in enumerate(s.messages):
        if m.role == "assistant":
            s.messages[i] = Message("assistant", calls=[Call(tool["name"], args)], think=m.think)
            break
    return s


# Semantic defects of a final answer: it reads well and names the right fields, but a value it reports is not the
# one the tools returned (what an LLM writing a summary gets wrong; ToolACE §2.3's consistency expert is asked to
# catch it). Each picks a value of the last text answer that follows a tool turn.

def _summary_turn(sample: Sample) -> tuple[int, list] | None:
    """The last text answer right after a tool turn, and the leaf values of that tool turn's results (booleans
    left out)."""
    msgs = sample.messages
    for i in range(len(msgs) - 1, 0, -1):
        m = msgs[i]
        if m.role == "assistant" and not m.is_call and m.content and msgs[i - 1].role == "tool":
            results = msgs[i - 1].results
            return (i, [v for v in leaf_values(results) if not isinstance(v, bool)]) if results else None
    return None


def _replace_one(sample: Sample, rng: random.Random, pattern: re.Pattern, keep: Callable[[re.Match, list], bool],
                 new: Callable[[re.Match, random.Random], str | None]) -> Sample | None:
    """A copy whose summary has one match of ``pattern`` (one that ``keep(match, output leaf values)`` accepts)
    replaced by ``new(match, rng)``."""
    found = _summary_turn(sample)
    if found is None:
        return None
    i, output = found
    text = sample.messages[i].content
    options = [m for m in pattern.finditer(text) if keep(m, output)]
    if not options:
        return None
    m = rng.choice(options)
    value = new(m, rng)
    if value is None or value == m.group():
        return None
    s = _copy(sample)
    s.messages[i].content = text[:m.start()] + value + text[m.end():]
    return s


_PLAIN_NUMBER = re.compile(r"(?<![\w.:/@+-])\d+(?:\.\d+)?(?![\w:/@-]|\.\d)")


def misreported_number(sample, rng):
    """The summary reports one of the tool's numbers wrongly, written the same way (44.57 as 77.80)."""
    def wrong(m: re.Match, rng: random.Random) -> str:
        written = m.group()
        decimals = len(written.partition(".")[2])
        x = float(written)
        for _ in range(10):
            y = round(x * rng.choice((rng.uniform(0.3, 0.8), rng.uniform(1.25, 2.5))), decimals)
            if y != x and y > 0:
                break
        else:
            y = x + 1
        return f"{y:.{decimals}f}"
    return _replace_one(sample, rng, _PLAIN_NUMBER, lambda m, out: float(m.group()) in
                        {abs(v) for v in out if isinstance(v, (int, float))}, wrong)


_ISO_IN_TEXT = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
                "November", "December")
_NAMED_DAY = re.compile(rf"\b({'|'.join(_MONTH_NAMES)}) (\d{{1,2}})\b(?!:)")


def wrong_date(sample, rng):
    """The summary moves a date by 1-40 days (``2025-08-30`` as ``2025-09-14``, "June 12" as "June 19")."""
    def moved(day: datetime.date) -> datetime.date:
        return day + datetime.timedelta(days=rng.choice((-1, 1)) * rng.randint(1, 40))

    def iso(m: re.Match, rng: random.Random) -> str | None:
        try:
            return moved(datetime.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))).isoformat()
        except ValueError:
            return None

    def named(m: re.Match, rng: random.Random) -> str | None:
        try:
            day = moved(datetime.date(2024, _MONTH_NAMES.index(m.group(1)) + 1, int(m.group(2))))
        except ValueError:
            return None
        return f"{_MONTH_NAMES[day.month - 1]} {day.day}"
    found = _summary_turn(sample)
    if found is None:
        return None
    text = sample.messages[found[0]].content
    if _ISO_IN_TEXT.search(text):
        return _replace_one(sample, rng, _ISO_IN_TEXT, lambda m, out: True, iso)
    return _replace_one(sample, rng, _NAMED_DAY, lambda m, out: True, named)


_CODE = re.compile(r"(?<![\w-])(?=[A-Za-z0-9-]*[A-Za-z])[A-Za-z0-9]*\d[A-Za-z0-9]*(?:-[A-Za-z0-9]+)*(?![\w-])")
_PROPER = re.compile(r"(?<!\w)(?:[A-Z][a-z]+ )*[A-Z][a-z]{2,}(?!\w)")
_OTHER_NAMES = ("Fairweather", "Okonkwo", "Brightwater", "Castellano", "Halvorsen", "Marlowe", "Northfield",
                "Vasquez", "Kowalczyk", "Ashgrove", "Trevanion", "Sorensen")


def invented_entity(sample, rng):
    """The summary names something the tool did not return: an identifier with other digits (``FLG-916200`` as
    ``FLG-480213``) or a name with another last word ("Maya Patel" as "Maya Fairweather")."""
    def other_code(m: re.Match, rng: random.Random) -> str:
        code = m.group()
        for _ in range(10):
            new = "".join(str(rng.randrange(10)) if c.isdigit() else c for c in code)
            if new != code:
                return new
        return code + "7"

    def other_name(m: re.Match, rng: random.Random) -> str:
        head, _, last = m.group().rpartition(" ")
        pick = rng.choice([n for n in _OTHER_NAMES if n != last])
        return f"{head} {pick}" if head else pick

    found = _summary_turn(sample)
    if found is None:
        return None
    text = sample.messages[found[0]].content
    strings = [v for v in found[1] if isinstance(v, str)]

    def quoted(m: re.Match, out: list) -> bool:  # a code inside an output string, a name that begins or ends one
        return any(m.group() in v if m.re is _CODE else v.startswith(m.group()) or v.endswith(m.group())
                   for v in strings)
    codes = [m for m in _CODE.finditer(text) if quoted(m, strings)]
    names = [m for m in _PROPER.finditer(text) if quoted(m, strings)]
    if codes and (not names or rng.random() < 0.5):
        return _replace_one(sample, rng, _CODE, quoted, other_code)
    if names:
        return _replace_one(sample, rng, _PROPER, quoted, other_name)
    return None


CORRUPTIONS: dict[str, Corruption] = {
    "missing_required": missing_required, "unknown_param": unknown_param, "date_to_string": date_to_string,
    "wrong_type": wrong_type, "enum_violation": enum_violation, "unknown_function": unknown_function,
    "hallucinated_value": hallucinated_value, "drop_tool_response": drop_tool_response, "extra_result": extra_result,
    "response_name_mismatch": response_name_mismatch, "tampered_result": tampered_result,
    "truncated_response": truncated_response, "empty_response": empty_response, "invalid_chars": invalid_chars,
    "broken_schema": broken_schema, "role_swap": role_swap, "call_when_none_applies": call_when_none_applies,
    "misreported_number": misreported_number, "wrong_date": wrong_date, "invented_entity": invented_entity,
}

# Corruptions that change argument values while keeping the call valid for the API: their tool output is re-run.
_ARGUMENT_CORRUPTIONS = frozenset({"hallucinated_value"})

# The verification rules (funrl_lib.synth.verify) expected to catch each corruption; any one of them suffices.
EXPECTED_RULES: dict[str, tuple[str, ...]] = {
    "missing_required": ("required_params",),
    "unknown_param": ("unknown_params",),
    "date_to_string": ("date_string_artifacts", "unknown_params", "call_name_exists"),
    "wrong_type": ("param_values",),
    "enum_violation": ("param_values",),
    "unknown_function": ("call_name_exists",),
    "hallucinated_value": ("hallucinated_values",),
    "drop_tool_response": ("tool_response_follows", "role_order"),
    "extra_result": ("tool_response_follows",),
    "response_name_mismatch": ("call_response_names",),
    "tampered_result": ("execution",),
    "truncated_response": ("response_length",),
    "empty_response": ("response_length",),
    "invalid_chars": ("invalid_chars",),
    "broken_schema": ("tool_schema",),
    "role_swap": ("role_order",),
    "call_when_none_applies": ("task_consistency", "param_values", "hallucinated_values"),
    "misreported_number": ("answer_grounding",),
    "wrong_date": ("answer_grounding",),
    "invented_entity": ("answer_grounding",),
}


def pool_executor(pool: Iterable[Any]) -> Callable[[Call], Any]:
    """An executor for :func:`corrupt_samples` from a pool of ``ApiRecord`` s: runs a call with
    :func:`funrl_lib.synth.api_pool.execute` (raises for an unknown name or arguments the API rejects)."""
    from .api_pool import execute

    by_name = {api.tool.name: api for api in pool}
    return lambda call: execute(by_name[call.name], call.arguments)


def _refresh_results(before: Sample, after: Sample, executor: Callable[[Call], Any]) -> None:
    """Re-run the calls a corruption changed and write their results into the tool turn that answers them: an LLM
    tool agent simulates output for the call it is shown, so a wrong argument does not also leave a stale result."""
    for i, m in enumerate(after.messages):
        if not m.calls or i + 1 >= len(after.messages) or after.messages[i + 1].role != "tool":
            continue
        old = before.messages[i].calls if i < len(before.messages) else None
        results = after.messages[i + 1].results
        for k, call in enumerate(m.calls):
            if old is not None and k < len(old) and old[k] == call or results is None or k >= len(results):
                continue
            try:
                results[k] = {"name": call.name, "results": executor(call)}
            except Exception:  # an API that rejects the call: leave the output; the rule layer reports the call
                pass


def corrupt_samples(samples: Iterable[Sample], rate: float, seed: int = 0, kinds: Iterable[str] | None = None,
                    executor: Callable[[Call], Any] | None = None) -> list[tuple[Sample, str | None]]:
    """Corrupt about ``rate`` of the samples, each with one corruption chosen by seed among ``kinds`` (default: all)
    that applies to it. Returns ``(sample, corruption name or None)`` in input order; ids are kept.

    ``executor`` (e.g. :func:`pool_executor`): re-run each call whose arguments a corruption changed and put its real
    output in the tool turn, as an LLM tool agent would. Without it a hallucinated argument also leaves a tool
    output the API would not give, and the rule layer's ``execution`` check rejects the sample before the model
    layer's ``hallucinated_values`` sees it."""
    names = list(kinds or CORRUPTIONS)
    unknown = [n for n in names if n not in CORRUPTIONS]
    if unknown:
        raise ValueError(f"unknown corruption(s) {', '.join(unknown)}; expected some of {', '.join(CORRUPTIONS)}")
    rng = random.Random(f"corrupt:{seed}")
    out: list[tuple[Sample, str | None]] = []
    for sample in samples:
        if rng.random() >= rate:
            out.append((sample, None))
            continue
        for name in rng.sample(names, len(names)):
            bad = CORRUPTIONS[name](sample, rng)
            if bad is not None:
                if executor is not None and name in _ARGUMENT_CORRUPTIONS:
                    _refresh_results(sample, bad, executor)
                bad.meta = {**bad.meta, "corruption": name}
                out.append((bad, name))
                break
        else:
            out.append((sample, None))
    return out
