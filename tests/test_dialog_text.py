"""The programmatic dialogs' text (issue 16 item 4; ToolACE arXiv 2409.00920v2 §2.2's user and assistant agents):
requests read like a person asking (the API's verb phrase, argument names as words) and still mention every value
verbatim, for every dialog type; summaries state only what the tools returned; the text is a function of the seed."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funrl_lib.synth import dialogs as D
from funrl_lib.synth.api_pool import (ApiRecord, build_pool, mentioned_values, phrase_request, sample_arguments,
                                      signature)
from funrl_lib.synth.api_pool.phrasing import api_verb_phrase, phrase_action, phrase_mentions
from funrl_lib.synth.api_pool.verbs import past, plural, singular, verb_phrase
from funrl_lib.synth.dialogs.summaries import fact_clauses, summary_text
from funrl_lib.synth.sample import DIALOG_TYPES
from funrl_lib.synth.verify import VerifyContext, verify_sample
from funrl_lib.tools import ToolDef

PER_TYPE = 30


@pytest.fixture(scope="module")
def pool():
    return build_pool(300, seed=0, progress=False)


@pytest.fixture(scope="module", params=[0, 1])
def dialogs(request, pool):
    return D.generate_dialogs(pool, PER_TYPE * len(DIALOG_TYPES), seed=request.param,
                              mix={t: 1.0 for t in DIALOG_TYPES}, progress=False)


def _keys(node, out):
    if isinstance(node, dict):
        for k, v in node.items():
            out.add(k)
            _keys(v, out)
    elif isinstance(node, list):
        for v in node:
            _keys(v, out)
    return out


def _raw_keys_said(text: str, arguments: dict) -> list[str]:
    """Parameter names with "_" written as such in ``text`` (not inside one of the values)."""
    values = mentioned_values(arguments)
    return [k for k in _keys(arguments, set()) if "_" in k and re.search(rf"(?<![\w.]){re.escape(k)}(?!\w)", text)
            and not any(k in v for v in values)]


# -- requests, over the whole pool -------------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(st.integers(0, 299), st.integers(0, 2**32), st.floats(0.0, 1.0))
def test_requests_say_every_value_and_no_raw_key(pool, i, seed, optional):
    api = pool[i]
    args = sample_arguments(api, random.Random(seed), optional=optional)
    for phrase in (phrase_request, phrase_action, phrase_mentions):
        text = phrase(api, args, random.Random(seed))
        assert [v for v in mentioned_values(args) if v not in text] == [], text
        assert _raw_keys_said(text, args) == [], text
        assert "; " not in text and text == phrase(api, args, random.Random(seed))  # deterministic per seed


def test_request_reads_as_a_person_asking(pool):
    api = next(a for a in pool if a.path[-1] == "book flight")
    args = {"flight_id": "FLG-365756", "passenger_name": "Jamal Wright",
            "passenger_emails": ["bob.chen@mailbox.org", "grace.kim@example.com"]}
    text = phrase_action(api, args, random.Random(0))
    # the flight's id joins "book the flight", the list is named in the plural
    assert text.startswith("book the flight FLG-365756 ")
    assert "for passenger Jamal Wright" in text and "passenger emails bob.chen@mailbox.org and grace.kim" in text


def _api(leaf: str, props: dict) -> ApiRecord:
    tool = ToolDef.from_dict({"name": leaf.replace(" ", "_"), "description": f"{leaf}.", "parameters": {
        "type": "dict", "properties": {k: {"type": "string", "description": k} for k in props}, "required": []}})
    return ApiRecord("api-000001", tool, {"type": "dict", "properties": {}}, "Cloud", ["Cloud", "Compute", leaf],
                     [["Cloud", "Compute", leaf]], 1, [], {}, None, signature(tool))


def test_values_said_the_same_way_get_their_labels_and_records_their_ordinals():
    api = _api("launch instance", {"bucket_name": 0, "instance_name": 0})
    text = phrase_action(api, {"bucket_name": "Summit", "instance_name": "Cedar Point"}, random.Random(0))
    # both are "called {value}" by their slot: said with their labels, "with" not repeated
    assert text == "launch an instance with bucket name Summit and instance name Cedar Point"
    orders = {"orders": [{"order_id": "ORD-1", "quantity": 2}, {"order_id": "ORD-2", "quantity": 5}]}
    text = phrase_mentions(api, orders, random.Random(0))
    assert text.startswith("for two orders (the first ") and ", the second " in text and ";" not in text
    assert all(v in text for v in mentioned_values(orders))


def test_verb_phrases_articles_and_tenses():
    assert verb_phrase("book flight").text() == "book a flight"
    assert verb_phrase("get hotel details").text() == "get the hotel details"
    assert verb_phrase("search flights").text() == "search flights"
    assert verb_phrase("upload object").text() == "upload an object"
    assert verb_phrase("translate text").text() == "translate the text"
    assert verb_phrase("checkout cart").text() == "check out the cart"
    assert verb_phrase("where to watch").text() == "find out where to watch"
    assert verb_phrase("clock in").text() == "clock in"
    assert [past(v) for v in ("book", "get", "stop", "apply", "create", "clock in")] == \
        ["booked", "got", "stopped", "applied", "created", "clocked in"]
    assert [singular(w) for w in ("providers", "addresses", "entries", "status")] == \
        ["provider", "address", "entry", "status"]
    assert [plural(w) for w in ("passenger email", "entry", "box", "seats")] == \
        ["passenger emails", "entries", "boxes", "seats"]


# -- dialogs of every type ----------------------------------------------------------------------------------------

def test_every_call_value_is_in_the_user_turns_for_every_type(dialogs):
    seen = set()
    for s in dialogs:
        seen.add(s.type)
        users = "\n".join(m.content for m in s.messages if m.role == "user")
        dep = s.meta.get("depends") or {}
        for n, call in enumerate(s.calls()):
            args = {k: v for k, v in call.arguments.items() if not (n > 0 and k == dep.get("param"))}
            missing = [v for v in mentioned_values(args) if v not in users]
            assert missing == [], (s.id, s.type, missing, users)
            assert _raw_keys_said(users, call.arguments) == [], (s.id, users)
        assert "; " not in users, (s.id, users)  # no "key value; key value"
    assert seen == set(DIALOG_TYPES)


def test_final_answers_state_only_tool_output_values(dialogs, pool):
    ctx = VerifyContext(pool=pool)
    failed = {s.id: v.failed for s in dialogs for v in [verify_sample(s, ctx)] if not v.kept}
    assert failed == {}


def test_summary_is_a_sentence_of_the_outputs():
    vp = verb_phrase("book flight")
    result = {"booking_id": "BKN-902463", "status": "confirmed", "total_price": 705.82}
    assert fact_clauses(result) == ["the booking ID is BKN-902463", "the status is confirmed",
                                    "the total price is 705.82"]
    found = {"flights": [{"flight_id": "FLG-1", "airline": "Qantas"}, {"flight_id": "FLG-2", "airline": "KLM"}],
             "gate": "D3", "open": False, "reviews": []}
    assert fact_clauses(found, limit=4) == ["there are 2 flights, the first with flight ID FLG-1 and airline Qantas",
                                            "the gate is D3", "open is false", "there are no reviews"]
    text = summary_text([vp], [result], random.Random(0))
    assert text.endswith("the booking ID is BKN-902463, the status is confirmed and the total price is 705.82.")
    both = summary_text([vp, vp], [result, {"booking_id": "BKN-1"}], random.Random(0))
    assert "First, the booking ID is BKN-902463" in both and "Second, the booking ID is BKN-1." in both


def test_dialog_text_is_deterministic_per_seed(pool):
    mix = {t: 1.0 for t in DIALOG_TYPES}
    a = D.generate_dialogs(pool, 16, seed=3, mix=mix, progress=False)
    b = D.generate_dialogs(pool, 16, seed=3, mix=mix, progress=False)
    assert [[m.content for m in s.messages] for s in a] == [[m.content for m in s.messages] for s in b]
    assert api_verb_phrase(pool[0]) == api_verb_phrase(pool[0])
