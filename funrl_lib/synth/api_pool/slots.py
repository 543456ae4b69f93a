"""The slot vocabulary (ToolACE §2.1, speciation and adaptation): what each parameter or returned field of a
functionality in the API context tree means and how its values are made; explicit slots from ``slots.yaml`` plus
suffix rules (``*_id``, ``*_date``, ``max_*``, plurals, ...) for names the file does not list.
"""

from __future__ import annotations

import datetime as _dt
import functools
import random
import re
from dataclasses import dataclass
from typing import Any

from .base import PoolError
from .pattern_values import gen_from_pattern


@dataclass(frozen=True)
class SlotSpec:
    """One slot: what a parameter (or returned field) of that name means and how to make its values.

    Generators, first that applies: ``enum`` (a closed set, always exposed in the schema), ``values`` (an open
    pool; evolution may expose a subset as an enum), ``dates`` (a ``[start, end]`` date range), ``range`` (numeric
    ``[lo, hi]``), ``generate`` / ``pattern`` (regex), booleans, ``items`` (arrays), ``fields`` (dicts).
    ``pattern`` / ``format`` / ``range`` are exposed in the schema when ``constrain`` is true, or by the
    ``add_constraint`` evolution step. ``phrase`` mentions a value in a user request (``"in {value}"``).
    """

    name: str
    type: str
    description: str
    values: tuple = ()
    enum: tuple = ()
    range: tuple | None = None
    dates: tuple | None = None
    pattern: str | None = None
    generate: str | None = None
    format: str | None = None
    items: "SlotSpec | None" = None
    items_ref: str | None = None  # items named by a slot that only a suffix rule defines (resolved on use)
    count: tuple = (1, 3)
    fields: tuple = ()  # ((field name, required), ...): each field name is itself a slot
    phrase: str = "with {label} {value}"
    default: Any = None
    constrain: bool = False
    group: str | None = None
    related: tuple = ()
    inherit: bool = True
    label: str = ""
    source: str = "explicit"

    def schema(self, vocab: "SlotVocabulary", *, description: str | None = None) -> dict:
        """The BFCL schema node for a parameter of this slot (closed enums and ``constrain`` constraints
        exposed)."""
        node: dict[str, Any] = {"type": self.type, "description": description or self.description}
        if self.enum:
            node["enum"] = list(self.enum)
        item = self.item_spec(vocab)
        if self.type == "array" and item is not None:
            node["items"] = item.schema(vocab)
        if self.type == "dict":
            node["properties"] = {f: vocab[f].schema(vocab) for f, _ in self.fields}
            node["required"] = [f for f, req in self.fields if req]
        if self.constrain:
            _expose_constraints(self, node)
        return node

    def make(self, rng: random.Random, vocab: "SlotVocabulary") -> Any:
        """One value of this slot."""
        t = self.type
        if self.enum:
            return rng.choice(self.enum)
        if self.values:
            return rng.choice(self.values)
        if self.dates is not None:
            lo, hi = self.dates
            day = _dt.date.fromordinal(rng.randint(lo, hi)).isoformat()
            if self.format == "date-time":
                return f"{day}T{rng.randint(6, 22):02d}:{rng.choice((0, 15, 30, 45)):02d}:00"
            return day
        if self.range is not None:
            lo, hi = self.range
            if t == "integer":
                return rng.randint(int(lo), int(hi))
            return round(rng.uniform(lo, hi), 2)
        if self.generate or self.pattern:
            return gen_from_pattern(self.generate or self.pattern, rng)
        if t == "boolean":
            return rng.random() < 0.5
        item = self.item_spec(vocab)
        if t == "array" and item is not None:
            k = rng.randint(*self.count)
            out: list = []
            for _ in range(k * 3):
                v = item.make(rng, vocab)
                if v not in out:
                    out.append(v)
                if len(out) == k:
                    break
            return out
        if t == "dict":
            return {f: vocab[f].make(rng, vocab) for f, _ in self.fields}
        raise PoolError(f"slot {self.name!r} has no value generator")  # prevented by the loader

    def item_spec(self, vocab: "SlotVocabulary") -> "SlotSpec | None":
        """The element slot of an array slot (``items`` given inline or by name, or named by a rule-only slot)."""
        if self.items is not None or self.items_ref is None:
            return self.items
        return vocab.resolve(self.items_ref)


def _expose_constraints(spec: SlotSpec, node: dict) -> list[str]:
    """Add the slot's range / pattern / format to ``node``; returns which were added."""
    added = []
    if spec.range is not None and spec.type in ("integer", "float") and "minimum" not in node:
        lo, hi = spec.range
        node["minimum"], node["maximum"] = (int(lo), int(hi)) if spec.type == "integer" else (lo, hi)
        added.append("range")
    if spec.pattern and spec.type == "string" and "pattern" not in node:
        node["pattern"] = spec.pattern
        added.append("pattern")
    if spec.format and spec.type == "string" and "format" not in node:
        node["format"] = spec.format
        added.append("format")
    return added


_LABEL_WORDS = {"id": "ID", "ids": "IDs", "min": "minimum", "max": "maximum", "num": "number of", "url": "URL",
                "qty": "quantity", "pct": "percent"}


@functools.lru_cache(maxsize=16384)
def _label(name: str) -> str:
    return " ".join(_LABEL_WORDS.get(w, w) for w in name.split("_") if w)


def _id_prefix(entity: str) -> str:
    """Three letters naming an entity in its ids: hotel -> HTL, user -> USR, flight_booking -> FBK."""
    words = [w for w in re.split(r"[_\W]+", entity) if w]
    if not words:
        return "IDX"
    if len(words) >= 2:
        s = "".join(w[0] for w in words[:3])
        tail = words[-1]
        s += "".join(c for c in tail[1:] if c not in "aeiou")
    else:
        w = words[0]
        s = w[0] + "".join(c for c in w[1:] if c not in "aeiou") + w[1:]
    return re.sub(r"[^A-Za-z]", "", s).upper().ljust(3, "X")[:3]


_BOOL_PREFIX = ("is_", "include_", "has_", "allow_", "only_", "use_", "show_", "enable_", "exclude_", "notify_",
                "send_", "auto_", "require_", "skip_", "force_", "dry_")
_PREFIX_MODS = ("min_", "max_")


class SlotVocabulary:
    """Explicit slots (``slots.yaml``) plus suffix rules for names the file does not list.

    :meth:`resolve` returns ``None`` for a name neither covers: the tree loader reports such names, so every slot a
    leaf mentions is known (no catch-all rule hides a typo).
    """

    def __init__(self, explicit: dict[str, SlotSpec], source: str = "<slots>"):
        self.explicit = explicit
        self.source = source
        self._cache: dict[str, SlotSpec | None] = {}

    def __contains__(self, name: str) -> bool:
        return self.resolve(name) is not None

    def __getitem__(self, name: str) -> SlotSpec:
        spec = self.resolve(name)
        if spec is None:
            raise PoolError(f"{self.source}: unknown slot {name!r} (not in the file and no suffix rule applies)")
        return spec

    def __len__(self) -> int:
        return len(self.explicit)

    def resolve(self, name: str) -> SlotSpec | None:
        """The slot called ``name``: explicit, else by rule (``*_id``, ``*_date``, ``max_*``, ``*_ids``, ...)."""
        try:
            return self._cache[name]
        except KeyError:
            pass
        spec = self.explicit.get(name)
        if spec is None and re.fullmatch(r"[a-z][a-z0-9_]*", name or ""):
            spec = self._rule(name)
        self._cache[name] = spec
        return spec

    def _rule(self, name: str) -> SlotSpec | None:
        label = _label(name)
        mk = functools.partial(SlotSpec, name, label=label, source="rule")
        m = re.fullmatch(r"(.+)_ids", name)
        if m:
            one = self.resolve(m.group(1) + "_id")
            return mk("array", f"List of {_label(m.group(1))} IDs.", items=one, count=(1, 3),
                      phrase=f"for {_label(m.group(1))}s {{value}}", group="ids") if one else None
        m = re.fullmatch(r"(?:(.+)_)?id", name)
        if m:
            entity = m.group(1) or "item"
            prefix = _id_prefix(entity)
            return mk("string", f"Unique identifier of the {_label(entity)} (e.g. {prefix}-104233).",
                      generate=f"{prefix}-[1-9][0-9]{{5}}", pattern=f"^{prefix}-[0-9]{{6}}$",
                      phrase=f"for {_label(entity)} {{value}}", group="ids")
        if re.fullmatch(r"(.+_)?date", name):
            return mk("string", f"The {label} (YYYY-MM-DD).", dates=_DATE_RANGE, format="date",
                      pattern=r"^\d{4}-\d{2}-\d{2}$",
                      phrase="on {value}" if name == "date" else f"with {label} {{value}}", group="dates")
        if re.fullmatch(r"(.+_)?(datetime|timestamp)|.+_at", name):
            return mk("string", f"The {label} (ISO 8601 date-time).", dates=_DATE_RANGE, format="date-time",
                      phrase=f"with {label} {{value}}", group="dates")
        if re.fullmatch(r"(.+_)?time", name):
            return mk("string", f"The {label} (HH:MM, 24-hour).", generate="(0[6-9]|1[0-9]|2[0-2]):(00|15|30|45)",
                      pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", phrase="at {value}" if name == "time" else
                      f"with {label} {{value}}", group="schedule")
        if re.fullmatch(r"(.+_)?year", name):
            return mk("integer", f"The {label}.", range=(1990, 2026), phrase=f"for {label} {{value}}")
        if re.fullmatch(r".+_count|num_.+|number_of_.+|.+_quantity|.+_limit", name):
            return mk("integer", f"The {label}.", range=(1, 50), phrase=f"with {label} {{value}}")
        if name.startswith(_BOOL_PREFIX) or re.fullmatch(r".+_(enabled|only|required|flag)", name):
            if name.startswith(("is_", "has_")):
                desc = f"Whether it {'is' if name.startswith('is_') else 'has'} {_label(name.split('_', 1)[1])}."
            elif re.fullmatch(r".+_(enabled|required)", name):
                head, _, tail = name.rpartition("_")
                desc = f"Whether {_label(head)} is {tail}."
            else:
                desc = f"Whether to {label}."
            return mk("boolean", desc, phrase=f"with {label} set to {{value}}", group="options")
        for mod in _PREFIX_MODS:
            if name.startswith(mod):
                base = self.resolve(name[len(mod):])
                if base is not None and base.type in ("integer", "float", "string") and \
                        (base.range or base.dates or base.type == "string" and base.format):
                    word = "minimum" if mod == "min_" else "maximum"
                    return SlotSpec(name, base.type, f"{word.capitalize()} {base.label or _label(base.name)}.",
                                    range=base.range, dates=base.dates, format=base.format, pattern=base.pattern,
                                    generate=base.generate, phrase=f"with {label} {{value}}",
                                    group=base.group or "filters", label=label, source="rule")
                return None
        for pattern, kind, description, bounds, phrase, group in _QUANTITIES:
            if re.fullmatch(pattern, name):
                return mk(kind, description.format(label=label), range=bounds,
                          phrase=phrase.format(label=label, unit=label.split()[-1]), group=group)
        if re.fullmatch(r"(.+_)?email", name):
            base = self.explicit.get("email")
            return mk("string", f"The {label}.", values=base.values if base else (),
                      generate="[a-z]{4,7}\\.[a-z]{4,8}@(example|mailbox|inbox)\\.(com|org)",
                      pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", format="email", phrase=f"with {label} {{value}}",
                      group="contact")
        if re.fullmatch(r"(.+_)?(url|link|webhook|endpoint|callback)", name):
            return mk("string", f"The {label}.",
                      generate="https://(www|api|files|cdn)\\.(acme|example|blueharbor|contoso|northwind)"
                               "\\.(com|io|org)/(docs|files|images|reports|v1|media)/[a-z0-9]{6}",
                      pattern=r"^https?://\S+$", format="uri", phrase=f"with {label} {{value}}")
        if re.fullmatch(r"(.+_)?(phone|phone_number|mobile)", name):
            base = self.explicit.get("phone")
            return mk("string", f"The {label} in international format.", values=base.values if base else (),
                      generate="\\+1-[2-9][0-9]{2}-555-[0-9]{4}", pattern=r"^\+?[0-9][0-9 -]{6,18}$",
                      phrase=f"with {label} {{value}}", group="contact")
        if re.fullmatch(r".+_number", name):  # reference numbers are strings (case, invoice, permit, ...)
            prefix = _id_prefix(name[:-7])
            return mk("string", f"The {label}.", generate=f"{prefix}-[0-9]{{4}}-[0-9]{{4}}",
                      pattern=r"^[A-Z0-9][A-Z0-9-]{4,19}$", phrase=f"with {label} {{value}}")
        if re.fullmatch(r".+_code", name):
            return mk("string", f"The {label}.", generate="[A-Z]{2}[0-9]{3}", pattern=r"^[A-Z0-9]{3,10}$",
                      phrase=f"with {label} {{value}}")
        m = re.fullmatch(r"(.+)_(" + "|".join(_UNITS) + ")", name)
        if m:
            t, lo, hi, unit = _UNITS[m.group(2)]
            return mk(t, f"{_label(m.group(1)).capitalize()} in {unit}.", range=(lo, hi),
                      phrase=f"with {_label(m.group(1))} {{value}} {m.group(2)}", label=_label(m.group(1)))
        m = re.fullmatch(r"(?:.+_)?([a-z]+)_name", name)
        if m and m.group(1) in _PERSON_WORDS and "person_name" in self.explicit:
            base = self.explicit["person_name"]
            return SlotSpec(name, "string", f"Full name of the {_label(name[:-5])}.", values=base.values,
                            phrase=f"for {_label(name[:-5])} {{value}}", group="contact", label=label,
                            source="rule")
        if re.fullmatch(r".+_(name|title)", name):
            base = self.explicit.get(name.rsplit("_", 1)[1])
            if base is not None:
                return SlotSpec(name, base.type, f"The {label}.", values=base.values,
                                phrase="called {value}", label=label, source="rule")
        if re.fullmatch(r".+_(list|set)", name):
            one = self.resolve(name.rsplit("_", 1)[0])
            return mk("array", f"List of {_label(one.name)} values.", items=one, count=(1, 3),
                      phrase=one.phrase) if one and one.type != "array" else None
        # suffix inheritance: origin_city -> city, shipping_address -> address (explicit slots only)
        parts = name.split("_")
        for k in range(1, len(parts)):
            base = self.explicit.get("_".join(parts[k:]))
            if base is not None and base.inherit:
                phrase = base.phrase if "{label}" in base.phrase else f"with {label} {{value}}"
                return SlotSpec(name, base.type, f"{label[0].upper()}{label[1:]}: {base.description[0].lower()}"
                                                 f"{base.description[1:]}", values=base.values, enum=base.enum,
                                range=base.range, dates=base.dates, pattern=base.pattern, generate=base.generate,
                                format=base.format, items=base.items, items_ref=base.items_ref,
                                count=base.count, fields=base.fields,
                                phrase=phrase, default=base.default, constrain=base.constrain, group=base.group,
                                related=base.related, label=label, source="rule")
        # plural: tags -> array of tag, categories -> array of category
        for singular in _singulars(name):
            one = self.resolve(singular)
            if one is not None and one.type not in ("array", "dict", "boolean"):
                return mk("array", f"List of {_label(singular)} values.", items=one, count=(1, 3),
                          phrase=one.phrase if "{label}" not in one.phrase else f"with {label} {{value}}")
        return None


_DATE_RANGE = (_dt.date(2025, 1, 1).toordinal(), _dt.date(2026, 12, 31).toordinal())
# Quantities named by their last word, the first match wins: (name pattern, type, description, range, phrase, group);
# "{label}" is the name in words, "{unit}" its last word.
_WITH = "with {label} {{value}}"
_QUANTITIES = (
    (r"(.+_)?(price|amount|cost|fee|budget|balance|salary|revenue|payment|deposit|income|expenses|premium|payout|"
     r"equity|savings)", "float", "The {label} in the account currency.", (1.0, 2500.0), _WITH, "price"),
    (r"(.+_)?(percent|percentage|pct|ratio|share)", "float", "The {label} (0-100).", (0.0, 100.0), _WITH, None),
    (r"(.+_)?(rating|stars)", "float", "The {label} (1-5).", (1.0, 5.0), _WITH, None),
    (r"(.+_)?score", "float", "The {label} (0-100).", (0.0, 100.0), _WITH, None),
    (r"(.+_)?(minutes|hours|days|seconds|weeks|months|nights|years)|duration(_.+)?", "integer", "The {label}.",
     (1, 90), "for {{value}} {unit}", None),
    (r"(.+_)?(miles|meters|distance|radius|elevation|altitude)", "float", "The {label}.", (0.5, 50.0), _WITH, None),
    (r"(.+_)?(weight|lbs|volume)", "float", "The {label}.", (0.1, 80.0), _WITH, None),
)
# Measures named by their unit suffix: (type, low, high, unit words).
_UNITS = {"mm": ("float", 0.0, 250.0, "millimetres"), "cm": ("float", 1.0, 250.0, "centimetres"),
          "m2": ("float", 10.0, 2000.0, "square metres"), "km2": ("float", 0.5, 5000.0, "square kilometres"),
          "m3": ("float", 1.0, 500.0, "cubic metres"), "m": ("float", 0.5, 3000.0, "metres"),
          "gb": ("integer", 1, 512, "gigabytes"), "mb": ("float", 0.5, 4000.0, "megabytes"),
          "bytes": ("integer", 1024, 1_000_000_000, "bytes"), "ms": ("integer", 1, 3000, "milliseconds"),
          "kwh": ("float", 0.5, 1500.0, "kilowatt-hours"), "kw": ("float", 0.5, 60.0, "kilowatts"),
          "hpa": ("float", 960.0, 1050.0, "hectopascals"), "ppm": ("float", 350.0, 2000.0, "parts per million"),
          "mpg": ("float", 12.0, 60.0, "miles per gallon"), "hz": ("float", 1.0, 1.0e9, "hertz"),
          "joules": ("float", 1.0, 1.0e6, "joules"), "celsius": ("float", -2.0, 3.0, "degrees Celsius"),
          "ly": ("float", 4.0, 5000.0, "light years"), "mbps": ("float", 1.0, 1000.0, "megabits per second"),
          "bpm": ("integer", 50, 200, "beats per minute"), "hectares": ("float", 0.5, 500.0, "hectares"),
          "kg": ("float", 0.1, 120.0, "kilograms"), "grams": ("float", 1.0, 900.0, "grams"),
          "liters": ("float", 0.5, 5000.0, "litres"), "km": ("float", 0.5, 50.0, "kilometres"),
          "usd": ("float", 1.0, 5000.0, "US dollars")}
_PERSON_WORDS = {"full", "person", "passenger", "guest", "customer", "user", "author", "contact", "recipient",
                 "sender", "owner", "patient", "driver", "employee", "candidate", "student", "teacher", "buyer",
                 "seller", "tenant", "landlord", "member", "attendee", "host", "player", "coach", "doctor",
                 "applicant", "manager", "instructor", "tutor", "trainer", "therapist", "lawyer", "agent", "critic",
                 "athlete", "actor", "director", "client", "inspector", "courier", "cardholder", "policyholder",
                 "dependent", "parent", "assignee", "sitter", "shipper", "comedian", "celebrity", "streamer",
                 "performer", "registrant", "signer", "submitter", "approver", "interviewer", "responder", "party",
                 "counterparty", "spouse"}


def _singulars(name: str) -> list[str]:
    out = []
    if name.endswith("ies"):
        out.append(name[:-3] + "y")
    if name.endswith("es"):
        out.append(name[:-2])
    if name.endswith("s") and not name.endswith("ss"):
        out.append(name[:-1])
    return out


def _plural(name: str) -> str:
    if name.endswith("y") and not name.endswith(("ay", "ey", "oy", "uy")):
        return name[:-1] + "ies"
    if name.endswith(("s", "x", "ch", "sh")):
        return name + "es"
    return name + "s"
