"""Content words and numbers of a text: the vocabulary of the deterministic model layer (ToolACE §2.3, the model
checker's hallucination and consistency experts, made deterministic in :mod:`.grounding` and :mod:`.model`), also
read by the lexical scan of a tool definition (:class:`.lexical._ToolLex`)."""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import filterfalse


_WORD_NUMBERS = {w: n for n, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
_WORD_NUMBERS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
                      "ninety": 90, "hundred": 100, "thousand": 1000, "dozen": 12, "once": 1, "twice": 2,
                      "single": 1, "couple": 2, "pair": 2, "first": 1, "second": 2, "third": 3})
# A number not inside a word or after a dot: (?<![A-Za-z0-9_.])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?, written with its
# first digit before the look-behind (which then spans that digit too). The same matches, but a pattern that starts
# with a character class lets the regex engine skip to the next digit instead of trying every position: twice as
# fast on the long texts of tool outputs. The date and time patterns of .answers are written alike.
_NUMBER = re.compile(r"\d(?<![A-Za-z0-9_.]\d)(?:\d{0,2}(?:,\d{3})+|\d*)(?:\.\d+)?")
# (?<![A-Za-z0-9_.])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s*(%|k\b|thousand|million|billion), likewise
_SCALED = re.compile(r"(\d(?<![A-Za-z0-9_.]\d)(?:\d{0,2}(?:,\d{3})+|\d*(?:\.\d+)?))\s*(%|k\b|thousand|million|billion)",
                     re.I)
_SCALE = {"k": 1e3, "thousand": 1e3, "million": 1e6, "billion": 1e9}
_NORM = re.compile(r"[\W_]+")
_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december"]
_STOP = frozenset("""
the and for with from this that these those what which when where who whom how into onto about over under than then
get set list find search retrieve fetch use using used api apis tool tools function functions data info information
given specified specific based return returns returned provide provides provided can could would should will you your
are was were has have had not but all any each per via its it's our out let please want need like also just give
show tell some more most such other one two new make made see look looking help able know
""".split())


def _norm(text: str) -> str:
    """``text`` lowercased, each run of characters that are not letters or digits (``[\\W_]+``) one space, no space
    at either end."""
    low = text.lower()
    if low.isascii():  # the same, three times as fast: those characters to spaces, and the words joined by one
        return " ".join(low.translate(_NOT_WORD_ASCII).split())
    return _NORM.sub(" ", low).strip()


_NOT_WORD_ASCII = {c: " " for c in range(128) if _NORM.fullmatch(chr(c))}


def _tokens(text: str) -> list[str]:
    return _norm(text).split()


def _forms(tok: str) -> tuple[str, ...]:
    """A token and its naive singular/plural forms (enough for "hotels"/"hotel", "matches"/"match")."""
    forms = [tok]
    if tok.endswith("es") and len(tok) > 4:
        forms.append(tok[:-2])
    if tok.endswith("s") and len(tok) > 3:
        forms.append(tok[:-1])
    else:
        forms.append(tok + "s")
    return tuple(forms)


def _numbers(text: str) -> set[float]:
    """Every number written in ``text`` ("1,000" is 1000); "5%" also gives 0.05, "10k" 10000, "2 million" 2e6."""
    out = {float(x.replace(",", "")) for x in _NUMBER.findall(text)}
    if "%" in text or "k" in text or "K" in text or "illion" in text or "housand" in text:
        for number, unit in _SCALED.findall(text):
            base = float(number.replace(",", ""))
            out.add(round(base / 100, 12) if unit == "%" else base * _SCALE[unit.lower()])
    return out


def _has_number(numbers: set[float], x: float) -> bool:
    """``x`` is among ``numbers`` by value, sign ignored (see :func:`rule_hallucinated_values`)."""
    x = abs(x)
    return x in numbers or any(abs(x - n) < 1e-9 * max(1.0, n) for n in numbers)


@lru_cache(maxsize=4096)
def _content_words(text: str) -> frozenset[str]:
    """Words that carry meaning (3+ letters, not a stop word or a number), camelCase split; cached since the same
    request is compared with every call that answers it (within a sample: a cache of the last few thousand texts,
    not of a whole file's, so memory stays flat however many samples are verified)."""
    # _WORD_RUN.findall(s.lower()) is the words of _tokens(s) (the runs between the [\W_]+ that _norm turns into
    # spaces) of 3+ characters: a pattern of runs of 3 or more finds exactly the maximal runs that long
    words = set(_WORD_RUN.findall(_split_camel(text).lower()))
    words -= _STOP
    return frozenset(filterfalse(str.isdigit, words))


_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_WORD_RUN = re.compile(r"[^\W_]{3,}")


def _split_camel(text: str) -> str:
    return _CAMEL.sub(" ", text)


def _stem(tok: str) -> str:
    return tok[:4] if len(tok) >= 4 else tok


def _overlap(a: set[str], b: set[str]) -> set[str]:
    sb = {_stem(t) for t in b}
    return {t for t in a if _stem(t) in sb}
