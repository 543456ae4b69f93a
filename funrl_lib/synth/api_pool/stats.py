"""Pool statistics (ToolACE §2.1: the diversity its indicators are meant to give): domains, parameter types, nesting,
constraints, evolution steps, diversity levels, name styles, dependent pairs.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from .checks import _kind
from .evolution import _step_kind
from .records import ApiRecord


def _depth(node: dict) -> int:
    kind = _kind(node)
    if kind == "object" and isinstance(node.get("properties"), dict):
        return 1 + max((_depth(v) for v in node["properties"].values() if isinstance(v, dict)), default=0)
    if kind in ("array", "tuple") and isinstance(node.get("items"), dict):
        return 1 + _depth(node["items"])
    return 0


def pool_stats(records: Sequence[ApiRecord]) -> dict:
    """Counts that show the pool's diversity (ToolACE's indicators): domains, APIs per domain, parameter types
    (every schema node, nested ones too), nesting depth per API (0 = flat scalars, 1 = a dict or list parameter,
    2 = a list of dicts, ...), required/optional/default counts, constraints, evolution steps, diversity levels,
    name styles, and dependent pairs (API A returns an id that API B in the same domain takes)."""
    types: Counter = Counter()
    depth: Counter = Counter()
    cons: Counter = Counter()
    evo: Counter = Counter()
    div: Counter = Counter()
    styles: Counter = Counter()
    per_domain: Counter = Counter()
    req = opt = dflt = 0
    produces: dict[str, dict[str, int]] = {}
    consumes: dict[str, dict[str, int]] = {}

    def walk(node: dict) -> None:
        nonlocal dflt
        types[node.get("type") if isinstance(node.get("type"), str) else "any"] += 1
        for c in ("enum", "pattern", "format"):
            if c in node:
                cons[c] += 1
        if "minimum" in node or "maximum" in node:
            cons["range"] += 1
        if "default" in node:
            dflt += 1
        if isinstance(node.get("properties"), dict):
            for v in node["properties"].values():
                if isinstance(v, dict):
                    walk(v)
        if isinstance(node.get("items"), dict):
            walk(node["items"])

    for r in records:
        per_domain[r.domain] += 1
        params = r.tool.to_dict().get("parameters") or {}
        props = params.get("properties") or {}
        required = set(params.get("required") or [])
        req += len([p for p in props if p in required])
        opt += len([p for p in props if p not in required])
        for v in props.values():
            walk(v)
        depth[max((_depth(v) for v in props.values()), default=0)] += 1
        for s in r.evolution:
            evo[_step_kind(s)] += 1
        div[r.diversity] += 1
        name = r.tool.name
        styles["dotted" if "." in name else "snake" if "_" in name or name.islower() else "camel"] += 1
        for s in set(r.slots.values()):
            if s.endswith("_id"):
                consumes.setdefault(r.domain, Counter())[s] += 1
        for s in set(((r.impl or {}).get("return_slots") or {}).values()):
            if s.endswith("_id"):
                produces.setdefault(r.domain, Counter())[s] += 1
    pairs = sum(c * consumes.get(dom, {}).get(s, 0) for dom, ps in produces.items() for s, c in ps.items())
    return {"apis": len(records), "domains": len(per_domain),
            "apis_per_domain": dict(sorted(per_domain.items())),
            "parameter_types": dict(types.most_common()),
            "nesting_depth": dict(sorted(depth.items())),
            "parameters": {"required": req, "optional": opt, "with_default": dflt,
                           "per_api": round((req + opt) / max(1, len(records)), 2)},
            "constraints": dict(cons.most_common()),
            "evolution": dict(evo.most_common()),
            "diversity": dict(sorted(div.items())),
            "name_styles": dict(styles.most_common()),
            "dependent_pairs": pairs}
