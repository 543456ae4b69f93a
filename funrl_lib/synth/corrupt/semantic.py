"""The semantic corruptions of a final answer (ToolACE §2.3, the consistency expert's errors): it reads well and
names the right fields, but a number, a date or a named entity it reports is not what the tools returned."""

from __future__ import annotations

import datetime
import random
import re
from typing import Callable

from ...io import leaf_values
from ..sample import Sample
from .structural import _copy

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
