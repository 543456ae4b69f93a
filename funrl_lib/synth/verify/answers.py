"""Does a final answer report what the tools said? The semantic half of ToolACE's consistency expert (ToolACE §2.3
model checker, "consistency validation"; the LLM form is the ``task_consistency`` judge of :mod:`.judges`, whose
prompt asks that "a final answer must report what the tool outputs said"), made deterministic: every number, date,
time, identifier and proper name an answer states must be found in what the dialog gave it.

``task_consistency`` only asks that a summary mention *something* of the output, so a summary that copies the
field names but misreports a value (44.57 written as 77.80, a date moved, a name swapped) passed the offline model
layer. This rule looks at each value the answer states instead."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Iterator, NamedTuple

from ...tools import ToolDef
from ..sample import Sample
from .common import _COMPACT_JSON, _short
from .context import VerifyContext, _rule
from .grounding import _Grounding
from .lexical import _CJK
from .words import _MONTHS, _NUMBER, _SCALE, _norm


@_rule("model")
def rule_answer_grounding(sample: Sample, ctx: VerifyContext) -> list[str]:
    """ToolACE's consistency expert on the answers, deterministically: each text answer that follows a tool turn (a
    summary of what the tools returned) may state only values the dialog gave it. Its support is everything before
    it: the user turns, the calls' arguments, the tool outputs (and the number of items of each list in them, which
    a summary counts), the system prompt without its tool list, and the names and enum values of the tool
    definitions (a summary may name the tool it called or an enum's word). Earlier assistant texts and the tools'
    descriptions are left out (a value there is not something a tool or the user said). On 2,000 clean programmatic
    dialogs none is falsely rejected, with or without the system prompt and definitions
    (``results/semantic-layer``).

    What the answer states, read in this order (each span is read once):

    * e-mail addresses and URLs: found verbatim (case ignored).
    * dates: ISO (``2024-06-12``, also inside a date-time), "June 12[, 2024]", "12 June", "12/06/2024" (either
      order), "6月12日"; the day must be a day of the support, written in any of these forms. A date without a year
      matches that day in any year; a date with one needs that year, or the day written without a year.
    * times ``14:00``, ``2:00 pm`` (a 12-hour time without am/pm matches either half of the day).
    * identifiers: a token with letters and digits (``FLG-916200``, ``UA837``) is found whole; a number with a unit
      suffix (``30s``, ``10k``, ``2nd``) is read as the number.
    * numbers (``1,240``, ``4.2%``, ``2 million``), sign ignored, by value: "5%" is also 0.05; a number written with
      ``d`` decimals matches a support value that rounds to it at ``d`` decimals (at 0 decimals only from 10 up:
      "1,538" for 1538.02, but not "3" for 2.77). Written-out numbers are not read ("one" is mostly a pronoun).
    * proper names: capitalised words (runs of them are one name), not at the start of a sentence, each word found as
      a token of the support (singular/plural forms). Not read in CJK answers (no capitals).

    Each value not found is one reason naming the turn and the value."""
    view = ctx.view(sample)
    msgs = sample.messages
    support: _Support | None = None
    out: list[str] = []
    seen = 0  # msgs[:seen] are in the support
    for i, m in enumerate(msgs):
        if not (m.role == "assistant" and m.calls is None and m.raw is None and m.content and i > 0
                and msgs[i - 1].role == "tool"):
            continue
        if support is None:
            support = _Support(view.system_context(), sample.tools)
        for j in range(seen, i):
            p = msgs[j]
            if p.role == "user":
                support.add(p.content)
            elif p.calls:
                support.add(_COMPACT_JSON([c.arguments for c in p.calls]))
            elif p.role == "tool":
                support.add(view.output_text(j))
                if p.results is not None:
                    support.add_results(p.results)
        seen = i
        out.extend(f"turn {i} (assistant): {claim.kind} {_short(claim.text)} is in no tool output, user turn or call "
                   "before it" for claim in _claims(m.content) if not support.supports(claim))
    return list(dict.fromkeys(out))


class _Claim(NamedTuple):
    kind: str  # "number", "date", "time", "identifier", "e-mail", "URL", "name"
    text: str  # as written in the answer
    values: tuple  # what it may stand for (see _Support.supports)
    token: str | None = None  # a number written with a unit ("30s"): also found as this token
    before: str = ""  # a number: the words right before it (up to 4, tab-separated, normalised)


# -- reading an answer -------------------------------------------------------------------------------------------

_MONTH = (r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|"
          r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"https?://[^\s<>\"'()\[\]]+[^\s<>\"'()\[\].,;:!?]")
# each pattern starting with a digit takes it before its look-behind (see words._NUMBER)
_ISO = re.compile(r"(\d(?<![\d.]\d)\d{3})([-/.])(\d{1,2})\2(\d{1,2})(?!\d)"
                  r"(?:[T ](\d{1,2}):(\d{2})(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?")
_MONTH_DAY = re.compile(rf"\b{_MONTH}\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}})\b)?", re.I)
_DAY_MONTH = re.compile(rf"(\d(?<![\d.]\d)\d?)(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\b\.?(?:,?\s+(\d{{4}})\b)?",
                        re.I)
_MONTH_PREFIXES = tuple(m[:3] for m in _MONTHS)  # what every spelling of _MONTH starts with
_NUMERIC_DATE = re.compile(r"(\d(?<![\d/.]\d)\d?)([/.])(\d{1,2})\2(\d{4}|\d{2})(?![\d/.]?\d)")
_CJK_DATE = re.compile(r"(?:(\d{4})\s*年\s*)?(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]")
_TIME = re.compile(r"(\d(?<![\d:.]\d)\d?):(\d{2})(?::\d{2})?(?!\d)(?:\s*([ap])\.?m\b\.?)?", re.I)
_TOKEN = re.compile(r"(?<![\w@])[A-Za-z0-9]+(?:[-_.][A-Za-z0-9]+)*")
_VERSION = re.compile(r"\d+(?:\.\d+){2,}")
_NUMBER_UNIT = re.compile(r"(\d+(?:\.\d+)?)([A-Za-z]{1,3})")
_SCALED_AT = re.compile(r"\s*(%|k\b|thousand\b|million\b|billion\b)", re.I)
_WORD = re.compile(r"(?<!\w)[^\W\d_]+(?:['’][^\W\d_]+)*")
_DIGIT = re.compile(r"[0-9]")
_MAY_BE_NUMBER = re.compile(r"\d|inf|nan", re.I)
_LETTER = re.compile(r"[A-Za-z]")
# capitalised mid-sentence but not names (abbreviations of units and times, the pronoun)
_NOT_NAMES = frozenset({"am", "pm", "ok"})


def _month(name: str) -> int:
    name = name.lower()
    return next(k for k, m in enumerate(_MONTHS, 1) if m.startswith(name[:3]))


def _year(y: str | None) -> int | None:
    return None if not y else int(y) + (2000 if len(y) == 2 else 0)


def _day(y: int | None, mo: int, d: int) -> tuple | None:
    return (y, mo, d) if 1 <= mo <= 12 and 1 <= d <= 31 else None


def _dates(text: str) -> Iterator[tuple[int, int, tuple, tuple | None]]:
    """``(start, end, candidate days (year or None, month, day), time or None)`` for each date written in
    ``text`` (an ambiguous numeric date gives both readings)."""
    for m in _ISO.finditer(text):
        day = _day(int(m.group(1)), int(m.group(3)), int(m.group(4)))
        if day:
            time = (int(m.group(5)), int(m.group(6))) if m.group(5) else None
            yield m.start(), m.end(), (day,), time
    folded = text.casefold()  # a month name matched case-insensitively is one of these once folded
    if any(p in folded for p in _MONTH_PREFIXES):
        for m in _MONTH_DAY.finditer(text):
            day = _day(_year(m.group(3)), _month(m.group(1)), int(m.group(2)))
            if day:
                yield m.start(), m.end(), (day,), None
        for m in _DAY_MONTH.finditer(text):
            day = _day(_year(m.group(3)), _month(m.group(2)), int(m.group(1)))
            if day:
                yield m.start(), m.end(), (day,), None
    for m in _NUMERIC_DATE.finditer(text):
        a, b, y = int(m.group(1)), int(m.group(3)), _year(m.group(4))
        days = tuple(d for d in (_day(y, a, b), _day(y, b, a)) if d)
        if days:
            yield m.start(), m.end(), days, None
    if not text.isascii():
        for m in _CJK_DATE.finditer(text):
            day = _day(_year(m.group(1)), int(m.group(2)), int(m.group(3)))
            if day:
                yield m.start(), m.end(), (day,), None


def _times(text: str) -> Iterator[tuple[int, int, tuple]]:
    """``(start, end, candidate (hour, minute)s)`` for each clock time (a 12-hour time without am/pm: both)."""
    for m in _TIME.finditer(text):
        h, mi, half = int(m.group(1)), int(m.group(2)), (m.group(3) or "").lower()
        if h > 24 or mi > 59:
            continue
        if half:
            hours = ((h % 12) + (12 if half == "p" else 0),)
        else:
            hours = (h, h + 12) if 1 <= h < 12 else (h,)
        yield m.start(), m.end(), tuple((x, mi) for x in hours)


def _claims(text: str) -> list[_Claim]:
    """What an answer states, in reading order of the kinds (see :func:`rule_answer_grounding`); each character
    belongs to one claim at most."""
    out: list[_Claim] = []
    free = text  # the text with the characters of the claims so far replaced by "\0"

    def take(start: int, end: int) -> bool:
        nonlocal free
        if "\0" in free[start:end]:
            return False
        free = free[:start] + "\0" * (end - start) + free[end:]
        return True

    for kind, rx, mark in (("e-mail", _EMAIL, "@"), ("URL", _URL, "://")):
        if mark not in free:  # (what each pattern needs: a quick test before a slow pattern)
            continue
        for m in rx.finditer(free):
            if take(m.start(), m.end()):
                out.append(_Claim(kind, m.group(), (m.group().lower(),)))
    for start, end, days, time in sorted(_dates(free), key=lambda d: (d[0], -d[1])):
        if take(start, end):
            out.append(_Claim("date", text[start:end], (days, time)))
    for start, end, hours in _times(free):
        if take(start, end):
            out.append(_Claim("time", text[start:end], hours))
    rest = free
    for m in _TOKEN.finditer(rest):
        tok = m.group()  # ASCII letters and digits (with - _ . between)
        if tok.isalpha() or not _DIGIT.search(tok):
            continue
        if not _LETTER.search(tok):  # a version 2.3.1 is found whole; other digit runs are numbers
            if _VERSION.fullmatch(tok):
                take(m.start(), m.end())
                out.append(_Claim("identifier", tok, (_norm(tok),)))
            continue
        take(m.start(), m.end())
        unit = _NUMBER_UNIT.fullmatch(tok)
        if unit:  # 30s, 10k, 2nd: the number (or the token itself, "1AA" in a postcode)
            base, scale = float(unit.group(1)), _SCALE.get(unit.group(2).lower())
            values = ((base, len(unit.group(1).partition(".")[2])),) + (((base * scale, None),) if scale else ())
            out.append(_Claim("number", tok, values, _norm(tok)))
        else:
            out.append(_Claim("identifier", tok, (_norm(tok),)))
    rest = free
    for m in _NUMBER.finditer(rest):
        written = m.group()
        base = float(written.replace(",", ""))
        values = [(base, len(written.partition(".")[2]))]  # (value, decimals written; None: exact only)
        scale = _SCALED_AT.match(rest, m.end())
        if scale:
            unit = scale.group(1).lower()
            values.append((round(base / 100, 12) if unit == "%" else base * _SCALE[unit], None))
        out.append(_Claim("number", written, tuple(values), before=_words_before(text, m.start())))
    if not _CJK.search(text):
        out.extend(_names(free))
    return out


def _words_before(text: str, at: int) -> str:
    """The last words (up to 4) before ``at`` when the number follows them directly (spaces or ": " between), back
    to the last punctuation mark: the field a programmatic summary names ("paid amount 1538.02")."""
    head = text[max(0, at - 60):at]
    if not head.endswith((" ", ":")) or not head.rstrip(" :")[-1:].isalpha():
        return ""
    clause = re.split(r"[;,.!?()\[\]\n\0]", head)[-1]
    # whole words as written: "get_wholesale_electricity_price: 3" names no field "price"
    return "\t".join(_norm(w) for w in clause.split()[-4:])


def _names(text: str) -> Iterator[_Claim]:
    """Runs of capitalised words (one space apart), each word but a sentence's first (a capital there says
    nothing)."""
    run: list[tuple[int, int, str]] = []

    def flush() -> Iterator[_Claim]:
        words = [w for w in run if not w[2]]
        if words:
            name = text[run[0][0]:run[-1][1]]
            yield _Claim("name", name, tuple(t for s, e, _ in words for t in _norm(text[s:e]).split()))
        run.clear()

    for m in _WORD.finditer(text):
        word = m.group()
        if not word[0].isupper() or len(word) < 2 or word.lower() in _NOT_NAMES:
            if run:
                yield from flush()
            continue
        if run and text[run[-1][1]:m.start()] != " ":
            yield from flush()
        initial = not run and _starts_sentence(text, m.start())
        run.append((m.start(), m.end(), initial))
    yield from flush()


def _starts_sentence(text: str, at: int) -> bool:
    before = text[:at].rstrip(" \t\"'“‘(*-•")
    return not before or before.endswith((".", "!", "?", ":", "\n"))


# -- what supports it ---------------------------------------------------------------------------------------------

class _Support:
    """What an answer may draw on, grown turn by turn (:meth:`add`); numbers, tokens and the normalised text through
    :class:`~.grounding._Grounding`, dates and times read as :func:`_claims` reads them."""

    def __init__(self, system: str, tools: list[ToolDef]):
        self._g = _Grounding()
        self._raw: list[str] = []
        self._dated = 0  # self._raw[:self._dated] are read into the days and times
        self._days: set[tuple] = set()
        self._yearless: set[tuple] = set()
        self._times: set[tuple] = set()
        self._counts: set[float] = set()
        self._fields: dict[str, set[float]] = {}  # field name (normalised) -> its numbers in the outputs so far
        self._g.add(" \n ".join(w for t in tools for w in t.derived("verify.answer_words", _definition_words)))
        self.add(system)

    def add(self, text: str) -> None:
        if text:
            self._g.add(text)
            self._raw.append(text)

    def add_results(self, value: Any, key: str | None = None) -> None:
        """What a tool output adds besides its text: the length of every list (a summary says "3 reviews") and the
        numbers of each field, by its name (``paid_amount`` as "paid amount")."""
        if isinstance(value, list):
            self._counts.add(float(len(value)))
            for v in value:
                self.add_results(v, key)
        elif isinstance(value, dict):
            for k, v in value.items():
                self.add_results(v, _field_name(k))
        elif key and not isinstance(value, bool):
            numbers = self._fields.setdefault(key, set())
            if not isinstance(value, str) or _MAY_BE_NUMBER.search(value):  # float() reads no other text
                try:
                    numbers.add(abs(float(value)))
                except (TypeError, ValueError):
                    pass

    def _dates(self) -> set[tuple]:
        """The days of the support (each also without its year); the yearless days and the times read on the way."""
        days = self._days
        for text in self._raw[self._dated:]:
            for _, _, cands, time in _dates(text):
                for y, mo, d in cands:
                    days.add((y, mo, d))
                    days.add((None, mo, d))
                    if y is None:
                        self._yearless.add((mo, d))
                if time:
                    self._times.add(time)
            for _, _, hours in _times(text):
                self._times.update(hours)
        self._dated = len(self._raw)
        return days

    def supports(self, claim: _Claim) -> bool:
        """Is ``claim`` found in the support? A number right after the name of an output field ("shots 5", "paid
        amount 1538.02") must moreover be a number of that field (a value of another field is a misreport)."""
        g = self._g
        if claim.kind in ("e-mail", "URL"):
            return claim.values[0] in g.raw_lower
        if claim.kind == "identifier":
            return f" {claim.values[0]} " in g.text
        if claim.kind == "date":
            days, time = claim.values
            known = self._dates()
            if not any(d in known or (d[0] is not None and d[1:] in self._yearless) for d in days):
                return False
            return time is None or time in self._times
        if claim.kind == "time":
            self._dates()
            return any(h in self._times for h in claim.values)
        if claim.kind == "number":
            if claim.token is not None and f" {claim.token} " in g.text:
                return True
            if not any(self._number(x, decimals) for x, decimals in claim.values):
                return False
            field = self._field(claim.before)
            return field is None or any(_near(x, decimals, field) for x, decimals in claim.values)
        return all(g.has_token(w) for w in claim.values)  # a name: every word

    def _number(self, x: float, decimals: int | None) -> bool:
        return self._g.has_number(x) or x in self._counts or _near(x, decimals, self._g.numbers)

    def _field(self, before: str) -> set[float] | None:
        """The numbers of the output field whose name ends ``before`` (the longest such name), if it has any."""
        words = before.split("\t") if before else []
        for k in range(len(words), 0, -1):
            values = self._fields.get(" ".join(words[-k:]))
            if values:
                return values
        return None


def _near(x: float, decimals: int | None, numbers: set[float]) -> bool:
    """``x`` among ``numbers`` by value, or (written with ``decimals`` decimals; at 0 decimals only from 10 up) the
    rounding of one of them."""
    if x in numbers or any(abs(x - n) < 1e-9 * max(1.0, n) for n in numbers):
        return True
    if decimals is None or (decimals == 0 and x < 10):
        return False
    half = 0.5 * 10 ** -decimals + 1e-9
    return any(abs(n - x) <= half for n in numbers)


def _definition_words(tool: ToolDef) -> tuple[str, ...]:
    """What a tool definition adds to a support: its name and every enum value of its parameters."""
    t = tool.source
    fn = t.get("function") if isinstance(t, dict) and isinstance(t.get("function"), dict) else t
    return (str(fn.get("name") or ""), *map(str, _enums(fn.get("parameters")))) if isinstance(fn, dict) else ()


@lru_cache(maxsize=4096, typed=True)
def _field_name(key: Any) -> str:
    """An output field's name as a summary writes it (``paid_amount``: "paid amount"); the same fields recur."""
    return _norm(str(key))


def _enums(schema: Any) -> Iterator[Any]:
    """Every enum value in a parameter schema, nested ones included."""
    if isinstance(schema, dict):
        yield from schema.get("enum") or () if isinstance(schema.get("enum"), list) else ()
        for v in schema.values():
            if isinstance(v, (dict, list)):
                yield from _enums(v)
    elif isinstance(schema, list):
        for v in schema:
            yield from _enums(v)
