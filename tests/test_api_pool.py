"""The API pool (ToolACE tool self-evolution synthesis): the shipped tree and slot vocabulary, deterministic and
resumable pool building, evolution steps, argument sampling / phrasing / execution, the LLM path with a scripted
backend, and the ``funrl pool`` command."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funrl_lib.cli import build_parser
from funrl_lib.synth import api_pool as P
from funrl_lib.synth.api_pool import drafts, evolution, slots
from funrl_lib.synth.api_pool import (ApiRecord, ExecutionError, PoolError, build_pool, execute, load_pool, load_slots,
                                      load_tree, mentioned_values, parse_leaf, phrase_request, pool_stats,
                                      result_issues, sample_arguments, signature)
from funrl_lib.synth.backends import Backend, ChatResult
from funrl_lib.tools import ToolDef, validate_tool


@pytest.fixture(scope="module")
def tree():
    return load_tree()


@pytest.fixture(scope="module")
def pool2000():
    return build_pool(2000, seed=0, progress=False)


# ---------------------------------------------------------------------------------------------------------------
# The tree and the slot vocabulary


def test_tree_meets_toolace_scale_and_every_leaf_resolves(tree):
    counts = tree.counts
    assert counts["domains"] >= 30 and counts["subdomains"] >= 300 and counts["leaves"] >= 1500, counts
    for dom in tree.domains:
        assert len(dom.subdomains) >= 8, dom.name
        assert dom.description, dom.name
        for sub, leaves in dom.subdomains.items():
            assert len(leaves) >= 5, (dom.name, sub)
            phrases = [leaf.phrase for leaf in leaves]
            assert len(set(phrases)) == len(phrases), (dom.name, sub)
    vocab = tree.slots
    for leaf in tree:
        assert parse_leaf(leaf.text, leaf.domain, leaf.subdomain) == leaf
        for slot in leaf.slots + leaf.return_slots():
            spec = vocab.resolve(slot)
            assert spec is not None, (leaf.text, slot)
            spec.make(random.Random(0), vocab)  # every slot can produce a value


def test_leaf_syntax():
    leaf = parse_leaf("search hotels (city, check_in_date, ?guests) -> hotels[hotel_id, name], total_count, "
                      "summary{min_price, max_price}", "Travel", "Hotels")
    assert leaf.phrase == "search hotels" and leaf.params == (("city", True), ("check_in_date", True),
                                                               ("guests", False))
    assert [(r.name, r.container, r.fields) for r in leaf.returns] == [
        ("hotels", "array", ("hotel_id", "name")), ("total_count", None, ()),
        ("summary", "dict", ("min_price", "max_price"))]
    assert parse_leaf("list supported currencies () -> currencies[currency]").params == ()
    for bad, why in [("search hotels city -> x", "expected"), ("search (City) -> x", "snake_case"),
                     ("search (city, city) -> x", "twice"), ("search (city) -> a[b}", "bracket"),
                     ("search (city) -> x, x", "twice")]:
        with pytest.raises(ValueError, match=why):
            parse_leaf(bad)


def test_suffix_rules_give_sensible_slots():
    v = load_slots()
    rng = random.Random(3)
    hotel = v["hotel_id"]
    assert hotel.source == "rule" and hotel.pattern == "^HTL-[0-9]{6}$"
    assert re.fullmatch(hotel.pattern, hotel.make(rng, v))
    out_date = v["check_out_date"]
    assert out_date.format == "date" and re.fullmatch(r"\d{4}-\d{2}-\d{2}", out_date.make(rng, v))
    assert v["num_rooms"].type == "integer" and v["room_count"].type == "integer"
    assert v["is_refundable"].type == "boolean" and v["include_breakfast"].type == "boolean"
    assert v["max_price"].type == "float" and v["max_price"].range == v["price"].range
    assert v["hotel_ids"].type == "array" and v["hotel_ids"].item_spec(v).name == "hotel_id"
    assert v["departure_time"].pattern and re.search(v["departure_time"].pattern, v["departure_time"].make(rng, v))
    assert v["owner_email"].format == "email" and "@" in v["owner_email"].make(rng, v)
    assert v["origin_city"].values == v["city"].values  # inherited from an explicit slot
    assert v["guest_name"].values == v["person_name"].values  # a person, not a generic name
    assert v["distance_km"].type == "float" and v["size_mb"].type == "float" and v["latency_ms"].type == "integer"
    assert v["wins"].type == "integer" and v["available"].type == "boolean"  # families in slots.yaml
    assert v.resolve("frobnicate") is None and v.resolve("Bad-Name") is None  # no catch-all rule


def test_pattern_generator_matches_its_patterns():
    rng = random.Random(0)
    for pattern in [r"^[A-Z]{3}$", r"^#[0-9a-f]{6}$", r"^HTL-[0-9]{6}$", r"(www|api)\.[a-z]{5}\.(com|io)",
                    r"^\+?[0-9][0-9 -]{6,18}$", r"[A-HJ-NPR-Z0-9]{17}", r"^[^@\s]+@x\.com$",
                    r"^(0[6-9]|1[0-9]):(00|30)$"]:
        for _ in range(20):
            assert re.search(pattern, P.gen_from_pattern(pattern, rng)), pattern
    with pytest.raises(ValueError, match="cannot generate"):
        P.gen_from_pattern(r"(?=x)y", rng)


def _write_tree(root: Path, leaves: list[str], slots: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    body = "\n".join(f"    - {leaf}" for leaf in leaves)
    (root / "shop.yaml").write_text(f"domain: Shop\ndescription: A shop.\nsubdomains:\n  Orders:\n{body}\n")
    if slots is not None:
        (root / "slots.yaml").write_text(slots)
    return root


def test_tree_loader_names_file_and_line_of_each_problem(tmp_path):
    root = _write_tree(tmp_path / "t", ["get order (order_id) -> order_id, status",
                                        "ship order (order_id, frobnicate) -> status",
                                        "broken leaf without parentheses"])
    with pytest.raises(PoolError) as e:
        load_tree(root)
    msg = str(e.value)
    assert "2 problem(s)" in msg
    assert re.search(r"shop\.yaml:6: slot 'frobnicate' is unknown", msg)
    assert re.search(r"shop\.yaml:7: expected 'verb phrase", msg)


def test_slot_file_errors_are_located(tmp_path):
    root = _write_tree(tmp_path / "t", ["get order (order_id) -> order_id"],
                       "slots:\n  status:\n    description: Status.\n    enum: [ok, failed]\n"
                       "  weird:\n    type: string\n    description: x\n")
    with pytest.raises(PoolError, match=r"slots\.yaml:5: slot 'weird': no value generator"):
        load_tree(root)


# ---------------------------------------------------------------------------------------------------------------
# Building: determinism, resume, validity, dedup


def test_same_seed_same_bytes_other_seed_other_pool(tmp_path):
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    build_pool(150, seed=7, out=a, progress=False)
    build_pool(150, seed=7, out=b, progress=False)
    build_pool(150, seed=8, out=c, progress=False)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    assert [r.to_dict() for r in load_pool(a)] == [r.to_dict() for r in build_pool(150, seed=7, progress=False)]


@pytest.mark.parametrize("crash", ["torn_line", "complete_lines"])
def test_killed_run_resumes_to_identical_bytes(tmp_path, crash):
    full, part = tmp_path / "full.jsonl", tmp_path / "part.jsonl"
    build_pool(300, seed=0, out=full, progress=False)
    data = full.read_bytes()
    lines = data.split(b"\n")
    k = 137
    cut = sum(len(line) + 1 for line in lines[:k])
    part.write_bytes(data[:cut + 55] if crash == "torn_line" else data[:cut])  # mid-line, or after k lines
    records = build_pool(300, seed=0, out=part, progress=False)
    assert part.read_bytes() == data
    ids = [r.id for r in load_pool(part)]
    assert len(ids) == len(set(ids)) == 300 and [r.id for r in records] == ids


def test_resume_refuses_a_file_from_another_run(tmp_path):
    out = tmp_path / "pool.jsonl"
    build_pool(20, seed=0, out=out, progress=False)
    with pytest.raises(PoolError, match="another run"):
        build_pool(30, seed=1, out=out, progress=False)


def test_every_definition_of_a_2000_pool_validates_and_is_unique(pool2000):
    assert len(pool2000) == 2000
    sigs, names = set(), set()
    for r in pool2000:
        d = r.tool.to_dict()
        assert validate_tool(d) == [], (r.id, validate_tool(d))
        assert validate_tool({"name": "returns", "parameters": r.returns}) == [], r.id
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", r.tool.name), r.tool.name
        assert r.signature == signature(r.tool)
        sigs.add(r.signature)
        names.add(re.sub(r"[._]", "", r.tool.name).lower())
        assert set(d["parameters"]["required"]) <= set(d["parameters"]["properties"])
        assert r.impl is not None and all(load_slots().resolve(s) for s in r.slots.values())
        assert r.slots or not d["parameters"]["properties"]  # e.g. "list astronauts in space ()" takes nothing
        assert 1 <= r.diversity == len(r.leaves) <= 4 and r.path == r.leaves[0]
    assert len(sigs) == len(names) == 2000


def test_pool_is_diverse(pool2000):
    stats = pool_stats(pool2000)
    assert stats["domains"] >= 30
    assert {"string", "integer", "float", "boolean", "array", "dict"} <= set(stats["parameter_types"])
    assert set(stats["nesting_depth"]) >= {0, 1, 2}
    assert set(stats["evolution"]) == set(P.EVOLUTION_KINDS)
    assert {"enum", "pattern", "range", "format"} <= set(stats["constraints"])
    assert set(stats["diversity"]) == {1, 2, 3, 4}
    assert {"snake", "dotted", "camel"} <= set(stats["name_styles"])
    assert stats["parameters"]["with_default"] > 0 and stats["parameters"]["optional"] > 0
    assert stats["dependent_pairs"] > 100
    evolved_from = Counter(r.parent is not None for r in pool2000)
    assert evolved_from[True] > 1900  # every API after the first batch evolves from a buffer example


def test_evolution_steps_in_the_pool_match_the_definitions(pool2000):
    """Each recorded step is visible in the definition it describes."""
    seen = Counter()
    for r in pool2000:
        props = r.tool.to_dict()["parameters"]["properties"]
        req = r.tool.to_dict()["parameters"]["required"]
        for step in r.evolution:
            kind, _, rest = step.partition(":")
            seen[kind] += 1
            if kind == "add_parameter":
                assert rest in r.slots.values() or any(k.startswith(rest + ".") for k in r.slots), step
                if rest in props:  # unless a later step grouped or renamed it, it is a top-level optional parameter
                    assert rest not in req, step
            elif kind == "add_constraint":
                ckind, param = rest.split(":")
                node = _find_param(props, param)
                if node is not None:  # a later step may have moved it into a group / renamed it
                    key = {"range": "minimum"}.get(ckind, ckind)
                    assert key in node or node["type"] != "string" and ckind == "pattern", (r.id, step, node)
            elif kind == "change_type":
                param, _, change = rest.partition(":")
                old, new = change.split("->")
                target = slots._plural(param) if new == "array" else param
                node = _find_param(props, target)
                if node is not None:
                    assert node["type"] == {"string": "string", "array": "array", "integer": "integer"}[new], step
            elif kind == "nest":
                name = rest.split(":")[-1]
                assert props[name]["type"] in ("dict", "array"), step
            elif kind == "update_returns":
                what, _, arg = rest.partition(":")
                if what == "nest":
                    assert arg in r.returns["properties"]
                elif what == "rename":
                    old, new = arg.split("->")
                    assert new in r.returns["properties"] and old not in r.returns["properties"]
    assert set(seen) == set(P.EVOLUTION_KINDS)


def _find_param(props: dict, name: str) -> dict | None:
    for p, node in props.items():
        if p == name:
            return node
        inner = node.get("properties") or (node.get("items") or {}).get("properties") or {}
        if name in inner:
            return inner[name]
    return None


# ---------------------------------------------------------------------------------------------------------------
# Evolution steps, hand-checked on small definitions


def _draft(tree, text: str, seed: int = 0):
    leaf = parse_leaf(text, "Shop", "Orders")
    return drafts._base_draft([leaf], 1, tree.slots, random.Random(seed))


class _Tree:
    """Just enough of an ApiTree for the evolvers: the shipped slots and one subdomain."""

    def __init__(self, real, leaves: list[str]):
        self.slots = real.slots
        self.leaves = [parse_leaf(t, "Shop", "Orders") for t in leaves]

    def related_slots(self, domain, subdomain):
        return list(dict.fromkeys(s for leaf in self.leaves for s in leaf.slots))

    def domain(self, name):
        return P.Domain(name, "", {"Orders": self.leaves}, "")


def test_add_parameter_adds_an_optional_related_slot(tree):
    t = _Tree(tree, ["search hotels (city) -> hotel_id", "book hotel room (hotel_id, guests) -> booking_id"])
    d = drafts._base_draft([t.leaves[0]], 1, tree.slots, random.Random(0))
    step = evolution._evolve_add_parameter(d, random.Random(0), t)
    added = step.split(":")[1]
    assert step.startswith("add_parameter:") and added in ("hotel_id", "guests")
    assert added in d.props and added not in d.required and d.slots[added] == added


def test_add_constraint_exposes_enum_range_pattern(tree):
    t = _Tree(tree, [])
    d = _draft(tree, "find x (city) -> order_id")
    assert evolution._evolve_add_constraint(d, random.Random(1), t) == "add_constraint:enum:city"
    assert set(d.props["city"]["enum"]) <= set(tree.slots["city"].values) and len(d.props["city"]["enum"]) >= 3
    d = _draft(tree, "find x (guests) -> order_id")
    assert evolution._evolve_add_constraint(d, random.Random(1), t) == "add_constraint:range:guests"
    assert (d.props["guests"]["minimum"], d.props["guests"]["maximum"]) == (1, 8)
    d = _draft(tree, "find x (vin) -> order_id")
    assert evolution._evolve_add_constraint(d, random.Random(1), t) == "add_constraint:pattern:vin"
    assert d.props["vin"]["pattern"] == tree.slots["vin"].pattern
    assert list(d.props["vin"]) == ["type", "description", "pattern"]


def test_change_type_mutates_the_parameter(tree):
    t = _Tree(tree, [])
    d = _draft(tree, "book table (restaurant_id, party_size) -> reservation_id")
    assert evolution._evolve_change_type(d, random.Random(0), t) == "change_type:party_size:integer->string"
    assert d.props["party_size"] == {"type": "string", "description": "Number of people in the party (digits, as a "
                                                                        "string).", "pattern": "^[0-9]+$"}
    d = _draft(tree, "find stores (city) -> store_id")
    assert evolution._evolve_change_type(d, random.Random(0), t) == "change_type:city:string->array"
    assert "city" not in d.props and d.props["cities"]["type"] == "array"
    assert d.props["cities"]["items"]["type"] == "string" and d.required == ["cities"] and d.slots["cities"] == "city"


def test_nest_groups_related_parameters(tree):
    t = _Tree(tree, [])
    d = _draft(tree, "find stores (city, country, ?guests) -> store_id")
    assert evolution._evolve_nest(d, random.Random(0), t) == "nest:location"
    assert list(d.props) == ["location", "guests"]
    loc = d.props["location"]
    assert loc["type"] == "dict" and list(loc["properties"]) == ["city", "country"] and loc["required"] == ["city",
                                                                                                           "country"]
    assert d.required == ["location"] and d.slots["location.city"] == "city" and "city" not in d.slots
    # an id with a quantity becomes a list of line items (array of dicts)
    for seed in range(50):
        d = _draft(tree, "order parts (part_id, quantity) -> order_id")
        if (step := evolution._evolve_nest(d, random.Random(seed), t)) == "nest:array:parts":
            break
    assert step == "nest:array:parts"
    parts = d.props["parts"]
    assert parts["type"] == "array" and parts["items"]["type"] == "dict"
    assert list(parts["items"]["properties"]) == ["part_id", "quantity"] and d.slots["parts[].quantity"] == "quantity"


def test_update_returns_adds_renames_and_nests(tree):
    t = _Tree(tree, ["get order (order_id) -> order_id, name, price", "track order (order_id) -> status, carrier"])
    seen = {}
    for seed in range(200):
        d = drafts._base_draft([t.leaves[0]], 1, tree.slots, random.Random(seed))
        step = evolution._evolve_update_returns(d, random.Random(seed), t)
        if step:
            seen.setdefault(":".join(step.split(":")[:2]), d)
    assert set(seen) == {"update_returns:add", "update_returns:rename", "update_returns:nest"}
    assert set(seen["update_returns:add"].returns) - {"order_id", "name", "price"} <= {"status", "carrier"}
    renamed = seen["update_returns:rename"].returns
    assert "order_id" in renamed and ({"title", "cost"} & set(renamed))  # ids are never renamed
    nested = seen["update_returns:nest"].returns
    if "results" in nested:  # a list of records plus a count
        assert nested["results"]["items"]["properties"].keys() >= {"order_id", "name", "price"}
        assert nested["total_results"]["type"] == "integer"
    else:  # a payload object plus a request id
        assert nested["data"]["properties"].keys() >= {"order_id", "name", "price"} and "request_id" in nested


# ---------------------------------------------------------------------------------------------------------------
# Arguments, requests, execution


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 1999), st.integers(0, 2**32), st.floats(0.0, 1.0))
def test_sampled_arguments_always_execute_and_are_phrased(pool2000, i, seed, optional):
    api = pool2000[i]
    rng = random.Random(seed)
    args = sample_arguments(api, rng, optional=optional)
    result = execute(api, args)
    assert result_issues(api, result) == []
    request = phrase_request(api, args, rng)
    for value in mentioned_values(args):
        assert value in request, (value, request)
    assert execute(api, json.loads(json.dumps(args))) == result  # deterministic, also after a JSON round trip


def _handmade() -> ApiRecord:
    tool = {"name": "hotels.book", "description": "Book a hotel room.", "parameters": {"type": "dict", "properties": {
        "city": {"type": "string", "description": "City."},
        "guests": {"type": "integer", "description": "Guests.", "minimum": 1, "maximum": 8},
        "room_type": {"type": "string", "description": "Room.", "enum": ["single", "double"]},
        "airport": {"type": "string", "description": "IATA code.", "pattern": "^[A-Z]{3}$"},
        "check_in_date": {"type": "string", "description": "Date.", "format": "date"},
        "max_price": {"type": "float", "description": "Budget."},
        "stay": {"type": "dict", "description": "Stay.", "properties": {
            "nights": {"type": "integer", "description": "Nights."}}, "required": ["nights"]},
        "extras": {"type": "array", "description": "Extras.", "items": {"type": "string", "description": "x"}}},
        "required": ["city", "guests"]}}
    returns = {"type": "dict", "properties": {"booking_id": {"type": "string", "description": "Booking."},
                                              "city": {"type": "string", "description": "City."}}}
    t = ToolDef.from_dict(tool)
    return ApiRecord("api-000001", t, returns, "Travel", ["Travel", "Hotels", "book hotel room"],
                     [["Travel", "Hotels", "book hotel room"]], 1, [], {"city": "city", "guests": "guests"},
                     {"executor": "slots-v1", "return_slots": {"booking_id": "booking_id", "city": "city"}},
                     signature(t))


@pytest.mark.parametrize("args, message", [
    ({"guests": 2}, "missing required parameter 'city'"),
    ({"city": "Paris", "guests": 2, "pets": True}, "unknown parameter 'pets'"),
    ({"city": "Paris", "guests": "2"}, "parameter 'guests': expected integer, got string \"2\""),
    ({"city": "Paris", "guests": True}, "parameter 'guests': expected integer, got boolean true"),
    ({"city": "Paris", "guests": 12}, "parameter 'guests': 12 is above the maximum 8"),
    ({"city": "Paris", "guests": 0}, "parameter 'guests': 0 is below the minimum 1"),
    ({"city": "Paris", "guests": 2, "room_type": "suite"}, "parameter 'room_type': \"suite\" is not one of"),
    ({"city": "Paris", "guests": 2, "airport": "jfk"}, "parameter 'airport': \"jfk\" does not match pattern"),
    ({"city": "Paris", "guests": 2, "check_in_date": "2025-13-01"}, "is not a date (YYYY-MM-DD)"),
    ({"city": "Paris", "guests": 2, "max_price": "cheap"}, "parameter 'max_price': expected float"),
    ({"city": "Paris", "guests": 2, "stay": {}}, "parameter 'stay': missing required field 'nights'"),
    ({"city": "Paris", "guests": 2, "stay": {"nights": 1, "x": 1}}, "parameter 'stay': unknown field 'x'"),
    ({"city": "Paris", "guests": 2, "extras": ["ok", 3]}, "parameter 'extras'[1]: expected string"),
    (["Paris"], "arguments must be an object"),
])
def test_execute_rejects_bad_arguments_precisely(args, message):
    with pytest.raises(ExecutionError) as e:
        execute(_handmade(), args)
    assert message in str(e.value) and str(e.value).startswith("hotels.book: ")


def test_execute_is_deterministic_and_echoes_inputs():
    api = _handmade()
    a = execute(api, {"city": "Paris", "guests": 2})
    assert a == execute(api, {"guests": 2, "city": "Paris"})  # key order does not matter
    assert a["city"] == "Paris" and re.fullmatch(r"BKN-[0-9]{6}", a["booking_id"])
    assert execute(api, {"city": "Paris", "guests": 3}) != a
    assert int(execute(api, {"city": "Paris", "guests": 2, "max_price": 100})["booking_id"][4:]) >= 0


def test_phrase_request_mentions_values_through_slot_phrases():
    api = _handmade()
    args = {"city": "Paris", "guests": 3, "stay": {"nights": 2}, "extras": ["spa", "late checkout"]}
    text = phrase_request(api, args, random.Random(0))
    assert "in Paris" in text and "for 3 guests" in text and "spa and late checkout" in text
    assert mentioned_values(args) == ["Paris", "3", "2", "spa", "late checkout"]
    assert mentioned_values({"flag": True, "n": 1.5}) == ["true", "1.5"]


def test_dependent_calls_chain_through_returned_ids(pool2000):
    """An id one API returns is accepted by an API of the same domain that takes that slot (ToolACE's dependent
    calls): execute the producer, feed the id to the consumer, and the consumer accepts it."""
    producers, consumers = {}, {}
    for r in pool2000:
        for path, slot in (r.impl or {})["return_slots"].items():
            if slot.endswith("_id") and "." not in path and "[" not in path:
                producers.setdefault((r.domain, slot), []).append((r, path))
        for path, slot in r.slots.items():
            if slot.endswith("_id") and path == slot:
                consumers.setdefault((r.domain, slot), []).append(r)
    pairs = [(k, p, c) for k in producers.keys() & consumers.keys() for p in producers[k][:1] for c in consumers[k][:2]
             if p[0] is not c]
    assert len(pairs) >= 50
    rng = random.Random(0)
    for (domain, slot), (prod, field), cons in pairs[:200]:
        produced = execute(prod, sample_arguments(prod, rng))[field]
        args = sample_arguments(cons, rng)
        args[slot] = produced
        execute(cons, args)  # the produced id satisfies the consumer's type and any pattern constraint


# ---------------------------------------------------------------------------------------------------------------
# Records and files


def test_load_pool_names_file_line_and_field(tmp_path, pool2000):
    path = tmp_path / "pool.jsonl"
    good = [json.dumps(r.to_dict()) for r in pool2000[:2]]
    path.write_text("\n".join(good + ["{not json"]) + "\n")
    with pytest.raises(PoolError, match=rf"{re.escape(str(path))}:3: not valid JSON"):
        load_pool(path)
    broken = dict(pool2000[0].to_dict())
    del broken["returns"]
    path.write_text("\n".join(good + [json.dumps(broken)]) + "\n")
    with pytest.raises(PoolError, match=rf"{re.escape(str(path))}:3: field 'returns': missing"):
        load_pool(path)
    bad_tool = dict(pool2000[0].to_dict(), tool={"name": "x", "parameters": {"type": "dict", "required": ["y"]}})
    with pytest.raises(PoolError, match=r"where: field 'tool': parameters.required\[0\]"):
        ApiRecord.from_dict(bad_tool, where="where")
    with pytest.raises(PoolError, match="field 'diversity': expected an integer"):
        ApiRecord.from_dict(dict(pool2000[0].to_dict(), diversity="2"))
    assert ApiRecord.from_dict(pool2000[5].to_dict()).to_dict() == pool2000[5].to_dict()


def test_signature_normalises_names_and_kinds():
    def tool(name, **params):
        return {"name": name, "parameters": {"type": "dict", "properties": {
            p: {"type": t} for p, t in params.items()}, "required": []}}
    a = signature(tool("search_hotels", city="string", guests="integer"))
    assert a == "searchhotels(city:string,guests:integer)"
    assert signature(tool("searchHotels", guests="integer", city="string")) == a
    assert signature(tool("hotels.search", city="string", guests="integer")) != a
    assert signature(tool("search-hotels", city="string", guests="float")) != a


# ---------------------------------------------------------------------------------------------------------------
# LLM path with a scripted backend


GOOD_API = {"name": "hotels.searchRooms", "description": "Search rooms.", "parameters": {
    "type": "object", "properties": {"city": {"type": "string", "description": "City."},
                                     "max_price": {"type": "number", "description": "Budget.", "minimum": 0}},
    "required": ["city"]}, "returns": {"type": "object", "properties": {
        "rooms": {"type": "array", "items": {"type": "object", "properties": {"room_id": {"type": "string"}}}}}}}


class ScriptedBackend(Backend):
    """Replies by API index (from the request seed): 0 -> good API; 1 -> malformed once, then good; 2 -> always
    malformed (quarantined); 3 -> the same API as 0 (duplicate, retried, then a different name)."""

    name = "scripted"

    def __init__(self):
        super().__init__()
        self.calls, self.prompts = [], []

    async def achat(self, requests):
        out = []
        for r in requests:
            index = r.seed % 1_000_003
            self.calls.append((index, r.attempt))
            prompt = r.messages[0]["content"]
            self.prompts.append(prompt)
            assert "Diversity level" in prompt and "Functionalities to cover" in prompt
            if index == 0 or (index == 1 and r.attempt > 0):
                api = dict(GOOD_API, name=f"api_{index}")
            elif index == 2:
                out.append(ChatResult("Sure! Here is the API: {\"name\": \"x\", \"parameters\": "))
                continue
            elif index == 3:
                api = dict(GOOD_API, name="api_0" if r.attempt < 3 else "api_3_renamed")
            elif index == 4:
                api = dict(GOOD_API, name="api_4", parameters={"type": "dict", "properties": {
                    "n": {"type": "integer", "enum": ["a"]}}})  # invalid: enum values of the wrong type
                if r.attempt > 0:
                    api = dict(GOOD_API, name="api_4")
            else:
                api = dict(GOOD_API, name=f"api_{index}")
            out.append(ChatResult("```json\n" + json.dumps(api) + "\n```"))
        return out


def test_llm_path_validates_retries_and_quarantines(tmp_path):
    out = tmp_path / "pool.jsonl"
    backend = ScriptedBackend()
    records = build_pool(6, seed=0, backend=backend, out=out, progress=False)
    ids = [r.id for r in records]
    assert ids == ["api-000000", "api-000001", "api-000003", "api-000004", "api-000005"]  # 2 quarantined
    assert all(r.impl is None for r in records)
    r0 = records[0]
    assert r0.tool.to_dict()["parameters"]["type"] == "dict"  # JSON Schema reply stored in the BFCL dialect
    assert r0.tool.to_dict()["parameters"]["properties"]["max_price"]["type"] == "float"
    assert r0.returns["properties"]["rooms"]["items"]["type"] == "dict"
    assert all(step.endswith(":requested") for step in r0.evolution) and r0.slots == {"city": "city",
                                                                                     "max_price": "max_price"}
    assert records[2].tool.name == "api_3_renamed"  # the duplicate was asked again
    quarantined = [json.loads(line) for line in (tmp_path / "pool.jsonl.quarantine.jsonl").read_text().splitlines()]
    assert [q["id"] for q in quarantined] == ["api-000002"]
    assert "unparsable reply" in quarantined[0]["reason"] and quarantined[0]["text"].startswith("Sure!")
    assert Counter(i for i, _ in backend.calls)[2] == 3  # asked, then retried twice
    for prompt in backend.prompts:  # the name's example is the functionality's own phrase, not a fixed API to copy
        phrase = re.search(r"Functionalities to cover.*?\n- [^>]+ > [^>]+ > ([^:]+):", prompt, re.S).group(1)
        assert f'(e.g. "{re.sub("[^0-9a-z]+", "_", phrase.lower()).strip("_")}")' in prompt
        assert "hotels.search" not in prompt
    # LLM-made APIs still execute (schema-driven values) and sample valid arguments
    args = sample_arguments(r0, random.Random(0))
    assert result_issues(r0, execute(r0, args)) == []
    # re-running finishes with no new requests for done or quarantined APIs and the same bytes
    before = out.read_bytes()
    again = ScriptedBackend()
    assert [r.id for r in build_pool(6, seed=0, backend=again, out=out, progress=False)] == ids
    assert again.calls == [] and out.read_bytes() == before


def test_llm_path_also_runs_from_inside_an_event_loop():
    """A notebook cell already runs an event loop; the build then runs its own loop in a worker thread."""
    import asyncio

    async def cell():
        return build_pool(2, seed=0, backend=ScriptedBackend(), progress=False)
    assert [r.tool.name for r in asyncio.run(cell())] == ["api_0", "api_1"]


def test_speciation_parses_new_functionalities(tree):
    class Speciator(Backend):
        async def achat(self, requests):
            assert "Domain: Travel" in requests[0].messages[0]["content"]
            return [ChatResult(json.dumps({"functionalities": [
                "compare hotel prices (hotel_id, check_in_date) -> offers[provider_name, price]",
                "not a leaf", "rate stay (hotel_id, frobnicate) -> status"]}))]
    leaves = P.speciate(Speciator(), tree, "Travel", "Hotels", n=3)
    assert [leaf.phrase for leaf in leaves] == ["compare hotel prices"]  # unparsable / unknown-slot lines dropped


# ---------------------------------------------------------------------------------------------------------------
# CLI


def test_pool_command_builds_and_prints_stats(tmp_path, capsys):
    parser = build_parser(only="pool")
    out, stats = tmp_path / "pool.jsonl", tmp_path / "stats.json"
    args = parser.parse_args(["pool", "--n", "120", "--seed", "3", "--out", str(out), "--stats", str(stats),
                              "--no-progress"])
    assert args.func(args) == 0
    text = capsys.readouterr().out
    assert "pool: 120 APIs" in text and "domains: " in text
    assert re.search(r"parameter types: string \d+", text) and re.search(r"nesting depth: 0: \d+", text)
    assert len(load_pool(out)) == 120 and json.loads(stats.read_text())["apis"] == 120
    bad = parser.parse_args(["pool", "--n", "5", "--out", str(tmp_path / "x.jsonl"), "--tree", str(tmp_path),
                             "--no-progress"])
    assert bad.func(bad) == 2 and "no domain files" in capsys.readouterr().err


def test_a_pool_of_2000_apis_has_every_api_once_and_each_one_valid():
    """What a 2000-API pool promises (no wall-clock limit: the build's speed is measured by
    benchmarks/synthesis_speed.py, where a loaded machine cannot fail a test): ids in order, signatures and
    normalised names unique, every record valid and unchanged by a round trip through its JSON line."""
    pool = build_pool(2000, seed=11, progress=False)
    assert [a.id for a in pool] == [f"api-{i:06d}" for i in range(2000)]
    names = [re.sub(r"[^a-z0-9]", "", a.tool.name.lower()) for a in pool]
    assert len(set(names)) == len(names)
    assert len({json.dumps(a.tool.to_dict(), sort_keys=True) for a in pool}) == len(pool)
    for a in pool[::97]:
        assert validate_tool(a.tool.to_dict()) == [], a.id
        assert ApiRecord.from_dict(json.loads(json.dumps(a.to_dict()))).to_dict() == a.to_dict()


def test_resuming_a_longer_file_with_a_smaller_n_is_refused(tmp_path):
    out = tmp_path / "pool.jsonl"
    build_pool(12, seed=0, out=out, progress=False)
    before = out.read_bytes()
    with pytest.raises(PoolError, match=r"holds 12 APIs, up to api-000011, more than --n 5"):
        build_pool(5, seed=0, out=out, progress=False)
    assert out.read_bytes() == before  # nothing written or cut
