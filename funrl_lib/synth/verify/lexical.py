"""Lexical scans of the rule layer (ToolACE §2.3 rule checker, App. B Table 4: "no invalid characters", "no
mixed-language responses"), and the signature of the ``date``->``string`` corruption of the released ToolACE data
(HF ``Team-ACE/ToolACE``), which ToolACE's rules did not catch. The scans of each distinct tool definition are done
once (:class:`_ToolLex`); the rules that report them are ``invalid_chars`` and ``date_string_artifacts``
(:mod:`.rules_content`)."""

from __future__ import annotations

import re
from typing import Any, Callable

from ...io import leaf_values
from ...tools import ToolDef
from ..sample import Sample
from .common import _short, _walk_strings
from .words import _content_words, _stem


# -- invalid_chars ------------------------------------------------------------------------------------------------

_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd\u200b\u2060\ufeff\u180e\ud800-\udfff]")
_JOINERS = re.compile("[\u200c\u200d]")
_CHAR_NAMES = {"\ufffd": "U+FFFD replacement character", "\u200b": "U+200B zero-width space",
               "\u2060": "U+2060 word joiner", "\ufeff": "U+FEFF zero-width no-break space (BOM)",
               "\u180e": "U+180E Mongolian vowel separator", "\u200c": "U+200C zero-width non-joiner",
               "\u200d": "U+200D zero-width joiner"}
_CJK = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]{3,}")


def _char_name(c: str) -> str:
    if c in _CHAR_NAMES:
        return _CHAR_NAMES[c]
    if 0xD800 <= ord(c) <= 0xDFFF:
        return f"lone surrogate U+{ord(c):04X}"
    return f"control character U+{ord(c):04X}"


def _bad_joiner(text: str, pos: int) -> bool:
    """ZWJ / ZWNJ are legitimate inside emoji sequences and in scripts that need them (Persian, Indic); next to an
    ASCII character, or at either end of the text, they are invisible garbage."""
    before = text[pos - 1] if pos > 0 else ""
    after = text[pos + 1] if pos + 1 < len(text) else ""
    return not before or not after or before.isascii() or after.isascii()


def _mixed_language(text: str, user_text: str, grounding: str | Callable[[], str]) -> str | None:
    """ToolACE Table 4 "no mixed-language responses", for the Latin/CJK pairs of its en+zh data. The user's script
    decides the expected one: all Latin (no CJK character in the user turns) or mostly CJK (CJK characters at least
    30% of the letters). A user who mixes scripts themselves is not held to one. A response to a Latin-script user
    is mixed when it has 2+ CJK characters that occur nowhere in the user turns, tool definitions, calls or tool
    outputs (a Chinese place name copied from a tool output is fine); a response to a CJK user is mixed when it has
    3+ Latin words of 3+ letters (not all-caps acronyms) that occur nowhere there (API names, brands and units
    copied from those sources are fine). ``grounding`` (that text) may be a function giving it, called only when
    something has to be looked up in it (most answers have nothing to look up)."""
    # (str.isascii is a flag lookup: an ASCII text has no CJK character to look for)
    cjk_user = 0 if user_text.isascii() else len(_CJK.findall(user_text))
    if cjk_user == 0:
        found = [] if text.isascii() else _CJK.findall(text)
        if len(found) < 2:
            return None
        if callable(grounding):
            grounding = grounding()
        stray = [c for c in found if c not in grounding]
        if len(stray) >= 2:
            return f"CJK characters {''.join(stray[:10])!r} in an answer to a Latin-script user"
        return None
    latin_user = sum(len(w) for w in _LATIN_WORD.findall(user_text))
    if cjk_user >= 0.3 * (cjk_user + latin_user):
        if callable(grounding):
            grounding = grounding()
        low = grounding.lower()
        stray = [w for w in _LATIN_WORD.findall(text) if not w.isupper() and w.lower() not in low]
        if len(stray) >= 3:
            return f"Latin-script words {', '.join(stray[:6])} in an answer to a CJK-script user"
    return None


def _scan_bad_chars(strings: list[tuple[str, Any, str]]) -> list[str]:
    joined = "\n".join(t for _, _, t in strings)
    if not _BAD_CHARS.search(joined) and "\u200c" not in joined and "\u200d" not in joined:
        return []  # the common case, decided by one scan
    out = []
    for where, _, text in strings:
        for mt in _BAD_CHARS.finditer(text):
            out.append(f"{where}: {_char_name(mt.group())} at offset {mt.start()}")
        if "\u200c" in text or "\u200d" in text:
            for mt in _JOINERS.finditer(text):
                if _bad_joiner(text, mt.start()):
                    out.append(f"{where}: {_char_name(mt.group())} at offset {mt.start()}")
    return out


class _ToolLex:
    """What the lexical rules find in one tool definition, computed once per distinct definition: invalid
    characters and date->string artifacts (reasons without the tool's label, which the rule prefixes), its text (the
    canonical JSON: what an answer may quote), and the content words of its name, description and parameters (for
    ``task_consistency``). Most definitions are clean, so each check first screens the canonical JSON with one
    C-level scan and walks the definition only on a hit."""

    __slots__ = ("raw", "tool", "text", "bad_chars", "date", "_words", "_stems")

    def __init__(self, raw: Any, tool: ToolDef | None, key: str):
        self.raw, self.tool, self.text, self._words, self._stems = raw, tool, key, None, None
        strings: list[tuple[str, Any, str]] | None = None

        def walk() -> list[tuple[str, Any, str]]:
            nonlocal strings
            if strings is None:
                strings = []
                _walk_strings(raw, "", None, strings)
            return strings

        # json.dumps escapes C0 controls (\u00XX, \b, \f) and keeps everything else as is
        odd = _BAD_CHARS.search(key) or "\\u00" in key or "\\b" in key or "\\f" in key or "\u200c" in key \
            or "\u200d" in key
        self.bad_chars = _scan_bad_chars(walk()) if odd else []
        self.date: list[str] = []
        # a "string" that is a whole JSON string (the type name) cannot be an artifact; any other one is looked at
        if key.count("tring") != key.count('"string"') and _DATE_TEXT.search(key):
            self.date += _scan_date_text(walk())
        if 'tring": ' in key:  # a key ending in "string" / "String"
            self.date += _scan_date_keys(walk())
        if tool is not None and "tring" in key:
            for name, sub in tool.parameters.properties.items():  # "string", "strings", "<x>_string(s)"
                if name != "string" and not _PLURAL_STRING.search(name) and not _NAME_SUFFIX.match(name):
                    continue
                described = " ".join(str(v) for v in (sub.description, sub.default, sub.items and
                                                      sub.items.description) if v)
                if described and (_DATE_VALUE.search(described) or "YYYY" in described or "MM/DD" in described):
                    self.date.append(f": parameter {name!r} is described as a date (date->string corruption)")

    @property
    def stems(self) -> frozenset[str]:
        """The :func:`_stem` of each of :attr:`words`."""
        if self._stems is None:
            self._stems = frozenset(_stem(w) for w in self.words)
        return self._stems

    @property
    def words(self) -> frozenset[str]:
        if self._words is None:
            tool = self.tool
            self._words = _content_words(" ".join([tool.name, tool.description or ""] + [
                f"{p} {sub.description or ''}" for p, sub in tool.parameters.properties.items()])) if tool else \
                frozenset()
        return self._words


def _tool_lex(t: ToolDef, tool: ToolDef | None, key: str) -> _ToolLex:
    """The :class:`_ToolLex` of sample tool ``t`` (``tool``: ``t`` when readable, else None; ``key``: its canonical
    JSON), once per tool."""
    return t.derived("verify.lex", lambda _: _ToolLex(t.source, tool, key))


# -- date_string_artifacts ----------------------------------------------------------------------------------------

# The released ToolACE data (HF Team-ACE/ToolACE) had every lowercase "date" replaced by "string". Lexical signatures,
# each chosen so that real words do not match: "update" -> "upstring" (only where "up" starts a word or a camelCase
# part, so "setupString" passes), "up-to-date" -> "up-to-string", "dated" -> "stringd" (no English word contains
# "stringd"), "validate"/"candidate"/... -> "valistring"/"candistring"/..., "datetime" -> "stringtime", "date of
# birth" -> "string of birth", "<due|birth|release|...> date" -> "<...> string".
_DATE_TEXT = re.compile(
    r"(?i:\bup[- ]to[- ]string\b)"
    r"|(?:(?<![A-Za-z])[Uu]p|(?<=[a-z])Up)[Ss]tring"
    r"|[Ss]tringd(?![a-z])"
    r"|(?:(?<![A-Za-z])|(?<=[a-z])(?=[A-Z]))(?:[Ii]nvali|[Vv]ali|[Cc]andi|[Cc]onsoli|[Aa]ccommo|[Ll]iqui|[Ii]ntimi"
    r"|[Ee]luci|[Mm]an)[Ss]tring"
    r"|(?:(?<![A-Za-z])[Ss]|(?<=[a-z])S)tring[-_ ]?[Tt]ime(?![a-z])"
    r"|(?i:\bstring[ _]of[ _]birth\b)"
    r"|(?i:\b(?:birth|due|expiry|expiration|release|departure|arrival|delivery|publication|maturity|settlement"
    r"|check-in|check-out)[ -]string\b)")
# Words that precede "_date" in parameter and field names; "<word>_string" (or camelCase "<word>String") is then the
# corrupted name. Deliberately absent: query, search, format, connection, input, user_agent, to, from, ... whose
# "_string" is the real word (query_string, format_string, to_string).
_DATE_PREFIXES = frozenset("""
start end begin finish birth due expiry expiration expire release departure arrival return check_in checkin
check_out checkout issue publish publication published delivery effective payment booking reservation event
travel transaction order ship shipping creation created modified updated last first launch settlement maturity trade
report pickup dropoff move_in move_out hire join joining registration renewal termination cutoff deadline
""".split())
_REAL_STRING_BASES = frozenset("""
query search format connection input output user_agent text raw json xml sub match replacement pattern filter url
command template version id encoded decoded base64 hex password secret token test sample source target result
date time datetime timestamp iso
""".split())
_DATE_VALUE = re.compile(
    r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{2,4}"
    r"|(?i:\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.? \d{1,2}(?:st|nd|rd|th)?,? \d{4})")
_NAME_SUFFIX = re.compile(r"\A(.+?)(?:_string|String)\Z")


def _corrupt_name(key: str, value: Any) -> bool:
    """``start_string`` / ``startString`` / ``birth_string``: a date-twin prefix, or any non-generic prefix holding
    a date value."""
    m = _NAME_SUFFIX.match(key)
    if not m:
        return False
    base = m.group(1)
    snake = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", base).lower()
    if snake in _DATE_PREFIXES or snake.rsplit("_", 1)[-1] in _DATE_PREFIXES:
        return True
    return (isinstance(value, str) and snake not in _REAL_STRING_BASES and bool(_DATE_VALUE.search(value)))


_PLURAL_STRING = re.compile(r"(?:\A|_)strings\Z|[a-z]Strings\Z")


def _scan_plural_dates(sample: Sample) -> list[str]:
    """Call arguments named ``strings`` / ``<x>_strings`` whose values are dates: a ``dates`` parameter renamed by
    the corruption (the definition was renamed with it, so ``unknown_params`` cannot see it)."""
    out = []
    for i, m in enumerate(sample.messages):
        for k, call in enumerate(m.calls or ()):
            for name, value in call.arguments.items():
                if isinstance(name, str) and _PLURAL_STRING.search(name) and any(
                        isinstance(v, str) and _DATE_VALUE.search(v) for v in leaf_values(value)):
                    out.append(f"turn {i} call {k} {call.name!r}: parameter {name!r} holds dates {_short(value)} "
                               "(a dates field renamed by the date->string corruption)")
    return out


def _scan_date_text(strings: list[tuple[str, Any, str]]) -> list[str]:
    # every pattern of _DATE_TEXT contains "tring": a substring test skips the regex for almost every string
    if "tring" not in "\n".join(t for _, _, t in strings):
        return []
    out = []
    for where, _, text in strings:
        m = _DATE_TEXT.search(text) if "tring" in text else None
        if m:
            out.append(f"{where}: {_word_around(text, m.start(), m.end())!r} in {_short(text, 80)} (date->string "
                       "corruption)")
    return out


def _scan_date_keys(strings: list[tuple[str, Any, str]]) -> list[str]:
    """Keys named ``string`` holding a date, and corrupted ``<x>_string`` names (the walker emits each key as
    ``(where, "<key>", key)`` right before its value)."""
    out = []
    for n, (where, key, text) in enumerate(strings):
        if key != "<key>" or not text.endswith(("tring", "String")):
            continue
        value = _value_after(strings, n)
        if text == "string" or text == "String":
            if isinstance(value, str) and _DATE_VALUE.search(value):
                out.append(f"{where}: key 'string' holds the date {_short(value)} (date->string corruption)")
        elif _corrupt_name(text, value):
            out.append(f"{where}: name '{text}' (a date field renamed by the date->string corruption)")
    return out


def _word_around(text: str, start: int, end: int) -> str:
    """The whole word a match lies in ("upstrings" for a match of "upstring")."""
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
        start -= 1
    while end < len(text) and (text[end].isalnum() or text[end] == "_"):
        end += 1
    return text[start:end]


def _value_after(strings: list, n: int) -> Any:
    """The string value that directly follows key entry ``n`` of the flattened list, if it is that key's value."""
    if n + 1 < len(strings):
        where, key, text = strings[n + 1]
        if key == strings[n][2] and where == strings[n][0]:
            return text
    return None
