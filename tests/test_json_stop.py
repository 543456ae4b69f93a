"""Ending a JSON-mode generation when its JSON closes (funrl_lib.json_stop): the scanner on any JSON value fed in any
pieces, and the hf backend on a tiny model taught to write JSON and then keep going."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funrl_lib.json_stop import JsonEndScanner

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                    st.text(alphabet=st.sampled_from('ab{}[]"\\ ,:é\n'), max_size=8))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(st.text(max_size=5), inner, max_size=4)),
                      max_leaves=12)
containers = st.one_of(st.lists(values, max_size=4), st.dictionaries(st.text(max_size=5), values, max_size=4))


def feed_in_pieces(text, cuts):
    scanner = JsonEndScanner()
    points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    for a, b in zip(points, points[1:]):
        if scanner.feed(text[a:b]):
            break
    return scanner


@settings(max_examples=300, deadline=None)
@given(value=containers, indent=st.sampled_from([None, 2]), lead=st.sampled_from(["", "  ", "\n", "```json\n", "```\n"]),
       tail=st.text(alphabet=st.sampled_from('ab{}[]" \n`'), max_size=20), cuts=st.lists(st.integers(0, 400), max_size=8))
def test_the_scanner_ends_exactly_where_the_leading_json_value_closes(value, indent, lead, tail, cuts):
    dumped = json.dumps(value, indent=indent, ensure_ascii=bool(indent))
    text = lead + dumped + tail
    scanner = feed_in_pieces(text, cuts)
    assert scanner.done and not scanner.gave_up
    assert scanner.end == len(lead) + len(dumped)
    assert json.loads(text[scanner.start:scanner.end]) == value


@settings(max_examples=200, deadline=None)
@given(value=containers, prose=st.text(alphabet=st.sampled_from("Here is the JSON: ab.,"), min_size=1, max_size=20),
       cuts=st.lists(st.integers(0, 400), max_size=8))
def test_a_reply_that_starts_with_prose_is_never_cut(value, prose, cuts):
    if not prose.strip().strip("`"):
        prose = "Sure: "
    scanner = feed_in_pieces(prose + json.dumps(value) + " trailing", cuts)
    assert not scanner.done


def test_brackets_in_strings_and_broken_values():
    s = JsonEndScanner()
    assert not s.feed('{"a": "}]\\" {", "b": [1, ') and not s.done
    assert s.feed('2]} and then more') and s.end == len('{"a": "}]\\" {", "b": [1, 2]}')
    broken = JsonEndScanner()
    assert not broken.feed("[1, 2,]  and on") and broken.gave_up  # balanced but not JSON: never cut
    unfinished = JsonEndScanner()
    assert not unfinished.feed('{"a": [1, 2') and not unfinished.done and not unfinished.gave_up


torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

TARGET = '{"name": "f", "a": [1, 2]} and then some more words that go on and on'


@pytest.fixture(scope="module")
def json_talker():
    """A tiny Qwen2 taught to answer with a JSON object followed by prose and no end of turn."""
    from tiny_models import taught_model
    return taught_model(TARGET, "give json", steps=150, end_of_turn=False, max_positions=256)


def test_hf_json_mode_ends_the_reply_when_its_json_closes(json_talker):
    from funrl_lib.backends import ChatRequest, HFBackend
    model, tokenizer = json_talker
    backend = HFBackend(model, tokenizer, batch_size=2)
    messages = [{"role": "user", "content": "give json"}]
    plain, as_json = backend.chat([ChatRequest(messages, temperature=0, max_tokens=40),
                                   ChatRequest(messages, temperature=0, max_tokens=40, json_mode=True)])
    assert plain.text.startswith('{"name": "f", "a": [1, 2]} and then')  # the model goes on after its JSON ...
    assert as_json.text == '{"name": "f", "a": [1, 2]}'  # ... json_mode ends it there
    want = len(tokenizer.encode('{"name": "f", "a": [1, 2]}'))
    assert as_json.usage["completion_tokens"] == want < plain.usage["completion_tokens"]
