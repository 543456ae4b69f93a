"""BFCL v4 ``format_sensitivity`` (non-scoring, reported by the leaderboard for prompt models): the 200 entries of
``BFCL_v4_format_sensitivity.json`` asked under 26 system-prompt configurations (5,200 ids), their generation
prompts, the decoders of every return format, and the official summary (accuracy per configuration and the max
delta between configurations).

A port of bfcl-eval 2026.3.23 (Apache-2.0): ``utils.load_format_sensitivity_test_cases`` /
``get_all_format_sensitivity_configs`` (ids ``format_sensitivity_<n>:<config>:<original id>``, entry-major, the
configurations in BFCL's order), ``model_handler/utils.formulate_system_prompt`` and its function-doc renderers
(JSON, XML, Python docstring), ``default_decode_ast_prompting`` + ``ast_parse`` for the return formats ``python``,
``json``, ``verbose_xml``, ``concise_xml`` with or without a ``<TOOLCALL>`` tag (``parser/json_parser.py``,
``parser/xml_parser.py``: ``xml.etree`` and ``ast.literal_eval``, nothing executed), and
``eval_runner.format_sensitivity_runner``: each answer is checked by the Python AST checker with the original entry's
id as the category (so ``parallel``/``multiple`` dispatch as in that category); the summary is accuracy per
configuration, ``accuracy_max_delta`` = round((max - min) * 100, 2), ``accuracy_variance`` (x100^2) and
``accuracy_std`` (x100), rounded to 2 decimals.

BFCL quirks kept: the function descriptions carry the Python hint twice in generation (the loader adds it to entries
that already have it); a Python answer inside ``<TOOLCALL>`` is parsed as it is (no ``[...]`` wrapping, no backtick
stripping); BFCL does not run format sensitivity for FC models (neither does funrl).

Parity: tests/test_bfcl_format_sensitivity.py (prompts against BFCL's own functions) and its fixture recorded by
``scripts/bfcl_parity.py --format-sensitivity``.
"""

from __future__ import annotations

import ast
import copy
import json
import re
import statistics
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from ..calls import Call, DecodeError, decode_python
from .checker import check_calls
from .value_checks import Verdict, _fail
from .data import VERSION_PREFIX, BFCLEntry, find_data_dir, load_category
from .prompts import language_hint, with_system
from .score import ScoreReport, score_lines

__all__ = ["CATEGORY", "CONFIGS", "FormatSensitivityEntry", "decode_format", "format_messages",
           "format_sensitivity_summary", "formulate_system_prompt", "load_format_sensitivity", "parse_config",
           "score_format_sensitivity", "score_format_sensitivity_file"]

CATEGORY = "format_sensitivity"
_BASE = [f"ret_fmt={r}&tool_call_tag={t}&func_doc_fmt={d}&prompt_fmt=plaintext&style=classic"
         for r in ("python", "json", "verbose_xml", "concise_xml") for t in ("True", "False")
         for d in ("python", "xml", "json")]
CONFIGS: tuple[str, ...] = tuple(_BASE + [
    "ret_fmt=python&tool_call_tag=False&func_doc_fmt=json&prompt_fmt=markdown&style=classic",
    "ret_fmt=python&tool_call_tag=False&func_doc_fmt=json&prompt_fmt=plaintext&style=experimental"])
_CONFIG = re.compile(r"^ret_fmt=(?P<ret>python|json|verbose_xml|concise_xml)&tool_call_tag=(?P<tag>True|False)"
                     r"&func_doc_fmt=(?P<doc>python|xml|json)&prompt_fmt=(?P<fmt>plaintext|markdown)"
                     r"&style=(?P<style>classic|experimental)$")


def parse_config(config: str) -> tuple[str, bool, str, str, str]:
    """``parse_prompt_variation_params``: (return format, tool-call tag, function-doc format, prompt format,
    style)."""
    m = _CONFIG.match(config)
    if not m:
        raise ValueError(f"Invalid query format: {config!r}")
    return m["ret"], m["tag"] == "True", m["doc"], m["fmt"], m["style"]


# ---------------------------------------------------------------------------------------------------------------
# Entries
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class FormatSensitivityEntry(BFCLEntry):
    """A BFCL entry asked under one prompt configuration (``category`` is ``format_sensitivity``)."""

    config: str = ""
    source_id: str = ""
    source_category: str = ""


@lru_cache(maxsize=2)
def _load(data_dir: Path) -> dict[str, FormatSensitivityEntry]:
    ids_by_category = json.loads((data_dir / f"{VERSION_PREFIX}_{CATEGORY}.json").read_text(encoding="utf-8"))
    sources: list[BFCLEntry] = []
    for category, ids in ids_by_category.items():  # load_test_entries_from_id_file: dataset order, ids filtered
        if not ids:
            continue
        wanted = set(ids)
        sources += [e for e in load_category(category, data_dir).values() if e.id in wanted]
    out: dict[str, FormatSensitivityEntry] = {}
    index = 0
    for source in sources:
        for config in CONFIGS:
            entry_id = f"{CATEGORY}_{index}:{config}:{source.id}"
            out[entry_id] = FormatSensitivityEntry(entry_id, CATEGORY, source.question, source.functions,
                                                   source.raw_functions, source.possible_answer, config=config,
                                                   source_id=source.id, source_category=source.category)
            index += 1
    return out


def load_format_sensitivity(data_dir: str | Path | None = None) -> dict[str, FormatSensitivityEntry]:
    """The 5,200 format-sensitivity entries keyed by BFCL's id, in BFCL's order (cached; read-only)."""
    return _load(find_data_dir(data_dir))


# ---------------------------------------------------------------------------------------------------------------
# Prompts (model_handler/utils.formulate_system_prompt and constants/default_prompts)
# ---------------------------------------------------------------------------------------------------------------

OUTPUT_FORMAT = {
    "python": "[func_name1(params_name1=params_value1, params_name2=params_value2...), func_name2(params)]",
    "json": '```json\n[{"function":"func_name1","parameters":{"param1":"value1","param2":"value2"...}},'
            '{"function":"func_name2","parameters":{"param":"value"}}]\n```',
    "verbose_xml": '<functions><function name="func_name1"><params><param name="param1" value="value1" '
                   'type="type1"/><param name="param2" value="value2" type="type2"/>...</params></function>'
                   '<function name="func_name2"><params><param name="param3" value="value3" type="type3"/></params>'
                   '</function></functions>',
    "concise_xml": '<functions><function name="func_name1"><param name="param1" type="type1">value1</param>'
                   '<param name="param2" type="type2">value2</param>...</function><function name="func_name2">'
                   '<param name="param3" type="type3">value</param></function></functions>',
}
_XML_TYPES = ("The type fields of the parameters in your function calls must be one of: string, integer, float, "
              "boolean, array, dict, or tuple.")
PARAM_TYPES = {"python": "", "json": "", "verbose_xml": _XML_TYPES, "concise_xml": _XML_TYPES}
STYLES = {
    "classic": {
        "persona": "You are an expert in composing functions.",
        "task": "You are given a question and a set of possible functions. Based on the question, you will need to "
                "make one or more function/tool calls to achieve the purpose. If none of the functions can be used, "
                "point it out. If the given question lacks the parameters required by the function, also point it "
                "out.",
        "tool_call_no_tag": "You should only return the function calls in your response.\n\nIf you decide to invoke "
                            "any of the function(s), you MUST put it in the format of {output_format}. "
                            "{param_types} You SHOULD NOT include any other text in the response.",
        "tool_call_with_tag": "You should only return the function calls in the <TOOLCALL> section. If you decide to "
                              "invoke any of the function(s), you MUST put it in the format of "
                              "<TOOLCALL>{output_format}</TOOLCALL>. {param_types} You SHOULD NOT include any other "
                              "text in the response.",
        "multiturn_behavior": "At each turn, you should try your best to complete the tasks requested by the user "
                              "within the current turn. Continue to output functions to call until you have "
                              "fulfilled the user's request to the best of your ability. Once you have no more "
                              "functions to call, the system will consider the current turn complete and proceed "
                              "to the next turn or task.",
        "available_tools": "Here is a list of functions in {format} format that you can invoke.\n{functions}\n",
    },
    "experimental": {
        "persona": "You are an expert in generating structured function calls.",
        "task": "You are given a user query and a set of available functions. Your task is to produce one or more "
                "function/tool calls to fulfill the user's request. If no suitable function exists, or required "
                "parameters are missing, clearly indicate this.",
        "tool_call_no_tag": "Respond with only the function calls.\n\nYou MUST format it exactly as {output_format}. "
                            "{param_types} Do NOT include any other text.",
        "tool_call_with_tag": "Return only the function calls enclosed in <TOOLCALL> tags.\n\nYou MUST format it "
                              "exactly as <TOOLCALL>{output_format}</TOOLCALL>. {param_types} Do NOT include any "
                              "other text.",
        "multiturn_behavior": "At every turn, aim to complete the user's tasks within that turn. Continue emitting "
                              "function calls until the request is satisfied to the best of your ability. Once no "
                              "more calls are needed, the system will proceed to the next turn.",
        "available_tools": "Below is a list of callable functions in the {format} style:\n{functions}\n",
    },
}
TEMPLATES = {
    "plaintext": "{persona}{task}\n\n{tool_call_format}\n\n{multiturn_behavior}\n\n{available_tools}",
    "markdown": "{persona}\n\n## Task\n{task}\n\n## Tool Call Format\n{tool_call_format}\n\n## Multi-turn Behavior\n"
                "{multiturn_behavior}\n\n## Available Tools\n{available_tools}",
}


def _doc_xml(functions: list[dict]) -> str:
    def param(name: str, meta: dict, required: list | None, level: int = 2) -> str:
        indent = " " * level * 2
        p_type = meta.get("type", "string")
        desc = meta.get("description", "")
        is_required = "true" if required is None or name in required else "false"
        if "enum" in meta:
            desc += f" Enum values: {meta['enum']}."
        if "items" in meta and "type" in meta["items"]:
            p_type = f"{p_type}[{meta['items']['type']}]"
        elif "additionalProperties" in meta:
            p_type = f"{p_type}[{meta['additionalProperties'].get('type', 'string')}]"
        attrs = [f'name="{name}", type="{p_type}", required="{is_required}"']
        if "default" in meta:
            attrs.append(f'default="{meta["default"]!r}"')
        parts = [f"{indent}<param " + " ".join(attrs).replace(",", "") + ">\n", f"{indent}  <desc>{desc}</desc>\n"]
        if "properties" in meta:
            parts.append(f"{indent}  <params>\n")
            for child, child_meta in meta["properties"].items():
                parts.append(param(child, child_meta, meta.get("required", None), level + 2))
            parts.append(f"{indent}  </params>\n")
        parts.append(f"{indent}</param>\n")
        return "".join(parts)

    blocks = []
    for fn in functions:
        schema = fn["parameters"]
        xml = f'<function name="{fn["name"]}">\n  <desc>{fn.get("description", "")}</desc>\n  <params>\n'
        for name, meta in schema.get("properties", {}).items():
            xml += param(name, meta, schema.get("required", None), 2)
        blocks.append(xml + "  </params>\n</function>\n")
    return "\n".join(blocks)


def _doc_python(functions: list[dict]) -> str:
    primitive = {"string": "str", "number": "float", "integer": "int", "boolean": "bool"}

    def py_type(meta: dict) -> str:
        t = meta.get("type", "string")
        if t in primitive:
            return primitive[t]
        if t in {"array", "list", "tuple"} and "items" in meta:
            return f"list[{py_type(meta['items'])}]"
        if t in {"object", "dict"}:
            if "additionalProperties" in meta:
                return f"dict[str, {py_type(meta['additionalProperties'])}]"
            return "dict"
        return t

    def param(name: str, meta: dict, depth: int = 0) -> list[str]:
        indent = " " * 8 + " " * 4 * depth
        desc = meta.get("description", "")
        if "enum" in meta:
            desc += f" Enum values: {meta['enum']}."
        default = f", default={meta['default']!r}" if "default" in meta else ""
        lines = [f"{indent}{name} ({py_type(meta)}{default}): {desc}\n"]
        for child, child_meta in meta.get("properties", {}).items():
            lines += param(child, child_meta, depth + 1)
        return lines

    docs = []
    for fn in functions:
        lines = [f"# Function: {fn['name']}\n", '    """\n', f"    {fn.get('description', '')}\n\n"]
        props = fn.get("parameters", {}).get("properties", {})
        if props:
            lines.append("    Args:\n")
            for name, meta in props.items():
                lines += param(name, meta)
        lines.append('    """\n')
        docs += ["".join(lines), "\n"]
    return "\n\n".join(docs)


def formulate_system_prompt(config: str, functions: list[dict]) -> str:
    """BFCL's system prompt for ``config`` and the (already hinted) function docs."""
    ret, tag, doc_fmt, prompt_fmt, style = parse_config(config)
    docs = (_doc_xml(functions) if doc_fmt == "xml" else _doc_python(functions) if doc_fmt == "python"
            else json.dumps(functions, indent=4))
    s = STYLES[style]
    tool_call = s["tool_call_with_tag" if tag else "tool_call_no_tag"].format(output_format=OUTPUT_FORMAT[ret],
                                                                              param_types=PARAM_TYPES[ret])
    return TEMPLATES[prompt_fmt].format(persona=s["persona"], task=s["task"], tool_call_format=tool_call,
                                        multiturn_behavior=s["multiturn_behavior"],
                                        available_tools=s["available_tools"].format(format=doc_fmt, functions=docs))


def format_messages(entry: FormatSensitivityEntry) -> list[dict]:
    """The messages BFCL sends a prompt model for ``entry``: its configuration's system prompt (prepended to a system
    message the question has) over the function docs with the Python hint, twice (BFCL's loader adds it again)."""
    docs = copy.deepcopy(entry.raw_functions)
    for doc in docs:
        doc["description"] = doc.get("description", "") + language_hint(CATEGORY) * 2
    return with_system(entry.question[0], formulate_system_prompt(entry.config, docs))


# ---------------------------------------------------------------------------------------------------------------
# Decoding (default_decode_ast_prompting + ast_parse for every return format)
# ---------------------------------------------------------------------------------------------------------------

class _Failure(Exception):
    pass


def _python_bare(text: str) -> list[dict]:
    """``ast_parse`` Python branch on text that was not wrapped (the inside of a ``<TOOLCALL>`` tag): strip spaces
    and single quotes, parse; a call, or a list/tuple/set of calls. Values are resolved by funrl's decoder (the
    elements re-joined in a list, which it reads exactly as BFCL reads them)."""
    s = text.strip().strip("'")
    try:
        body = ast.parse(s, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError) as e:
        raise _Failure(f"not Python syntax: {e}") from None
    if isinstance(body, ast.Call):
        elements = [body]
    elif hasattr(body, "elts"):
        elements = body.elts
    else:
        raise _Failure(f"'{type(body).__name__}' object has no attribute 'elts'")
    segments = [ast.get_source_segment(s, e) for e in elements]
    if any(seg is None or not isinstance(e, ast.Call) for seg, e in zip(segments, elements)):
        raise _Failure("an element is not a call")
    calls = decode_python("[" + ", ".join(segments) + "]")  # type: ignore[arg-type]
    return [c.to_bfcl() for c in calls]


def _convert(raw: str, type_str: str) -> Any:
    """``xml_parser.convert_value_by_type``."""
    if type_str == "string":
        return raw
    if type_str == "integer":
        return int(raw)
    if type_str == "float":
        return float(raw)
    if type_str == "boolean":
        return raw.lower() == "true"
    if type_str == "null":
        return None
    if type_str in ("array", "tuple", "object", "dict"):
        return ast.literal_eval(raw)
    return raw


def _xml(text: str, verbose: bool) -> list[dict]:
    root = ET.fromstring(text)
    results = []
    for func in root.findall("function"):
        name = func.attrib["name"]
        params: dict = {}
        if verbose:
            container = func.find("params")
            elements = container.findall("param") if container is not None else func.findall("param")
            for p in elements:
                params[p.attrib.get("name")] = _convert(p.attrib.get("value", ""), p.attrib.get("type", "string"))
        else:
            for p in func.findall("param"):
                params[p.attrib["name"]] = _convert((p.text or "").strip(), p.attrib.get("type", "string"))
        results.append({name: params})
    return results


def _json(text: str) -> list:
    m = re.search(r"\[.*\]", text, re.DOTALL)
    if m:
        text = m.group(0)
    m = re.search(r"\[\s*{.*?}\s*(?:,\s*{.*?}\s*)*\]", text, re.DOTALL)
    if m:
        text = m.group(0)
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError:
        return []
    calls = []
    for item in loaded:
        if isinstance(item, dict):
            calls.append({item["function"]: item["parameters"]})
    return calls


def decode_format(text: Any, return_format: str, has_tool_call_tag: bool) -> Any:
    """What BFCL's prompt-model ``decode_ast`` returns for ``text`` under a configuration; raises where it raises."""
    if not isinstance(text, str):
        raise _Failure(f"'{type(text).__name__}' object has no attribute 'strip'")
    if return_format == "python" and not has_tool_call_tag:
        return [c.to_bfcl() for c in decode_python(text)]
    s = text.strip("`\n ")
    if not s.startswith("["):
        s = "[" + s
    if not s.endswith("]"):
        s = s + "]"
    if has_tool_call_tag:
        m = re.search(r"<TOOLCALL>(.*?)</TOOLCALL>", s, re.DOTALL)
        if not m:
            raise _Failure("No tool call tag found in input string")
        s = m.group(1).strip()
    if return_format == "python":
        return _python_bare(s)
    if return_format in ("verbose_xml", "concise_xml"):
        m = re.search(r"<functions>(.*?)</functions>", s, re.DOTALL)
        if not m:
            raise _Failure("No XML function call found in input string. Missing <functions> tag.")
        return _xml(m.group(0), return_format == "verbose_xml")
    return _json(s)


def _is_call_format(decoded: Any) -> bool:
    if type(decoded) != list:
        return False
    return all(type(i) == dict and len(i) == 1 and type(list(i.values())[0]) == dict for i in decoded)


def check_format_entry(entry: FormatSensitivityEntry, output: Any) -> Verdict:
    """``_evaluate_single_ast_entry`` as ``format_sensitivity_runner`` calls it."""
    ret, tag, *_ = parse_config(entry.config)
    try:
        decoded = decode_format(output, ret, tag)
    except Exception as e:  # noqa: BLE001 - any exception in BFCL's decoding is a failed decode
        return _fail("ast_decoder:decoder_failed", f"Invalid syntax. Failed to decode AST. {str(e)[:300]}")
    if not _is_call_format(decoded):
        return _fail("ast_decoder:decoder_wrong_output_format", "Did not output in the specified format.")
    try:
        calls = [Call.from_bfcl(d) for d in decoded]
        return check_calls(entry.functions, calls, entry.possible_answer or [], entry.source_id)
    except Exception as e:  # noqa: BLE001 - the official evaluation would abort here
        return _fail(f"checker_error:{type(e).__name__}", f"the official checker raises here: {str(e)[:300]}")


# ---------------------------------------------------------------------------------------------------------------
# Result files and the summary
# ---------------------------------------------------------------------------------------------------------------

def score_format_sensitivity(lines: Iterable[str], *, entries: dict[str, FormatSensitivityEntry] | None = None,
                             data_dir: str | Path | None = None, source: str = "<results>") -> ScoreReport:
    entries = load_format_sensitivity(data_dir) if entries is None else entries

    def check(entry: FormatSensitivityEntry, result: Any) -> dict[str, Any]:
        return {**check_format_entry(entry, result).to_json(), "config": entry.config}

    return score_lines(CATEGORY, lines, entries, check, source=source)


def score_format_sensitivity_file(path: str | Path, **kwargs: Any) -> ScoreReport:
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        return score_format_sensitivity(f, source=str(path), **kwargs)


def format_sensitivity_summary(report: ScoreReport, verdicts: Iterable[dict[str, Any]] | None = None
                               ) -> dict[str, Any]:
    """The official header: accuracy per configuration (over the lines scored), max delta, variance, std.
    ``verdicts``: the report's, when it did not keep them (a streamed report: read back from its file)."""
    stats: dict[str, dict[str, int]] = {}
    for v in report.verdicts if verdicts is None else verdicts:
        if "config" not in v:
            continue
        s = stats.setdefault(v["config"], {"correct": 0, "total": 0})
        s["total"] += 1
        s["correct"] += bool(v["valid"])
    by_config = {c: {"accuracy": s["correct"] / s["total"], "correct_count": s["correct"], "total_count": s["total"]}
                 for c, s in stats.items()}
    accs = [v["accuracy"] for v in by_config.values()]
    if len(accs) > 1:
        variance = round(statistics.variance(accs) * 100 ** 2, 2)
        std = round(statistics.stdev(accs) * 100, 2)
        delta = round((max(accs) - min(accs)) * 100, 2)
    else:
        variance = std = delta = 0.0
    return {"accuracy_max_delta": delta, "accuracy_variance": variance, "accuracy_std": std,
            "configs_present": len(by_config), "configs_total": len(CONFIGS), **by_config}
