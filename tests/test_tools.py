"""Tool definitions: both dialects, lossless conversion, validation with paths."""

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funrl_lib.bfcl.data import SUPPORTED_CATEGORIES, load_category
from funrl_lib.tools import Schema, ToolDef, ToolSchemaError, UnreadableTool, load_tools, validate_tool

TOOLACE = {
    "name": "Market Trends API",
    "description": "Get the latest market trends.",
    "parameters": {"type": "dict", "properties": {
        "trend_type": {"description": "Trend type.", "type": "string", "enum": ["GAINERS", "LOSERS"]},
        "limit": {"description": "How many.", "type": "int", "default": 10},
        "window": {"description": "Range.", "type": "tuple", "items": {"type": "float"}},
        "extra": {"description": "Anything.", "type": "any"},
        "maybe": {"type": ["string", "null"]}},
        "required": ["trend_type"]},
    "required": None,
}
OPENAI = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city.", "strict": True,
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string"}, "days": {"type": "integer", "minimum": 1},
        "temp": {"type": "number"}, "tags": {"type": "array", "items": {"type": "string"}},
        "opts": {"type": "object", "properties": {"metric": {"type": "boolean"}}, "additionalProperties": False},
        "free": {"description": "no type keyword"}},
        "required": ["city"], "additionalProperties": False}}}


def test_bfcl_dialect_kinds_and_accessors():
    tool = ToolDef.from_dict(TOOLACE)
    assert tool.dialect == "bfcl" and tool.name == "Market Trends API"
    kinds = {p: s.kind for p, s in tool.parameters.properties.items()}
    assert kinds == {"trend_type": "string", "limit": "integer", "window": "tuple", "extra": "any", "maybe": "string"}
    assert tool.param("window").items.kind == "number"
    assert tool.required == ["trend_type"]
    assert tool.extra == {"required": None}  # ToolACE's stray key is kept
    assert tool.param("limit").has_default and tool.param("limit").default == 10


def test_bfcl_to_openai_spelling_and_markers():
    fn = ToolDef.from_dict(TOOLACE).to_openai()["function"]
    props = fn["parameters"]["properties"]
    assert fn["parameters"]["type"] == "object"
    assert props["trend_type"] == {"description": "Trend type.", "type": "string", "enum": ["GAINERS", "LOSERS"]}
    assert props["limit"]["type"] == "integer" and props["limit"]["x-bfcl-type"] == "int"
    assert props["window"]["type"] == "array" and props["window"]["x-bfcl-type"] == "tuple"
    assert props["window"]["items"] == {"type": "number"}  # float <-> number needs no marker
    assert "type" not in props["extra"] and props["extra"]["x-bfcl-type"] == "any"
    assert props["maybe"] == {"type": ["string", "null"]}
    assert fn["required"] is None


def test_openai_to_bfcl_spelling():
    fn = ToolDef.from_dict(OPENAI).to_bfcl()
    props = fn["parameters"]["properties"]
    assert fn["parameters"]["type"] == "dict"
    assert props["temp"]["type"] == "float" and props["opts"]["type"] == "dict"
    assert props["opts"]["properties"]["metric"] == {"type": "boolean"}
    assert "type" not in props["free"]  # no type keyword stays no type keyword
    assert fn["strict"] is True


@pytest.mark.parametrize("raw", [TOOLACE, OPENAI])
def test_lossless_both_ways(raw):
    tool = ToolDef.from_dict(raw)
    assert tool.to_dict() == raw
    assert list(json.dumps(tool.to_dict())) == list(json.dumps(raw))  # key order kept too
    if raw is TOOLACE:
        assert tool.to_bfcl() == raw
        assert ToolDef.from_dict(tool.to_openai()).to_bfcl() == raw
    else:
        assert tool.to_openai() == raw
        assert ToolDef.from_dict(tool.to_bfcl()).to_openai() == raw


def test_openai_wrapper_extras_survive_bfcl():
    raw = copy.deepcopy(OPENAI)
    raw["x-provider"] = {"cache": True}
    bfcl = ToolDef.from_dict(raw).to_bfcl()
    assert bfcl["x-openai-wrapper"] == {"type": "function", "function": None, "x-provider": {"cache": True}}
    assert ToolDef.from_dict(bfcl).to_openai() == raw


def test_json_schema_float_inside_openai_tool_is_kept():
    raw = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {
        "x": {"type": "float"}}}}}
    bfcl = ToolDef.from_dict(raw).to_bfcl()
    assert bfcl["parameters"]["properties"]["x"] == {"type": "float", "x-json-type": "float"}
    assert ToolDef.from_dict(bfcl).to_openai() == raw


def test_every_bfcl_function_round_trips():
    n = 0
    for category in SUPPORTED_CATEGORIES:
        for entry in load_category(category).values():
            for raw, tool in zip(entry.raw_functions, entry.functions):
                n += 1
                assert tool.to_dict() == raw
                assert ToolDef.from_dict(tool.to_openai()).to_bfcl() == raw
    assert n == 8576


def test_build_and_from_json_string():
    params = Schema.build("object", properties={"q": Schema.build("string", "query")}, required=["q"])
    tool = ToolDef("search", "Search.", params)
    assert tool.to_bfcl() == {"name": "search", "description": "Search.", "parameters": {
        "type": "dict", "properties": {"q": {"type": "string", "description": "query"}}, "required": ["q"]}}
    assert ToolDef.from_dict(json.dumps(tool.to_openai())) == ToolDef.from_dict(tool.to_openai())
    assert [t.name for t in load_tools(json.dumps([tool.to_bfcl(), OPENAI]))] == ["search", "get_weather"]


# ---- validation ----------------------------------------------------------------------------------------------

def issues_of(raw):
    return {(i.path, i.message) for i in validate_tool(raw)}


def test_valid_tools_have_no_issues():
    assert validate_tool(TOOLACE) == []
    assert validate_tool(OPENAI) == []


def test_missing_name():
    assert ("name", "missing (every tool needs a name)") in issues_of({"parameters": {"type": "dict"}})
    assert ("function.name", "missing (every tool needs a name)") in issues_of({"type": "function", "function": {}})
    with pytest.raises(ToolSchemaError, match="name"):
        ToolDef.from_dict({"description": "no name"})


def test_unknown_type_names_path_and_expected():
    raw = {"name": "f", "parameters": {"type": "dict", "properties": {"unit": {"type": "strng"},
                                                                      "xs": {"type": "array", "items": {"type": "flt"}}}}}
    found = {str(i) for i in validate_tool(raw)}
    assert any(s.startswith("parameters.properties.unit.type: unknown type 'strng'; expected one of: string")
               for s in found)
    assert any(s.startswith("parameters.properties.xs.items.type: unknown type 'flt'") for s in found)


def test_required_naming_absent_property():
    raw = {"name": "f", "parameters": {"type": "dict", "properties": {"a": {"type": "string"}},
                                       "required": ["a", "b", "a"]}}
    found = [str(i) for i in validate_tool(raw)]
    assert "parameters.required[1]: 'b' is not a property (properties: a)" in found
    assert "parameters.required[2]: 'a' listed twice" in found


def test_enum_and_default_of_wrong_type():
    raw = {"name": "f", "parameters": {"type": "dict", "properties": {
        "year": {"type": "integer", "enum": [2020, "2021", True]},
        "flag": {"type": "boolean", "default": "false"},
        "tags": {"type": "array", "items": {"type": "string"}, "enum": ["a", 3]},
        "ratio": {"type": "float", "enum": [1, 2.5]}}}}
    found = [str(i) for i in validate_tool(raw)]
    assert "parameters.properties.year.enum[1]: expected integer, got string '2021'" in found
    assert "parameters.properties.year.enum[2]: expected integer, got boolean True" in found
    assert "parameters.properties.flag.default: expected boolean, got string 'false'" in found
    assert "parameters.properties.tags.enum[1]: expected array or string, got integer 3" in found
    assert not any("ratio" in s for s in found)  # an int is a number


def test_structural_issues():
    raw = {"type": "function", "function": {"name": "", "description": 5, "parameters": {
        "type": "string", "properties": [], "required": "a"}}}
    found = {i.path for i in validate_tool(raw)}
    assert {"function.name", "function.description", "function.parameters.type", "function.parameters.properties",
            "function.parameters.required"} <= found
    assert validate_tool("not a tool")[0].message == "expected an object, got string"
    bounds = {"name": "f", "parameters": {"type": "dict", "properties": {
        "n": {"type": "integer", "minimum": 5, "maximum": 1}, "s": {"type": "string", "pattern": "(["}}}}
    found = [str(i) for i in validate_tool(bounds)]
    assert "parameters.properties.n.minimum: minimum 5 is greater than maximum 1" in found
    assert any(s.startswith("parameters.properties.s.pattern: invalid regular expression") for s in found)


def test_strict_loading_raises_with_every_issue_and_location():
    raw = {"name": "f", "parameters": {"type": "dict", "properties": {"a": {"type": "strng"}}, "required": ["b"]}}
    with pytest.raises(ToolSchemaError) as err:
        ToolDef.from_dict(raw, strict=True, where="tools.json:3")
    assert len(err.value.issues) == 2 and str(err.value).startswith("tools.json:3: ")
    assert ToolDef.from_dict(raw).name == "f"  # lenient by default


def test_validation_finds_known_bfcl_defects():
    parallel_29 = load_category("parallel")["parallel_29"]
    found = [str(i) for i in validate_tool(parallel_29.raw_functions[0])]
    assert "parameters.properties.population.required[0]: 'adults' is not a property (properties: none)" in found
    live = load_category("live_multiple")["live_multiple_560-155-0"]
    found = [str(i) for f in live.raw_functions for i in validate_tool(f)]
    assert any("number_of_adults.enum[0]: expected integer, got string '1'" in s for s in found)


# ---- properties ------------------------------------------------------------------------------------------------

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3),
                           max_leaves=8)
bfcl_types = st.sampled_from(["string", "integer", "int", "float", "boolean", "array", "tuple", "dict", "any",
                              "number", "object", "str", "bool", "list", "null"])
names = st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=6)


def schema_nodes(depth=2):
    base = st.fixed_dictionaries({"type": bfcl_types}, optional={
        "description": st.text(max_size=8), "default": json_values, "enum": st.lists(json_values, max_size=3),
        "format": st.sampled_from(["date", "email"])})
    if depth == 0:
        return base
    return st.one_of(
        base,
        st.fixed_dictionaries({"type": st.sampled_from(["array", "tuple", "list"]), "items": schema_nodes(depth - 1)}),
        st.fixed_dictionaries({"type": st.sampled_from(["dict", "object"]),
                               "properties": st.dictionaries(names, schema_nodes(depth - 1), max_size=3)}),
        st.fixed_dictionaries({"description": st.text(max_size=5)}),  # no type keyword
    )


@st.composite
def tools(draw, root):
    props = draw(st.dictionaries(names, schema_nodes(), max_size=4))
    required = draw(st.lists(st.sampled_from(sorted(props)), unique=True)) if props else []
    tool = {"name": draw(names), "description": draw(st.text(max_size=10)),
            "parameters": {"type": root, "properties": props, "required": required}}
    if draw(st.booleans()):
        tool["required"] = None
    return tool


@settings(max_examples=300, deadline=None)
@given(tools("dict"))
def test_bfcl_dialect_round_trips_through_openai(raw):
    tool = ToolDef.from_dict(raw)
    assert tool.to_dict() == raw and tool.to_bfcl() == raw
    assert ToolDef.from_dict(tool.to_openai()).to_bfcl() == raw


@settings(max_examples=300, deadline=None)
@given(tools("object"))
def test_openai_dialect_round_trips_through_bfcl(fn):
    raw = {"type": "function", "function": fn}
    tool = ToolDef.from_dict(raw)
    assert tool.to_dict() == raw and tool.to_openai() == raw
    assert ToolDef.from_dict(tool.to_bfcl()).to_openai() == raw


@settings(max_examples=300, deadline=None)
@given(st.recursive(json_values, lambda c: st.dictionaries(st.sampled_from(
    ["name", "type", "function", "parameters", "properties", "items", "required", "enum", "description"]), c,
    max_size=5), max_leaves=12))
def test_reading_arbitrary_json_raises_only_tool_schema_error(raw):
    validate_tool(raw)  # never raises
    try:
        tool = ToolDef.from_dict(raw)
    except ToolSchemaError:
        return
    tool.to_bfcl(), tool.to_openai(), tool.checker_view()


def test_read_keeps_the_value_it_was_given_and_never_refuses_one():
    raw = copy.deepcopy(TOOLACE)
    tool = ToolDef.read(raw)
    assert tool.source is raw and tool.name == TOOLACE["name"] and tool.to_dict() == raw
    assert ToolDef.from_dict(raw).source == raw  # a tool made otherwise: its to_dict()
    as_text = json.dumps(OPENAI)
    assert ToolDef.read(as_text).source == as_text and ToolDef.read(as_text).name == OPENAI["function"]["name"]
    for broken, problem in [({"description": "no name"}, "name: missing"), (["a", "list"], "expected an object"),
                            ("{not json", "not valid JSON"), (None, "expected an object")]:
        bad = ToolDef.read(broken)
        assert isinstance(bad, UnreadableTool) and bad.source is broken and bad.name is None
        assert problem in str(bad.error)
        with pytest.raises(ToolSchemaError, match=problem):
            bad.to_bfcl()
        with pytest.raises(ToolSchemaError):
            bad.parameters
        again = copy.deepcopy(bad)
        assert isinstance(again, UnreadableTool) and again.source == broken and str(again.error) == str(bad.error)
    assert ToolDef.read({"type": "function", "function": {"description": "d"}}).description == "d"


def test_derived_values_are_computed_once_per_tool():
    tool, calls = ToolDef.read(copy.deepcopy(TOOLACE)), []
    compute = lambda t: calls.append(t.name) or len(calls)  # noqa: E731
    assert tool.derived("k", compute) == 1 and tool.derived("k", compute) == 1 and calls == [TOOLACE["name"]]
    assert tool.derived("other", compute) == 2
    assert ToolDef.read(copy.deepcopy(TOOLACE)).derived("k", compute) == 3  # kept with the tool, not shared
