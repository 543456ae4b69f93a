"""Dialog generation (ToolACE SDG): every type has its defining structure, tool turns are real executions, values
are grounded, the mix and the bands are honoured, complexity follows its formula, output resumes byte-identically,
and the LLM path votes, retries and quarantines (with a scripted backend, never a network)."""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from funrl_lib.calls import Call, render_calls
from funrl_lib.cli import build_parser
from funrl_lib.cli.synth import run_dialogs
from funrl_lib.synth import dialogs as D
from funrl_lib.synth.api_pool import (ApiRecord, ExecutionError, build_pool, execute, mentioned_values,
                                      validate_arguments)
from funrl_lib.synth.api_pool.phrasing import api_verb_phrase
from funrl_lib.synth.backends import Backend, ChatResult
from funrl_lib.synth.sample import DIALOG_TYPES, Message, Sample

N = 240  # 30 per type under an even mix


@pytest.fixture(scope="module")
def pool() -> list[ApiRecord]:
    return build_pool(200, seed=0, progress=False)


@pytest.fixture(scope="module")
def by_id(pool):
    return {a.id: a for a in pool}


@pytest.fixture(scope="module")
def even_mix():
    return {t: 1.0 for t in DIALOG_TYPES}


@pytest.fixture(scope="module")
def samples(pool, even_mix):
    return D.generate_dialogs(pool, N, seed=0, mix=even_mix, progress=False)


def _apis_of(sample, by_id):
    return {by_id[a].tool.name: by_id[a] for a in sample.meta["api_ids"]}


# ---------------------------------------------------------------------------------------------------------------
# Structure of each type
# ---------------------------------------------------------------------------------------------------------------

def test_every_type_is_produced_with_its_structure(samples):
    counts = Counter(s.type for s in samples)
    assert set(counts) == set(DIALOG_TYPES)
    assert all(c == N // len(DIALOG_TYPES) for c in counts.values())
    problems = [(s.id, s.type, D.structure_problem(s)) for s in samples if D.structure_problem(s)]
    assert problems == []
    assert [s.id for s in samples[:3]] == ["dlg-000000", "dlg-000001", "dlg-000002"]


def test_structure_check_can_fail(samples):
    """The structure check is what the LLM path relies on: it must reject broken dialogs."""
    par = next(s for s in samples if s.type == "parallel")
    broken = Sample.from_dict(par.to_dict())
    turn = next(m for m in broken.messages if m.calls)
    turn.calls = turn.calls[:1]
    assert "parallel" in D.structure_problem(broken) or "one result per call" in D.structure_problem(broken)
    irr = Sample.from_dict(next(s for s in samples if s.type == "irrelevance").to_dict())
    irr.messages[-1] = Message("assistant", calls=[Call("x", {})])
    assert D.structure_problem(irr)


def test_parallel_types(samples):
    for s in samples:
        if s.type not in ("parallel", "parallel_multiple"):
            continue
        [turn] = [m for m in s.messages if m.calls]
        assert len(turn.calls) >= 2
        names = {c.name for c in turn.calls}
        if s.type == "parallel":
            assert len(names) == 1
            args = [json.dumps(c.arguments, sort_keys=True) for c in turn.calls]
            assert len(set(args)) == len(args), "parallel calls must differ in their arguments"
        else:
            assert len(names) >= 2


def test_dependent_passes_a_returned_value_on(samples, by_id):
    deps = [s for s in samples if s.type == "dependent"]
    assert deps
    for s in deps:
        dep = s.meta["depends"]
        turns = [m for m in s.messages if m.calls]
        first, second = turns[0].calls[0], turns[1].calls[0]
        assert first.name == by_id[dep["from"]].tool.name and second.name == by_id[dep["to"]].tool.name
        tool_a = s.messages[s.messages.index(turns[0]) + 1].results[0]["results"]
        value = second.arguments[dep["param"]]
        assert value in D._values_at(tool_a, dep["field"]), "the value must come from the first call's result"
        # ... and not an echo of what the user said: the user never mentions it
        user = " ".join(m.content for m in s.messages if m.role == "user")
        assert not (isinstance(value, str) and len(value) >= 5 and value in user), (s.id, value)
    ids = Counter(by_id[s.meta["depends"]["to"]].slots[s.meta["depends"]["param"]].endswith("_id") for s in deps)
    assert ids[True] >= 0.7 * len(deps), "mostly id dependencies (search -> id -> details/book)"


def test_irrelevance_offers_no_fitting_tool(samples, by_id):
    irr = [s for s in samples if s.type == "irrelevance"]
    assert irr
    for s in irr:
        assert not s.calls() and s.messages[-1].role == "assistant" and s.messages[-1].content
        target = by_id[s.meta["irrelevant_api"]]
        assert target.id not in s.meta["api_ids"]
        leaves = {tuple(x) for x in target.leaves} | {tuple(target.path)}
        for a in s.meta["api_ids"]:
            other = by_id[a]
            assert other.tool.name != target.tool.name
            assert not ({tuple(x) for x in other.leaves} | {tuple(other.path)}) & leaves
            assert other.path[-1] != target.path[-1]
        # the refusal says what cannot be done, as a verb phrase: "get friend locations" -> "get the friend locations"
        assert api_verb_phrase(target).text() in s.messages[-1].content


def test_clarify_asks_for_the_missing_parameter_by_name(samples, by_id):
    cl = [s for s in samples if s.type == "clarify"]
    assert cl
    for s in cl:
        missing = s.meta["missing"]
        roles = [m.role for m in s.messages]
        assert roles[:4] == ["user", "assistant", "user", "assistant"]
        ask = s.messages[1]
        assert not ask.calls and missing in ask.content and missing in ask.think
        call = s.messages[3].calls[0]
        api = _apis_of(s, by_id)[call.name]
        assert missing in api.tool.required
        value = call.arguments[missing]
        for v in mentioned_values({missing: value}):
            assert v in s.messages[2].content, "the user's answer gives the value"
            assert v not in s.messages[0].content or v in json.dumps(
                {k: x for k, x in call.arguments.items() if k != missing}), "the first request must omit it"


def test_multi_turn_has_several_requests(samples):
    for s in samples:
        if s.type == "multi_turn":
            users = [m for m in s.messages if m.role == "user"]
            assert len(users) >= 2 and len([m for m in s.messages if m.calls]) == len(users)


# ---------------------------------------------------------------------------------------------------------------
# Candidates, tool agent, grounding, thinking
# ---------------------------------------------------------------------------------------------------------------

def test_candidates_are_three_to_six_with_same_subdomain_distractors(samples, by_id, pool):
    subs = Counter((a.domain, a.path[1]) for a in pool)
    with_sibling = 0
    for s in samples:
        assert 3 <= len(s.tools) <= 6
        names = s.tool_names()
        assert len(set(names)) == len(names)
        assert [t.name for t in s.tools] == [by_id[a].tool.name for a in s.meta["api_ids"]]
        called = {c.name for c in s.calls()}
        assert called <= set(names)
        if s.type == "irrelevance":
            continue
        apis = [by_id[a] for a in s.meta["api_ids"]]
        anchor = next(a for a in apis if a.tool.name in called)
        if subs[(anchor.domain, anchor.path[1])] > 3:
            siblings = [a for a in apis if a.tool.name not in called and (a.domain, a.path[1]) ==
                        (anchor.domain, anchor.path[1])]
            with_sibling += bool(siblings)
    assert with_sibling >= 0.8 * sum(1 for s in samples if s.type != "irrelevance")


def test_multiple_uses_similar_candidates(samples, by_id):
    for s in samples:
        if s.type == "multiple":
            doms = Counter(by_id[a].domain for a in s.meta["api_ids"])
            assert doms.most_common(1)[0][1] == len(s.tools), "all candidates of 'multiple' share a domain"


def test_tool_turns_are_real_executions_and_calls_validate(samples, by_id):
    n_calls = 0
    for s in samples:
        apis = _apis_of(s, by_id)
        for k, m in enumerate(s.messages):
            if not m.calls:
                continue
            tool = s.messages[k + 1]
            assert [r["name"] for r in tool.results] == [c.name for c in m.calls]
            for c, r in zip(m.calls, tool.results):
                validate_arguments(apis[c.name], c.arguments)
                assert r["results"] == execute(apis[c.name], c.arguments)
                n_calls += 1
    assert n_calls > N


def test_execute_validation_is_real(samples, by_id):
    """The check above would be empty if execute accepted anything."""
    s = next(x for x in samples if x.type == "single")
    c = s.calls()[0]
    api = _apis_of(s, by_id)[c.name]
    with pytest.raises(ExecutionError):
        execute(api, {**c.arguments, "no_such_parameter": 1})


def test_every_argument_value_is_grounded(samples):
    for s in samples:
        said, seen = [], []
        for m in s.messages:
            if m.role == "user":
                said.append(m.content)
            elif m.role == "tool":
                seen.append(json.dumps(m.results, ensure_ascii=False))
            elif m.calls:
                context = " ".join(said + seen)
                for c in m.calls:
                    for v in mentioned_values(c.arguments):
                        assert v in context, f"{s.id}: {c.name} value {v!r} is in no user turn or earlier result"


def test_summaries_quote_the_results(samples):
    for s in samples:
        for k, m in enumerate(s.messages):
            if m.role == "tool" and k + 1 < len(s.messages) and not s.messages[k + 1].calls:
                summary = s.messages[k + 1].content
                values = [D._render(v) for r in m.results for v in D._scalars(r["results"])]
                assert any(len(v) >= 2 and v in summary for v in values) or not values, summary


def test_think_traces_name_the_tool_and_the_values(samples):
    for s in samples:
        for m in s.messages:
            if m.role != "assistant":
                continue
            assert m.think and len(m.think) < 2000
            for c in m.calls or []:
                assert c.name in m.think
                for p, v in c.arguments.items():
                    assert f"{p}={json.dumps(v, ensure_ascii=False)}" in m.think
    t = next(m for s in samples for m in s.messages if m.calls)
    assert t.think.startswith("Need a tool? Yes") and "Required:" in t.think and "Optional:" in t.think


def test_meta_is_recorded(samples, by_id):
    for s in samples:
        m = s.meta
        assert m["source"] == "programmatic" and m["seed"] == 0 and m["band"] in D.BANDS
        assert 0.0 <= m["complexity"] <= 1.0 and m["complexity"] == D.complexity(s)
        assert m["domain"] in {a.domain for a in by_id.values()} and all(a in by_id for a in m["api_ids"])


# ---------------------------------------------------------------------------------------------------------------
# Mix, bands, complexity
# ---------------------------------------------------------------------------------------------------------------

def test_mix_is_honoured_exactly():
    mix = D.parse_mix("single=.3,parallel=.15,dependent=.25,irrelevance=.3")
    for n in (1, 7, 37, 100):
        labels = D.allocate(mix, n, 0, "type")
        got = Counter(labels)
        assert sum(got.values()) == n
        for k, share in mix.items():
            assert abs(got[k] - share * n) < 1, (n, k, got[k], share * n)
    labels = D.allocate(mix, 100, 0, "type")
    assert Counter(labels) == {"single": 30, "parallel": 15, "dependent": 25, "irrelevance": 30}
    assert labels == D.allocate(mix, 100, 0, "type") and labels != D.allocate(mix, 100, 1, "type")


def test_generated_mix_matches(pool):
    out = D.generate_dialogs(pool, 20, seed=3, mix="single=1,clarify=1,dependent=2", progress=False)
    assert Counter(s.type for s in out) == {"single": 5, "clarify": 5, "dependent": 10}


@pytest.mark.parametrize("text, needle", [
    ("single=.3,foo=.2", "'foo=.2'"), ("single=abc", "'single=abc'"), ("single", "'single'"),
    ("single=.3,single=.2", "given twice"), ("single=0", "all weights are zero"), ("single=-1", "'single=-1'"),
    ("", "empty"), ("single=nan", "'single=nan'")])
def test_parse_mix_errors_name_the_item(text, needle):
    with pytest.raises(ValueError, match=re.escape(needle)):
        D.parse_mix(text)


def test_parse_mix_normalises_and_bands():
    assert D.parse_mix("single=3,parallel=1") == {"single": 0.75, "parallel": 0.25}
    assert D.parse_mix("easy=1,hard=1", allowed=D.BANDS) == {"easy": 0.5, "hard": 0.5}
    with pytest.raises(ValueError, match="unknown complexity band 'medum'"):
        D.parse_mix("medum=1", allowed=D.BANDS, what="complexity band")


def _hand_sample(n_tools: int, n_calls: int, query: str, desc: str = "Search hotels in a city") -> Sample:
    tools = [{"name": f"t{i}", "description": desc if i == 0 else "Other thing",
              "parameters": {"type": "dict", "properties": {}, "required": []}} for i in range(n_tools)]
    msgs = [Message("user", query)]
    if n_calls:
        msgs += [Message("assistant", calls=[Call("t0", {})] * n_calls),
                 Message("tool", results=[{"name": "t0", "results": {}}] * n_calls)]
    msgs.append(Message("assistant", "ok"))
    return Sample("x", tools, msgs, "single")


def test_complexity_formula_by_hand():
    # description words {search, hotels, city}; the query has "hotels" and "city": overlap 2/3
    s = _hand_sample(3, 1, "Find hotels in the city of Paris")
    assert D.complexity_parts(s) == {"candidates": 3, "calls": 1, "dissimilarity": pytest.approx(1 / 3)}
    # 0.35 * (3 - 1) / 5 + 0.35 * 1 / 4 + 0.3 * (1 - 2 / 3)
    assert D.complexity(s) == 0.3275
    # more candidates, more calls, a query sharing nothing with the description: each raises the score
    assert D.complexity(_hand_sample(6, 1, "Find hotels in the city of Paris")) == 0.5375  # 0.35 + 0.0875 + 0.1
    assert D.complexity(_hand_sample(3, 3, "Find hotels in the city of Paris")) == 0.5025  # 0.14 + 0.2625 + 0.1
    assert D.complexity(_hand_sample(3, 1, "Where can I sleep in Paris?")) == 0.5275  # 0.14 + 0.0875 + 0.3
    assert D.complexity(_hand_sample(6, 9, "zzz")) == 1.0  # every term saturated
    # no call: the dissimilarity is to all candidates' descriptions ("other", "thing", "search", ...)
    s0 = _hand_sample(3, 0, "search other")
    assert D.complexity_parts(s0)["dissimilarity"] == pytest.approx(1 - 2 / 5)
    scores = [D.complexity(_hand_sample(k, c, "Find hotels")) for k, c in ((3, 1), (4, 1), (4, 2), (6, 4))]
    assert scores == sorted(scores) and len(set(scores)) == 4


def test_complexity_bands_steer_generation(pool):
    easy = D.generate_dialogs(pool, 60, seed=1, complexity_mix="easy=1", progress=False)
    hard = D.generate_dialogs(pool, 60, seed=1, complexity_mix="hard=1", progress=False)
    assert all(s.meta["band"] == "easy" for s in easy) and all(s.meta["band"] == "hard" for s in hard)
    mean = lambda xs: sum(s.meta["complexity"] for s in xs) / len(xs)  # noqa: E731
    assert mean(easy) + 0.15 < mean(hard)
    assert sum(len(s.tools) for s in easy) < sum(len(s.tools) for s in hard)
    # most samples land in their band
    hit = lambda xs, b: sum(D.band_of(s.meta["complexity"]) == b for s in xs) / len(xs)  # noqa: E731
    assert hit(easy, "easy") > 0.9 and hit(hard, "hard") > 0.9
    stats = D.dialog_stats(easy + hard)
    assert stats["bands"]["target"] == {"easy": 60, "medium": 0, "hard": 60}
    assert sum(stats["complexity"]["histogram"].values()) == 120 and set(stats["candidates"]) <= {3, 4, 5, 6}


def test_dialog_stats(samples):
    st = D.dialog_stats(samples)
    assert st["n"] == N and sum(st["types"].values()) == N and st["types"]["clarify"] == N // 8
    assert sum(st["bands"]["target"].values()) == N == sum(st["bands"]["realised"].values())
    assert 0 <= st["bands"]["hit_rate"] <= 1 and st["calls"].get(0) == N // 8  # irrelevance only
    text = D.format_stats(st)
    assert "types:" in text and "in target band" in text


# ---------------------------------------------------------------------------------------------------------------
# model_loss (ToolACE Eq. 1) with a tiny random model
# ---------------------------------------------------------------------------------------------------------------

def test_model_loss_with_a_tiny_model(samples):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from funrl_lib.train.tiny import tiny_qwen2, tiny_tokenizer

    tokenizer = tiny_tokenizer([json.dumps(s.to_dict()) for s in samples[:20]], vocab_size=400)
    model = tiny_qwen2(tokenizer, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                       num_key_value_heads=1, max_position_embeddings=1024)
    picked = [Sample.from_dict(s.to_dict()) for s in (samples[0], samples[1], samples[5])]
    losses = D.model_loss(picked, model, tokenizer)
    assert all(0 < x < 20 for x in losses) and len(set(losses)) == 3
    assert [s.meta["loss"] for s in picked] == [round(x, 6) for x in losses]
    assert D.model_loss(picked[:1], model, tokenizer, store=False) == losses[:1]  # deterministic
    # only assistant tokens are scored
    segs = D._loss_segments(picked[0])
    assert all(t.startswith("<think>") for t, scored in segs if scored)
    assert sum(scored for _, scored in segs) == sum(m.role == "assistant" for m in picked[0].messages)


# ---------------------------------------------------------------------------------------------------------------
# Determinism and resuming
# ---------------------------------------------------------------------------------------------------------------

def test_same_seed_same_bytes(pool, tmp_path):
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    D.generate_dialogs(pool, 60, seed=7, out=a, progress=False)
    D.generate_dialogs(pool, 60, seed=7, out=b, progress=False)
    D.generate_dialogs(pool, 60, seed=8, out=c, progress=False)
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
    assert len(a.read_bytes().splitlines()) == 60


def test_kill_and_resume_is_byte_identical(pool, tmp_path):
    full = tmp_path / "full.jsonl"
    ref = D.generate_dialogs(pool, 50, seed=2, out=full, progress=False)
    data = full.read_bytes()
    lines = data.split(b"\n")
    cut_mid_line = len(b"\n".join(lines[:17])) + 1 + len(lines[17]) // 2
    for cut in (cut_mid_line, len(b"\n".join(lines[:9])) + 1, 0, len(data)):
        part = tmp_path / f"part{cut}.jsonl"
        part.write_bytes(data[:cut])
        back = D.generate_dialogs(pool, 50, seed=2, out=part, progress=False)
        assert part.read_bytes() == data
        assert [s.to_dict() for s in back] == [s.to_dict() for s in ref]
        ids = [json.loads(x)["id"] for x in part.read_bytes().splitlines()]
        assert len(ids) == len(set(ids)) == 50


def test_resume_refuses_a_file_of_another_seed(pool, tmp_path):
    out = tmp_path / "d.jsonl"
    D.generate_dialogs(pool, 5, seed=0, out=out, progress=False)
    with pytest.raises(ValueError, match="seed"):
        D.generate_dialogs(pool, 10, seed=1, out=out, progress=False)
    with pytest.raises(ValueError, match="another pool, --n, --mix"):  # same seed, another mix
        D.generate_dialogs(pool, 10, seed=0, out=out, progress=False, mix="single=1")
    with pytest.raises(ValueError, match="another pool"):
        D.generate_dialogs(pool[::-1], 10, seed=0, out=out, progress=False)
    assert len(out.read_bytes().splitlines()) == 5  # refused runs leave the file alone


# ---------------------------------------------------------------------------------------------------------------
# LLM agents with a scripted backend
# ---------------------------------------------------------------------------------------------------------------

class Scripted(Backend):
    """Plays the three agents from the programmatic reference dialogs: the user agent repeats its intent, the
    assistant agent replays the reference turn, the tool agent runs the real executor. ``mode`` breaks it."""

    name = "scripted"

    def __init__(self, reference: list[Sample], apis: dict[str, ApiRecord], mode: str = "good"):
        super().__init__()
        self.by_first = {s.messages[0].content: s for s in reference}
        self.apis, self.mode, self.seen = apis, mode, []

    async def achat(self, requests):
        return [self.reply(r) for r in requests]

    def reply(self, req) -> ChatResult:
        self.seen.append(req)
        system, prompt = req.messages[0]["content"], req.messages[-1]["content"]
        if system.startswith("You are the user agent"):
            intent = re.search(r"Intent of your next message: (.*)\nStyle:", prompt, re.S).group(1)
            return ChatResult(json.dumps({"message": intent}))
        if system.startswith("You are the tool agent"):
            call = json.loads(prompt.split("Call:\n", 1)[1])
            return ChatResult("Result:\n```json\n" + json.dumps(execute(self.apis[call["name"]], call["arguments"]))
                              + "\n```")
        ref = self.by_first[req.messages[1]["content"]]
        k = sum(1 for m in req.messages if m["role"] == "assistant")
        target = [m for m in ref.messages if m.role == "assistant"][k]
        vote, retry = divmod(req.attempt, 3)
        if self.mode == "broken" or (self.mode == "flaky" and retry == 0):
            return ChatResult("I would call the function now.")
        body = {"think": target.think}
        if target.calls:
            calls = target.calls
            if self.mode == "disagree" and vote == 1:
                c = calls[0]
                calls = [Call(c.name, {**c.arguments, "zz_other": "something else"})] + calls[1:]
            body["calls"] = render_calls(calls)
        else:
            body["content"] = target.content
        return ChatResult(json.dumps(body))


def _llm_pool(pool):
    """The real pool with executors removed from half the APIs, so the tool agent simulates their results."""
    return [dataclasses.replace(a, impl=None) if k % 2 else a for k, a in enumerate(pool)]


def test_llm_agents_produce_the_same_dialogs(pool, tmp_path):
    lp = _llm_pool(pool)
    ref = D.generate_dialogs(lp, 24, seed=5, mix={t: 1 for t in DIALOG_TYPES}, progress=False)
    backend = Scripted(ref, {a.tool.name: a for a in lp})
    out = tmp_path / "llm.jsonl"
    got = D.generate_dialogs(lp, 24, seed=5, mix={t: 1 for t in DIALOG_TYPES}, backend=backend, out=out,
                             progress=False, concurrency=5)
    assert [s.id for s in got] == [s.id for s in ref]
    for a, b in zip(got, ref):
        assert [m.to_dict() for m in a.messages] == [m.to_dict() for m in b.messages]
        assert a.meta["source"] == "scripted" and a.meta["votes"] == 3 and D.structure_problem(a) is None
    kinds = Counter(r.messages[0]["content"][:24] for r in backend.seen)
    assert kinds["You are the tool agent o"] > 0, "APIs without impl get simulated results"
    assert kinds["You are the assistant ag"] == 3 * sum(1 for s in ref for m in s.messages if m.role == "assistant")
    assert len(out.read_bytes().splitlines()) == 24 and not Path(str(out) + ".quarantine.jsonl").read_bytes()
    assert "{tools}" not in D.DIALOG_PROMPTS["user"] and set(D.DIALOG_PROMPTS) == {"user", "assistant", "tool"}


def test_llm_vote_disagreement_is_quarantined(pool, tmp_path):
    ref = D.generate_dialogs(pool, 6, seed=4, mix="single=1,irrelevance=1", progress=False)
    backend = Scripted(ref, {a.tool.name: a for a in pool}, mode="disagree")
    q: list = []
    out = tmp_path / "q.jsonl"
    got = D.generate_dialogs(pool, 6, seed=4, mix="single=1,irrelevance=1", backend=backend, out=out,
                             progress=False, quarantined=q)
    assert {s.type for s in got} == {"irrelevance"} and len(got) == 3  # text decisions agree
    assert len(q) == 3 and all("votes disagree" in r["reason"] for r in q)
    assert {r["id"] for r in q} == {s.id for s in ref if s.type == "single"}
    # resuming does not ask again for quarantined samples
    n_before = len(backend.seen)
    again = D.generate_dialogs(pool, 6, seed=4, mix="single=1,irrelevance=1", backend=backend, out=out,
                               progress=False)
    assert len(backend.seen) == n_before and [s.id for s in again] == [s.id for s in got]


def test_llm_malformed_replies_are_retried_then_quarantined(pool):
    ref = D.generate_dialogs(pool, 4, seed=6, mix="single=1", progress=False)
    flaky = Scripted(ref, {a.tool.name: a for a in pool}, mode="flaky")
    got = D.generate_dialogs(pool, 4, seed=6, mix="single=1", backend=flaky, progress=False)
    assert [m.to_dict() for m in got[0].messages] == [m.to_dict() for m in ref[0].messages]
    assert any(r.attempt % 3 == 1 for r in flaky.seen), "a malformed reply is asked again"
    q: list = []
    broken = Scripted(ref, {a.tool.name: a for a in pool}, mode="broken")
    assert D.generate_dialogs(pool, 4, seed=6, mix="single=1", backend=broken, progress=False, quarantined=q) == []
    assert len(q) == 4 and all("unparsable" in r["reason"] and r["text"] for r in q)


# ---------------------------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------------------------

def _args(**kw):
    """What `funrl dialogs` parses (its defaults; 10 dialogs, no progress bar), with ``kw`` set."""
    args = build_parser(only="dialogs").parse_args(["dialogs", "--pool", "-", "--out", "-"])
    vars(args).update({"n": 10, "concurrency": 4, "no_progress": True, **kw})
    return args


def test_cli_skips_a_bad_pool_line_and_reports_it(pool, tmp_path, capsys):
    pf = tmp_path / "pool.jsonl"
    lines = [json.dumps(a.to_dict()) for a in pool[:60]]
    lines[3] = "{not json"
    bad = pool[5].to_dict()
    del bad["tool"]
    lines[5] = json.dumps(bad)
    pf.write_text("\n".join(lines) + "\n")
    out, stats = tmp_path / "d.jsonl", tmp_path / "stats.json"
    assert run_dialogs(_args(pool=str(pf), out=str(out), stats=str(stats))) == 0
    err = capsys.readouterr().err
    assert f"{pf}:4:" in err and f"{pf}:6:" in err and "'tool'" in err
    assert len(out.read_bytes().splitlines()) == 10 and json.loads(stats.read_text())["n"] == 10


def test_cli_bad_mix_and_parser(pool, tmp_path, capsys):
    pf = tmp_path / "pool.jsonl"
    pf.write_text("".join(json.dumps(a.to_dict()) + "\n" for a in pool[:20]))
    assert run_dialogs(_args(pool=str(pf), out=str(tmp_path / "x.jsonl"), mix="single=.5,bogus=.5")) == 2
    assert "'bogus=.5'" in capsys.readouterr().err
    parser = build_parser(only="dialogs")
    ns = parser.parse_args(["dialogs", "--pool", str(pf), "--out", str(tmp_path / "y.jsonl"), "--n", "12",
                            "--mix", "single=1", "--complexity-mix", "easy=1", "--no-progress"])
    assert ns.func(ns) == 0
    out = capsys.readouterr().out
    assert "dialogs: 12" in out and "single 12" in out
