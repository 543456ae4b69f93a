"""The API context tree (ToolACE §2.1, speciation): domains > subdomains > leaves (functionalities), shipped as
reviewable data (``data/api_tree/<domain>.yaml``, leaves written as ``verb phrase (slot, ?optional_slot) -> returned,
fields``), and the subtree sampling of adaptation (:meth:`ApiTree.sample_subtree`).
"""

from __future__ import annotations

import functools
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import yaml

from .base import SLOTS_FILE, TREE_DIR, PoolError
from .slot_file import _line_of, load_slots
from .slots import SlotVocabulary


@dataclass(frozen=True)
class ReturnField:
    """A returned field: a slot name, or a container ``name[f, ...]`` (array of dicts) / ``name{f, ...}`` (dict)."""

    name: str
    container: str | None = None  # None | "array" | "dict"
    fields: tuple = ()


@dataclass(frozen=True)
class Leaf:
    """One functionality of the tree: ``search hotels (city, ?guests) -> hotels[hotel_id, name], total_count``."""

    domain: str
    subdomain: str
    phrase: str
    params: tuple  # ((slot, required), ...)
    returns: tuple  # (ReturnField, ...)
    text: str

    @property
    def path(self) -> list[str]:
        return [self.domain, self.subdomain, self.phrase]

    @property
    def slots(self) -> list[str]:
        return [s for s, _ in self.params]

    def return_slots(self) -> list[str]:
        out = []
        for r in self.returns:
            out.extend(r.fields if r.container else [r.name])
        return out


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # as slot_file's: a safe loader, C speed where built


_LEAF_RE = re.compile(r"^\s*(?P<phrase>[a-z][a-z0-9 '/&-]*?)\s*\((?P<params>[^()]*)\)\s*->\s*(?P<returns>.+?)\s*$")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def _split_top(text: str) -> list[str]:
    out, depth, cur = [], 0, []
    for c in text:
        if c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        if c == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(c)
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


def parse_leaf(text: str, domain: str = "", subdomain: str = "") -> Leaf:
    """Parse one leaf line; :class:`ValueError` says what is wrong with it."""
    m = _LEAF_RE.match(text)
    if not m:
        raise ValueError("expected 'verb phrase (slot, ?optional_slot, ...) -> field, container[field, ...]'")
    params = []
    for p in _split_top(m.group("params")):
        name = p.lstrip("?").strip()
        if not _NAME_RE.match(name):
            raise ValueError(f"parameter slot {name!r} is not snake_case")
        if any(name == q for q, _ in params):
            raise ValueError(f"parameter slot {name!r} listed twice")
        params.append((name, not p.startswith("?")))
    returns = []
    for r in _split_top(m.group("returns")):
        cm = re.fullmatch(r"([a-z][a-z0-9_]*)\s*([\[{])(.*)([\]}])", r)
        if cm:
            if {"[": "]", "{": "}"}[cm.group(2)] != cm.group(4):
                raise ValueError(f"returned container {r!r}: mismatched brackets")
            fields = tuple(_split_top(cm.group(3)))
            for f in fields:
                if not _NAME_RE.match(f):
                    raise ValueError(f"returned field {f!r} in {cm.group(1)!r} is not snake_case")
            if not fields:
                raise ValueError(f"returned container {cm.group(1)!r} has no fields")
            returns.append(ReturnField(cm.group(1), "array" if cm.group(2) == "[" else "dict", fields))
        elif _NAME_RE.match(r):
            returns.append(ReturnField(r))
        else:
            raise ValueError(f"returned field {r!r} is not snake_case (or name[fields] / name{{fields}})")
    names = [r.name for r in returns]
    if len(set(names)) != len(names):
        raise ValueError("a returned field is listed twice")
    return Leaf(domain, subdomain, m.group("phrase").strip(), tuple(params), tuple(returns), text.strip())


@dataclass
class Domain:
    name: str
    description: str
    subdomains: dict[str, list[Leaf]]
    file: str


class ApiTree:
    """The API context tree: domains > subdomains > leaves (functionalities), plus its slot vocabulary."""

    def __init__(self, domains: list[Domain], slots: SlotVocabulary, source: str = ""):
        self.domains = domains
        self.slots = slots
        self.source = source
        self.leaves: list[Leaf] = [leaf for d in domains for ls in d.subdomains.values() for leaf in ls]
        self._by_domain = {d.name: d for d in domains}
        self._related: dict[tuple[str, str], list[str]] = {}

    def __iter__(self) -> Iterator[Leaf]:
        return iter(self.leaves)

    def __len__(self) -> int:
        return len(self.leaves)

    def domain(self, name: str) -> Domain:
        return self._by_domain[name]

    @property
    def subdomains(self) -> list[tuple[str, str]]:
        return [(d.name, s) for d in self.domains for s in d.subdomains]

    @property
    def counts(self) -> dict[str, int]:
        return {"domains": len(self.domains), "subdomains": len(self.subdomains), "leaves": len(self.leaves)}

    def slot_names(self) -> list[str]:
        names: dict[str, None] = {}
        for leaf in self.leaves:
            for s in leaf.slots + leaf.return_slots():
                names[s] = None
        return list(names)

    def related_slots(self, domain: str, subdomain: str) -> list[str]:
        """Parameter slots used anywhere in the subdomain (then the domain): candidates for ``add_parameter``."""
        key = (domain, subdomain)
        if key not in self._related:
            d = self._by_domain[domain]
            near = [s for leaf in d.subdomains[subdomain] for s in leaf.slots]
            far = [s for ls in d.subdomains.values() for leaf in ls for s in leaf.slots]
            self._related[key] = list(dict.fromkeys(near + far))
        return self._related[key]

    def sample_subtree(self, rng: random.Random, diversity: int, primary: Leaf | None = None) -> list[Leaf]:
        """Adaptation: ``diversity`` leaves rooted at ``primary`` (random if not given): siblings from the same
        subdomain first (preferring ones that share a slot), then cousins from other subdomains of the domain."""
        if primary is None:
            primary = rng.choice(self.leaves)
        d = self._by_domain[primary.domain]
        picked = [primary]
        siblings = [leaf for leaf in d.subdomains[primary.subdomain] if leaf is not primary]
        cousins = [leaf for s, ls in d.subdomains.items() if s != primary.subdomain for leaf in ls]
        want = set(primary.slots)
        while len(picked) < diversity and (siblings or cousins):
            pool = siblings if siblings and (rng.random() < 0.75 or not cousins) else cousins
            sharing = [leaf for leaf in pool if not want.isdisjoint(s for s, _ in leaf.params)]  # shares a slot
            choice = rng.choice(sharing if sharing and rng.random() < 0.6 else pool)
            pool.remove(choice)
            picked.append(choice)
        return picked


@functools.lru_cache(maxsize=8)
def _load_tree_cached(path: str, slots_path: str) -> ApiTree:
    root = Path(path)
    if not root.is_dir():
        raise PoolError(f"{root}: API tree folder not found")
    vocab = load_slots(slots_path)
    domains: list[Domain] = []
    problems: list[str] = []
    files = sorted(f for f in root.glob("*.yaml") if f.name != SLOTS_FILE)
    if not files:
        raise PoolError(f"{root}: no domain files (*.yaml)")
    seen_domains: set[str] = set()
    for f in files:
        text = f.read_text(encoding="utf-8")
        try:
            raw = yaml.load(text, Loader=_LOADER)
        except yaml.YAMLError as e:
            raise PoolError(f"{f}: not valid YAML: {e}") from None
        if not isinstance(raw, dict) or not isinstance(raw.get("domain"), str) or \
                not isinstance(raw.get("subdomains"), dict) or not raw["subdomains"]:
            raise PoolError(f"{f}: expected 'domain: NAME', 'description: TEXT', 'subdomains: {{NAME: [leaves]}}'")
        name = raw["domain"]
        if name in seen_domains:
            raise PoolError(f"{f}: domain {name!r} is defined twice")
        seen_domains.add(name)
        subs: dict[str, list[Leaf]] = {}
        for sub, leaves in raw["subdomains"].items():
            if not isinstance(leaves, list) or not leaves:
                raise PoolError(f"{f}:{_line_of(text, str(sub) + ':')}: subdomain {sub!r}: expected a list of leaves")
            parsed = []
            for item in leaves:
                if not isinstance(item, str):
                    problems.append(f"{f}:{_line_of(text, str(sub))}: leaf {item!r} is not a string")
                    continue
                try:
                    leaf = parse_leaf(item, name, str(sub))
                except ValueError as e:
                    problems.append(f"{f}:{_line_of(text, item)}: {e}: {item!r}")
                    continue
                for s in leaf.slots + leaf.return_slots():
                    if vocab.resolve(s) is None:
                        problems.append(f"{f}:{_line_of(text, item)}: slot {s!r} is unknown (add it to "
                                        f"{SLOTS_FILE} or use a suffix rule): {item!r}")
                parsed.append(leaf)
            subs[str(sub)] = parsed
        domains.append(Domain(name, str(raw.get("description", "")), subs, str(f)))
    if problems:
        head = f"{len(problems)} problem(s) in the API tree:\n  "
        raise PoolError(head + "\n  ".join(problems[:50]) + ("\n  ..." if len(problems) > 50 else ""))
    return ApiTree(domains, vocab, str(root))


def load_tree(path: str | Path | None = None) -> ApiTree:
    """The API context tree in folder ``path`` (default ``data/api_tree``): one YAML file per domain, and the
    folder's ``slots.yaml`` (else the shipped one). Every leaf must parse and every slot it mentions must resolve;
    otherwise :class:`PoolError` lists each problem as ``file:line``. Cached per folder."""
    root = Path(path or TREE_DIR).resolve()
    slots = root / SLOTS_FILE if (root / SLOTS_FILE).exists() else TREE_DIR / SLOTS_FILE
    return _load_tree_cached(str(root), str(slots.resolve()))
