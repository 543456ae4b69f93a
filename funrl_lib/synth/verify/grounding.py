"""Where a call's values come from: the deterministic form of ToolACE's hallucination-detection expert (ToolACE §2.3
model checker). :class:`_Grounding` is the context a call was made in; :func:`_ungrounded` lists the values it does
not contain (used by ``hallucinated_values`` and the clarify check of ``task_consistency``, :mod:`.model`)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Iterable

from ...tools import Schema
from .common import _short
from .lexical import _CJK
from .words import _MONTHS, _WORD_NUMBERS, _forms, _has_number, _norm, _numbers


class _Grounding:
    """What a call may draw its values from: the text (lowercased, and normalised), its tokens and its numbers.
    Grows turn by turn (:meth:`add`) and derives each view only when a value needs it, so a dialog is read once
    however many call turns it has."""

    def __init__(self, parts: Iterable[str] = ()):
        self._parts: list[str] = []
        self._normed: list[str] = []  # _norm of each part, as far as a view has needed them
        self._views: dict[str, Any] = {}
        for p in parts:
            self.add(p)

    def add(self, raw: str) -> None:
        if raw:
            self._parts.append(raw)
            self._views.clear()

    def _view(self, name: str) -> Any:
        v = self._views.get(name)
        if v is None:
            if name == "raw_lower":
                v = "\n".join(self._parts).lower()
            elif name == "text":
                normed = self._normed
                normed.extend(_norm(p) for p in self._parts[len(normed):])
                v = " " + " \n ".join(normed) + " "
            elif name == "tokens":
                v = set(self.text.split())
            else:
                v = _numbers("\n".join(self._parts)) | {float(_WORD_NUMBERS[t])
                                                         for t in self.tokens & _WORD_NUMBERS.keys()}
            self._views[name] = v
        return v

    raw_lower = property(lambda self: self._view("raw_lower"))
    text = property(lambda self: self._view("text"))
    tokens = property(lambda self: self._view("tokens"))
    numbers = property(lambda self: self._view("numbers"))

    def has_token(self, tok: str) -> bool:
        tokens = self.tokens
        return any(f in tokens for f in _forms(tok))

    def has_number(self, x: float) -> bool:
        return _has_number(self.numbers, x)


_ISO_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def _date_grounded(value: str, g: _Grounding) -> bool | None:
    """A ``YYYY-MM-DD[...]`` value is grounded when the day is written in the context in any common form (ISO,
    "March 3rd", "3 March", "Mar. 3", "3/3/2024", "03.03.2024"); the year need not be written (a dialog says "March
    3rd" and the call fills the year in), nor the time of a date-time. ``None`` when ``value`` is not a date."""
    m = _ISO_DAY.match(value)
    if not m:
        return None
    y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if not 1 <= mo <= 12:
        return False
    text = g.raw_lower
    if value[:10] in text:
        return True
    return _day_forms(y, mo, d).search(text) is not None


@lru_cache(maxsize=4096)
def _day_forms(y: int, mo: int, d: int) -> re.Pattern:
    """One regex for the ways a day is written (any of them matching is what :func:`_date_grounded` asks),
    compiled once per day rather than five times per value."""
    month = _MONTHS[mo - 1]
    names = f"(?:{month}|{month[:3]}\\.?)"
    day = rf"0?{d}(?:st|nd|rd|th)?"
    forms = [rf"\b{names}\s+{day}\b", rf"\b{day}\s+(?:of\s+)?{names}\b",
             rf"(?<!\d)0?{mo}[/.-]0?{d}(?:[/.-](?:{y}|{y % 100:02d}))?(?!\d)",
             rf"(?<!\d)0?{d}[/.-]0?{mo}[/.-](?:{y}|{y % 100:02d})(?!\d)",
             rf"(?<!\d){y}[/.]0?{mo}[/.]0?{d}(?!\d)"]
    return re.compile("|".join(f"(?:{f})" for f in forms))


def _ungrounded(value: Any, schema: Schema | None, g: _Grounding, path: str, out: list[str]) -> None:
    """Append ``path = value`` for each leaf of ``value`` that the context does not contain (see
    :func:`rule_hallucinated_values` for the rules)."""
    if schema is not None and schema.has_default and value == schema.default:
        return
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, dict):
        props = schema.properties if schema is not None else {}
        for k, v in value.items():
            _ungrounded(v, props.get(k), g, f"{path}.{k}", out)
        return
    if isinstance(value, (list, tuple)):
        items = schema.items if schema is not None else None
        enum = schema.enum if schema is not None else None
        for j, v in enumerate(value):
            sub = items
            if sub is None and enum is not None:
                sub = Schema({"enum": enum})
            _ungrounded(v, sub, g, f"{path}[{j}]", out)
        return
    if isinstance(value, (int, float)):
        if not g.has_number(float(value)):
            out.append(f"{path}={_short(value)}")
        return
    if not isinstance(value, str):
        return
    enum = schema.enum if schema is not None else None
    if _string_grounded(value, g, enum is not None and value in enum):
        return
    out.append(f"{path}={_short(value)}")


def _string_grounded(value: str, g: _Grounding, is_enum: bool) -> bool:
    nv = _norm(value)
    if not nv:
        return True
    if f" {nv} " in g.text or (_CJK.search(nv) and nv in g.text):  # CJK text has no spaces between words
        return True
    dated = _date_grounded(value, g)
    if dated is not None:
        return dated
    try:
        if not is_enum and re.fullmatch(r"-?\d+(?:\.\d+)?", value.strip().replace(",", "")):
            return g.has_number(float(value.strip().replace(",", "")))
    except ValueError:
        pass
    toks = nv.split()
    hits = sum(1 for t in toks if g.has_token(t))
    if is_enum:
        # an enum value is a choice among the definition's words, not something the user spells out: grounded
        # when one of its words (3+ letters) is in the context ("MOST_ACTIVE" for "the most active stocks")
        return any(len(t) >= 3 and g.has_token(t) for t in toks) or len(toks) == hits
    if hits == len(toks):
        return True
    # composed text (a message body, a note) is written by the assistant from the request: half its words suffice
    return len(toks) >= 6 and hits * 2 >= len(toks)
