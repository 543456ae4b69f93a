"""The LLM path of tool self-evolution synthesis (ToolACE §2.1): the speciation prompts (new domains, subdomains and
functionalities; :mod:`.speciation` asks them), and evolution, one API per plan (the same adaptation and indicators
as the programmatic path go into :data:`PROMPTS`); replies are parsed and validated, malformed ones retried, then
quarantined.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

from ...io import dumps_line
from ...tools import ToolDef, validate_tool
from .adaptation import _BATCH, _Builder, _Plan, _api_id
from .records import ApiRecord, signature
from .slots import SlotVocabulary


PROMPTS: dict[str, str] = {
    "speciation_domains": (
        "You are growing an API context tree for synthesizing function-calling data: domains > subdomains > "
        "functionalities.\nThe tree already has these domains (do not repeat them):\n{existing}\n\n"
        "Name {n} NEW application domains in which real APIs exist, each with a one-sentence description.\n"
        'Answer with JSON only: {{"domains": [{{"name": "Title Case Name", "description": "..."}}]}}'
    ),
    "speciation_subdomains": (
        "You are growing an API context tree for synthesizing function-calling data: domains > subdomains > "
        "functionalities.\nDomain: {domain} ({description})\nExisting subdomains (do not repeat them):\n{existing}"
        "\n\nName {n} NEW subdomains of this domain, each a group of related API functionalities.\n"
        'Answer with JSON only: {{"subdomains": ["Title Case Name", "..."]}}'
    ),
    "speciation": (
        "You are growing an API context tree for synthesizing function-calling data.\n"
        "Domain: {domain}\nSubdomain: {subdomain}\nExisting functionalities (do not repeat them):\n{existing}\n\n"
        "Write {n} NEW, realistic, distinct API functionalities for this subdomain. Write each one as\n"
        "  verb phrase (slot, ?optional_slot, ...) -> returned_field, container[field, ...]\n"
        "with snake_case slot names; prefer these known slots where they fit: {slots}.\n"
        "Use *_id slots so that one API can consume an id another API returns.\n"
        'Answer with JSON only: {{"functionalities": ["...", "..."]}}'
    ),
    "evolution": (
        "You are an expert API designer synthesizing a diverse pool of APIs (ToolACE tool self-evolution).\n"
        "Domain: {domain}\nDiversity level: {diversity} (1 = one focused functionality; higher = one richer API "
        "covering all of the functionalities below)\nFunctionalities to cover (the sampled subtree):\n{subtree}\n\n"
        "Example API from the buffer (adapt its style, do not copy it):\n{example}\n\n"
        "Apply these diversity indicators while writing the new API:\n{indicators}\n\n"
        "Write ONE new API as a JSON object with keys:\n"
        '  "name": snake_case or dotted, naming what this API does (e.g. "{name_hint}"),\n'
        '  "description": a clear and thorough description,\n'
        '  "parameters": {{"type": "dict", "properties": {{...}}, "required": [...]}} using the types string, '
        "integer, float, boolean, array (with items), dict (with properties); optional parameters may have a "
        '"default"; constraints use "enum", "minimum"/"maximum", "pattern", "format",\n'
        '  "returns": {{"type": "dict", "properties": {{...}}}} describing the result.\n'
        "Answer with the JSON object only."
    ),
}

_INDICATOR_TEXT = {
    "add_parameter": "add new functionalities or parameters (optional ones that a real API of this kind has)",
    "add_constraint": "add constraints to parameters (enum values, minimum/maximum ranges, regex patterns)",
    "change_type": "mutate parameter types (e.g. a list instead of a single value, an id as a string)",
    "nest": "use nested structures (a dict grouping related parameters, or an array of dicts)",
    "update_returns": "update the returned results (extra fields, nested result lists)",
}


def _evolution_prompt(plan: _Plan) -> str:
    leaf = plan.leaves[0]
    subtree = "\n".join(f"- {' > '.join(x.path)}: {x.text}" for x in plan.leaves)
    if plan.example is not None:
        ex = {**plan.example.tool.to_dict(), "returns": plan.example.returns}
        example = json.dumps(ex, ensure_ascii=False)
    else:
        example = "(buffer empty: no example yet)"
    inds = plan.indicators or ["add_parameter"]
    # the name's example comes from the functionality itself: a fixed one ("hotels.search") was copied by a small model
    name_hint = re.sub(r"[^0-9a-z]+", "_", leaf.phrase.lower()).strip("_") or "get_item"
    return PROMPTS["evolution"].format(domain=leaf.domain, diversity=plan.diversity, subtree=subtree,
                                       name_hint=name_hint, example=example,
                                       indicators="\n".join(f"- {_INDICATOR_TEXT[k]}" for k in inds))


def _parse_llm_api(text: str, extract: Callable[[str], Any]) -> tuple[dict, dict]:
    """The (tool dict, returns) in an LLM reply, else :class:`ValueError` saying what is wrong."""
    obj = extract(text)
    if isinstance(obj, dict) and isinstance(obj.get("api"), dict):
        obj = obj["api"]
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    for key in ("name", "description", "parameters", "returns"):
        if key not in obj:
            raise ValueError(f"missing key {key!r}")
    name = obj["name"]
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", name):
        raise ValueError(f"name {name!r} is not a snake_case or dotted identifier")
    tool = {"name": name, "description": obj["description"], "parameters": obj["parameters"]}
    issues = validate_tool(tool)
    if isinstance(obj["parameters"], dict) and obj["parameters"].get("type") not in ("dict", "object"):
        issues = issues or ["parameters.type must be 'dict'"]
    if issues:
        raise ValueError("invalid definition: " + "; ".join(map(str, issues[:3])))
    if not isinstance(tool["description"], str) or not tool["description"].strip():
        raise ValueError("empty description")
    returns = obj["returns"]
    r_issues = validate_tool({"name": "returns", "parameters": returns}) if isinstance(returns, dict) else ["x"]
    if r_issues or not isinstance(returns.get("properties"), dict):
        raise ValueError("returns must be {'type': 'dict', 'properties': {...}} with valid field schemas")
    return tool, returns


def _llm_record(plan: _Plan, tool_dict: dict, returns: dict, vocab: SlotVocabulary) -> ApiRecord:
    """An :class:`ApiRecord` for a validated LLM-written API, in the BFCL dialect like the programmatic ones
    (a JSON Schema reply's ``object`` / ``number`` become ``dict`` / ``float``)."""
    tool_dict = ToolDef.from_dict(tool_dict).to_bfcl()
    returns = ToolDef.from_dict({"name": "returns", "parameters": returns}).to_bfcl()["parameters"]
    tool = ToolDef.from_dict(tool_dict)
    slots: dict[str, str] = {}

    def walk(props: dict, prefix: str) -> None:
        for p, node in props.items():
            if not isinstance(node, dict):
                continue
            t = node.get("type")
            if t in ("dict", "object") and isinstance(node.get("properties"), dict):
                walk(node["properties"], f"{prefix}{p}.")
            elif t == "array" and isinstance(node.get("items"), dict) and \
                    isinstance(node["items"].get("properties"), dict):
                walk(node["items"]["properties"], f"{prefix}{p}[].")
            elif vocab.resolve(p) is not None:
                slots[prefix + p] = p

    walk(tool_dict["parameters"].get("properties") or {}, "")
    leaf = plan.leaves[0]
    return ApiRecord(id=_api_id(plan.index), tool=tool, returns=returns, domain=leaf.domain, path=leaf.path,
                     leaves=[x.path for x in plan.leaves], diversity=plan.diversity,
                     evolution=[f"{k}:requested" for k in plan.indicators], slots=slots, impl=None,
                     signature=signature(tool), parent=plan.example.id if plan.example else None)


def _backends():
    from ... import backends  # imported lazily so the programmatic path never needs it
    return backends


def _build_llm(builder: _Builder, n: int, backend: Any, existing: dict[int, ApiRecord], skipped: set[int],
               appender: Any, quarantine: Any, bar: Any) -> None:
    """The LLM path: each batch of :data:`_BATCH` APIs is planned from the same buffer snapshot and asked
    concurrently; replies are accepted in index order (dedup, then written), so the output does not depend on
    which reply came back first."""
    import asyncio

    b = _backends()
    vocab = builder.tree.slots
    retries = 2

    def request(plan: _Plan) -> Any:
        return b.ChatRequest(messages=[{"role": "user", "content": _evolution_prompt(plan)}], stage="pool",
                             seed=builder.seed * 1_000_003 + plan.index, attempt=plan.attempt * (retries + 1),
                             json_mode=True)

    def parse(text: str) -> tuple[dict, dict]:
        return _parse_llm_api(text, b.extract_json)

    async def one(plan: _Plan) -> Any:
        return await b.chat_json(backend, request(plan), parse, retries=retries)

    async def run() -> None:
        try:
            for start in range(0, n, _BATCH):
                idx = list(range(start, min(n, start + _BATCH)))
                todo = [i for i in idx if i not in existing and i not in skipped]
                plans = {i: builder.plan(i, 0) for i in todo}
                replies = await asyncio.gather(*(one(plans[i]) for i in todo))
                results = dict(zip(todo, replies))
                for i in idx:
                    if i in existing:
                        builder.accept(existing[i], i)
                    elif i not in skipped:
                        await settle(i, plans[i], results[i])
                    bar.update(1)
        finally:
            await backend.aclose()

    async def settle(i: int, plan: _Plan, got: Any) -> None:
        while True:
            if isinstance(got, b.Quarantined):
                if quarantine is not None:
                    quarantine.write({"id": _api_id(i), "stage": "pool", "reason": got.reason,
                                      "text": got.last_text, "attempts": got.attempts})
                return
            rec = _llm_record(plan, got[0], got[1], vocab)
            dup = builder.duplicate_of(rec)
            if dup is None:
                if appender is not None:
                    appender.write(rec.to_dict())
                builder.accept(rec, i)
                return
            what = "an existing name" if dup == "name" else dup
            if plan.attempt >= retries:
                got = b.Quarantined(f"duplicate of {what} after {plan.attempt + 1} attempts",
                                    dumps_line(rec.tool.to_dict()), plan.attempt + 1)
                continue
            plan = builder.plan(i, plan.attempt + 1)
            got = await one(plan)

    b.run_sync(run())
