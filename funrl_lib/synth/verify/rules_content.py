"""The rule layer on a sample's content (ToolACE §2.3 rule checker, App. B Table 4): tool definitions, required
fields, calls and their arguments, response length and completeness, invalid characters and mixed language, and the
``date``->``string`` artifacts of the released ToolACE data. Each check is a ``rule_<name>(sample, ctx)`` registered
in :data:`.context.RULES` in this order."""

from __future__ import annotations

import re
from functools import lru_cache

from ..sample import Sample
from .common import _dedupe, _short, _type_name
from .context import VerifyContext, _rule
from .lexical import (_BAD_CHARS, _mixed_language, _scan_bad_chars, _scan_date_keys, _scan_date_text,
                      _scan_plural_dates)


@_rule("rule")
def rule_tool_schema(sample: Sample, ctx: VerifyContext) -> list[str]:
    """Table 4, "API definition clarity": every definition is a valid schema (:func:`funrl_lib.tools.validate_tool`:
    known types, ``required`` naming real properties, enum/default values of the declared type, valid regexes) and
    has all necessary fields (name, description, parameters). Two tools with one name make every call to it
    ambiguous, so that is reported too."""
    out: list[str] = []
    seen: dict[str, int] = {}
    for i, (tool, issues, _) in enumerate(ctx.view(sample).parsed):
        name = tool.name if tool is not None else None
        label = f"tools[{i}]" + (f" '{name}'" if name else "")
        out.extend(f"{label}: {issue}" for issue in issues)
        if name is not None:
            if name in seen:
                out.append(f"{label}: duplicate name (also tools[{seen[name]}])")
            seen.setdefault(name, i)
    return out


@_rule("rule")
def rule_dialog_fields(sample: Sample, ctx: VerifyContext) -> list[str]:
    """Table 4, "all necessary fields": a non-empty tool list (unless the dialog is pure chat: no call and no tool
    turn), a non-empty dialog, and in every turn its role's fields: a user turn's text, a call's name and argument
    object, a tool turn's ``{"name", "results"}`` items. An assistant turn with nothing in it is an empty response
    (``response_length``)."""
    out: list[str] = []
    s = sample
    if not isinstance(s.tools, list):
        out.append(f"tools: expected a list, got {_type_name(s.tools)}")
    elif not s.tools and any(m.is_call or m.role == "tool" for m in s.messages):
        out.append("tools: empty, but the dialog calls tools")
    if not s.messages:
        out.append("messages: empty dialog")
    for i, m in enumerate(s.messages):
        if m.role == "user" and not (m.content or "").strip():
            out.append(f"turn {i} (user): empty text")
        elif m.role == "assistant" and m.calls is not None:
            if not m.calls:
                out.append(f"turn {i} (assistant): empty call list")
            for k, c in enumerate(m.calls):
                if not isinstance(c.name, str) or not c.name.strip():
                    out.append(f"turn {i} call {k}: missing function name")
                if not isinstance(c.arguments, dict):
                    out.append(f"turn {i} call {k}: arguments are not an object")
        elif m.role == "tool" and m.raw is None:
            if not m.results:
                out.append(f"turn {i} (tool): no results")
            for k, r in enumerate(m.results or ()):
                if not isinstance(r, dict):
                    out.append(f"turn {i} (tool) result {k}: expected {{\"name\", \"results\"}}, got "
                               f"{_type_name(r)}")
                else:
                    missing = [f for f in ("name", "results") if f not in r]
                    if missing:
                        out.append(f"turn {i} (tool) result {k}: missing {', '.join(repr(f) for f in missing)}")
    return out


@_rule("rule")
def rule_call_parses(sample: Sample, ctx: VerifyContext) -> list[str]:
    """Assistant call turns and tool outputs decoded: a turn read from another format that looked like a call list
    (or a tool output) but did not decode keeps its text in ``raw`` and the reason in ``problem``."""
    out = []
    for i, m in enumerate(sample.messages):
        if m.raw is not None and ((m.role == "assistant" and m.calls is None) or (m.role == "tool" and m.results
                                                                                   is None)):
            what = "call list" if m.role == "assistant" else "tool output"
            out.append(f"turn {i} ({m.role}): {what} does not decode: {m.problem or 'unknown reason'}: "
                       f"{_short(m.raw, 80)}")
    return out


@_rule("rule")
def rule_call_name_exists(sample: Sample, ctx: VerifyContext) -> list[str]:
    """Table 4, "API name is in the tool list": a call to a name no tool has cannot be executed, and training on it
    teaches the model to invent functions (matched exactly, as BFCL's checker does)."""
    names = list(ctx.view(sample).defs)
    out = []
    for i, m in enumerate(sample.messages):
        for k, c in enumerate(m.calls or ()):
            if c.name not in names:
                out.append(f"turn {i} call {k}: '{c.name}' is not among the tools ({', '.join(names) or 'none'})")
    return out


@_rule("rule")
def rule_required_params(sample: Sample, ctx: VerifyContext) -> list[str]:
    """Table 4, "all required parameters provided", also inside dict parameters that declare their properties."""
    return _dedupe([r for cat, r in ctx.view(sample).arg_issues() if cat == "required"])


@_rule("rule")
def rule_unknown_params(sample: Sample, ctx: VerifyContext) -> list[str]:
    """Every argument name is a parameter of the definition (and every key of a dict parameter with declared
    properties is one of them). Not in Table 4, and that is how the released ToolACE data kept calls with
    ``start_string`` / ``end_string`` where the definition says ``start_date`` / ``end_date``."""
    return _dedupe([r for cat, r in ctx.view(sample).arg_issues() if cat == "unknown"])


@_rule("rule")
def rule_param_values(sample: Sample, ctx: VerifyContext) -> list[str]:
    """Table 4, "parameter formats/patterns match the definition". Types in BFCL's dialect (an integer is accepted
    for a float as BFCL converts it; ``bool`` is never a number; a union type accepts any member; ``null`` only
    where the type or a ``null`` default allows it), enum (for an array: each element, BFCL's convention), ``pattern``
    with JSON Schema semantics (``re.search``: a pattern constrains the whole value only when it anchors itself
    with ``^...$``, as ToolACE's synthesized patterns do), ``format`` date (YYYY-MM-DD and a real calendar day),
    date-time, time and email, and the numeric, length and item-count bounds; recursively into array items and dict
    properties."""
    return _dedupe([r for cat, r in ctx.view(sample).arg_issues() if cat == "value"])


# -- response_length ---------------------------------------------------------------------------------------------

_OPENERS = {"(": ")", "[": "]", "{": "}", "（": "）", "【": "】", "「": "」", "『": "』", "“": "”"}
_TERMINAL = set(".!?。！？…\"'”’)]}»」』）】*`~")
_ELLIPSIS_CUT = re.compile(r"\w(?:\.\.\.|…)\s*\Z")
_LIST_LINE = re.compile(r"\s*(?:[-*+•]|\d+[.)]|\|)\s*")


def _truncation(text: str, long_text: int) -> str | None:
    """Why ``text`` looks cut off, or ``None``."""
    stripped = text.rstrip()
    for opener, closer in _OPENERS.items():
        if opener == closer:
            continue
        if stripped.count(opener) > stripped.count(closer):
            return f"unbalanced {opener!r} (opened {stripped.count(opener)}, closed {stripped.count(closer)})"
    if stripped.count('"') % 2:
        return "unbalanced '\"'"
    if _ELLIPSIS_CUT.search(stripped):
        return "ends with '...' right after a word"
    if len(stripped) >= long_text:
        last = stripped[-1]
        last_line = stripped.rsplit("\n", 1)[-1]
        if last not in _TERMINAL and not _LIST_LINE.match(last_line) and (last.isalnum() or last in ",;:-("):
            return f"a long answer ({len(stripped)} chars) that ends without terminal punctuation: ...{stripped[-30:]!r}"
    return None


@_rule("rule")
def rule_response_length(sample: Sample, ctx: VerifyContext) -> list[str]:
    """Table 4, "assistant response not too long" and "response complete". A text answer must be non-empty, at most
    ``ctx.max_response_chars`` long, and not truncated. Truncation signs: more opening than closing brackets or an
    odd number of ``"`` (a cut inside a parenthesis or quotation), an ellipsis glued to a word (``...temperatu...``:
    generators mark a cut that way; a finished answer does not trail off), and a long answer (``ctx.long_text_chars``)
    whose last character is a letter, digit, comma, colon or dash, unless its last line is a list item or table row.
    A call list kept as raw text (it did not decode) is checked for the same cut."""
    out = []
    for i, m in enumerate(sample.messages):
        if m.role != "assistant":
            continue
        if m.calls is None and m.raw is not None:
            why = _truncation(m.raw, 10**9)
            if why:
                out.append(f"turn {i} (assistant): call list cut off: {why}")
            continue
        if m.calls is not None:
            continue
        text = m.content or ""
        if not text.strip():
            out.append(f"turn {i} (assistant): empty response")
            continue
        if len(text) > ctx.max_response_chars:
            out.append(f"turn {i} (assistant): response too long ({len(text)} chars > {ctx.max_response_chars})")
        why = _truncation(text, ctx.long_text_chars)
        if why:
            out.append(f"turn {i} (assistant): response looks truncated: {why}")
    return out


@_rule("rule")
def rule_invalid_chars(sample: Sample, ctx: VerifyContext) -> list[str]:
    """Table 4, "no invalid characters" and "no mixed-language responses". Invalid anywhere in the sample
    (definitions, texts, calls, tool outputs): C0/C1 control characters other than tab, newline and carriage
    return (an ANSI escape is one), U+FFFD (a decoding accident), zero-width spaces / word joiners / BOMs, stray
    ZWJ/ZWNJ (see :func:`_bad_joiner`) and lone surrogates. Mixed language: see :func:`_mixed_language`."""
    view = ctx.view(sample)
    out = [label + r for label, lex in view.tool_lex() for r in lex.bad_chars]
    blob = view.blob()
    if blob is None or _BAD_CHARS.search(blob) or "\u200c" in blob or "\u200d" in blob:
        out += _scan_bad_chars(view.strings())
    user_text = " ".join(m.content for m in sample.messages if m.role == "user" and m.content)
    answers = [(i, m.content) for i, m in enumerate(sample.messages)
               if m.role == "assistant" and m.calls is None and m.content]
    if answers:
        # what an answer may quote in another script: the user's words, definitions, calls and tool outputs
        # (built once, and only when an answer has a character or word to look up)
        @lru_cache(maxsize=1)
        def grounding() -> str:
            return "\n".join([user_text] + [lex.text for _, lex in view.tool_lex()]
                             + [t for w, _, t in view.strings() if " call " in w or "(tool)" in w])
        for i, text in answers:
            why = _mixed_language(text, user_text, grounding)
            if why:
                out.append(f"turn {i} (assistant): mixed-language response: {why}")
    return _dedupe(out)


@_rule("rule")
def rule_date_string_artifacts(sample: Sample, ctx: VerifyContext) -> list[str]:
    """The lexical signature of the released ToolACE data's ``date``->``string`` corruption, in definitions, calls,
    tool outputs and texts: the text patterns of ``_DATE_TEXT`` (``up-to-string``, ``upstring(s|d)``,
    ``upstringdDate``, ``candistring``, ``stringtime``, ...), names ``<x>_string`` / ``<x>String`` whose ``<x>`` is a
    word that precedes "date" (start, end, birth, due, check_in, ...) or that hold a date value (unless ``<x>`` is a
    word whose string is real: query_string, connection_string, format_string and ``substring`` pass), a key named
    ``"string"`` holding a date, and a definition parameter named ``string`` described with a date format."""
    view = ctx.view(sample)
    out = [label + r for label, lex in view.tool_lex() for r in lex.date]
    blob = view.blob()
    if blob is None or "tring" in blob:  # both scans look only at strings containing "tring" ("String" does)
        strings = view.strings()
        out += _scan_date_text(strings) + _scan_date_keys(strings) + _scan_plural_dates(sample)
    return _dedupe(out)
