"""Speciation with an LLM (ToolACE §2.1): the LLM grows the API context tree (domains → subdomains →
functionalities) from the static tree; bad replies are counted and skipped, sizes are bounded, the grown tree is kept
beside the pool and a re-run asks only what is missing. Scripted backends for the logic, the loopback
OpenAI-compatible server for ``funrl pool --backend openai`` and the whole pool → dialogs → verify run, a tiny real
transformers model for ``--backend hf``."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import sys
from pathlib import Path

import pytest

from funrl_lib.backends import Backend, ChatResult
from funrl_lib.cli import build_parser
from funrl_lib.synth import api_pool as P
from funrl_lib.synth.api_pool import SpeciationConfig, grow_tree, load_pool, load_tree, parse_leaf, tree_path
from funrl_lib.synth.api_pool.speciation import MAX_REPLY_CHARS
from loopback_server import LoopbackServer, ok

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

DOMAINS = {"domains": [{"name": "Travel", "description": "again"}, {"name": "x" * 60, "description": "too long"},
                       {"name": "Pet Care", "description": "Looking after pets."},
                       {"name": "Marine Research", "description": "Ocean science."},
                       {"name": "Extra Domain", "description": "beyond the width"}]}
LEAVES = {
    "Vet Visits": ["book vet appointment (pet_id, date, ?time) -> appointment_id, status", "not a leaf",
                   "feed pet (pet_id, frobnicate) -> status"],
    "Grooming": ["book grooming session (pet_id, date) -> booking_id, status, total_price"],
}


def kind_of(prompt: str) -> str:
    if "NEW application domains" in prompt:
        return "domains"
    if "NEW subdomains of this domain" in prompt:
        return "subdomains:" + re.search(r"Domain: (.*?) \(", prompt).group(1)
    m = re.search(r"Domain: (.*)\nSubdomain: (.*)\n", prompt)
    return f"leaves:{m.group(1)}/{m.group(2)}"


def speciation_reply(prompt: str) -> str:
    """What a good model says to each speciation prompt ('Marine Research' gets broken JSON, always)."""
    kind = kind_of(prompt)
    if kind == "domains":
        return json.dumps(DOMAINS)
    if kind == "subdomains:Marine Research":
        return '{"subdomains": ["Tides", '
    if kind.startswith("subdomains:"):
        return "Sure! " + json.dumps({"subdomains": ["Vet Visits", "Grooming"]})
    sub = kind.split("/", 1)[1]
    return json.dumps({"functionalities": LEAVES.get(sub, [f"check {sub.lower()} status (pet_id) -> status"])})


class Scripted(Backend):
    """Answers by prompt; ``crash_on`` raises (a killed process) when that step is asked."""

    def __init__(self, reply=speciation_reply, crash_on: str | None = None):
        super().__init__()
        self.reply, self.crash_on, self.asked = reply, crash_on, []

    async def achat(self, requests):
        out = []
        for r in requests:
            prompt = r.messages[-1]["content"]
            self.asked.append(kind_of(prompt))
            if self.crash_on and self.asked[-1] == self.crash_on:
                raise KeyboardInterrupt("killed")
            out.append(ChatResult(self.reply(prompt), usage={"prompt_tokens": 1, "completion_tokens": 1}))
        return out


def leaves_of(tree, domain):
    return {s: [x.text for x in ls] for s, ls in tree.domain(domain).subdomains.items()}


def test_the_llm_grows_domains_subdomains_and_functionalities(tmp_path):
    static = load_tree()
    before = static.counts
    backend = Scripted()
    grown, report = grow_tree(static, backend, SpeciationConfig(domains=2, width=2, retries=1), out=tmp_path / "t")
    # Pet Care: two subdomains, one usable functionality each; Marine Research's subdomains never parsed
    assert leaves_of(grown, "Pet Care") == {"Vet Visits": [LEAVES["Vet Visits"][0]], "Grooming": LEAVES["Grooming"]}
    assert "Marine Research" not in {d.name for d in grown.domains}
    assert grown.counts == {"domains": before["domains"] + 1, "subdomains": before["subdomains"] + 2,
                            "leaves": before["leaves"] + 2}
    assert load_tree().counts == before  # the cached static tree is not changed
    assert report["kept"] == {"domains": 2, "subdomains": 2, "leaves": 2} and report["quarantined"] == 1
    assert report["dropped"] == {"bad_name": 1, "over_width": 1, "repeat": 1, "unknown_slot": 1,
                                 "unparsable_leaf": 1}
    assert backend.asked.count("subdomains:Marine Research") == 2  # asked, asked again once, then given up
    rows = [json.loads(line) for line in (tmp_path / "t").read_text().splitlines()]
    bad = next(r for r in rows if r["status"] == "quarantined")
    assert bad["id"] == "subdomains:Marine Research" and "unparsable reply" in bad["reason"]
    assert bad["text"] == '{"subdomains": ["Tides", '
    # the new leaves are sampled by adaptation like the static ones
    pet = [leaf for leaf in grown.leaves if leaf.domain == "Pet Care"]
    assert all(grown.slots.resolve(s) for leaf in pet for s in leaf.slots)


def test_a_crash_mid_speciation_loses_nothing_already_grown(tmp_path):
    config = SpeciationConfig(domains=2, width=2, retries=1)
    calm, _ = grow_tree(load_tree(), Scripted(), config, out=tmp_path / "calm")
    with pytest.raises(KeyboardInterrupt):
        grow_tree(load_tree(), Scripted(crash_on="leaves:Pet Care/Grooming"), config, out=tmp_path / "t")
    kept = {json.loads(line)["id"] for line in (tmp_path / "t").read_text().splitlines()}
    assert {"domains", "subdomains:Pet Care", "subdomains:Marine Research"} <= kept
    again = Scripted()
    grown, report = grow_tree(load_tree(), again, config, out=tmp_path / "t")
    assert set(again.asked) == {"leaves:Pet Care/Vet Visits", "leaves:Pet Care/Grooming"} - kept
    assert report["from_file"] == len(kept) and report["asked"] == len(again.asked)
    assert [x.text for x in grown.leaves] == [x.text for x in calm.leaves]
    # a third run asks nothing and gives the same tree
    third = Scripted()
    assert [x.text for x in grow_tree(load_tree(), third, config, out=tmp_path / "t")[0].leaves] == \
        [x.text for x in calm.leaves] and third.asked == []


def test_the_grown_tree_does_not_depend_on_which_reply_came_first(tmp_path):
    class Late(Scripted):  # the first leaves step asked answers last
        async def achat(self, requests):
            kind = kind_of(requests[0].messages[-1]["content"])
            await asyncio.sleep(0.2 if kind == "leaves:Pet Care/Vet Visits" else 0)
            return await super().achat(requests)

    config = SpeciationConfig(domains=2, width=2, retries=1)
    late, _ = grow_tree(load_tree(), Late(), config, out=tmp_path / "t")
    rows = [json.loads(line)["id"] for line in (tmp_path / "t").read_text().splitlines()]
    assert rows[-1] == "leaves:Pet Care/Vet Visits"  # written when it came
    calm, _ = grow_tree(load_tree(), Scripted(), config)
    assert [x.text for x in late.leaves] == [x.text for x in calm.leaves]
    assert list(late.domain("Pet Care").subdomains) == ["Vet Visits", "Grooming"]


def test_what_a_bad_reply_can_cost_is_bounded():
    tree = load_tree()
    many = [f"check item {k} (item_id) -> status" for k in range(30)]
    replies = {"domains": json.dumps({"domains": [{"name": "Pet Care", "description": "x"}]}),
               "subdomains:Pet Care": json.dumps({"subdomains": ["Vet Visits"]}),
               "leaves:Pet Care/Vet Visits": json.dumps({"functionalities": many})}
    backend = Scripted(lambda p: replies[kind_of(p)])
    grown, report = grow_tree(tree, backend, SpeciationConfig(domains=1, width=3))
    assert [x.phrase for x in grown.domain("Pet Care").subdomains["Vet Visits"]] == \
        ["check item 0", "check item 1", "check item 2"]
    assert report["dropped"] == {"over_width": 27}
    # a reply beyond the size limit is refused before parsing; it costs its retries, then the step is skipped
    replies["domains"] = json.dumps({"domains": [{"name": "Pet Care", "description": "x" * MAX_REPLY_CHARS}]})
    backend = Scripted(lambda p: replies[kind_of(p)])
    grown, report = grow_tree(tree, backend, SpeciationConfig(domains=1, width=3, retries=2))
    assert backend.asked == ["domains"] * 3 and report["quarantined"] == 1 and grown.counts == tree.counts
    # names, descriptions and functionalities over their limits are dropped one by one
    leaves, dropped = P.speciation.parse_leaves(json.dumps({"functionalities": [
        "get pet (" + ", ".join(f"pet_id_{k}" for k in range(9)) + ") -> status",
        "get pet (pet_id) -> " + ", ".join(f"status_{k}" for k in range(3)) + ", " + "x" * 300,
        "get pet (pet_id) -> status"]}), tree, "Pets", "Care", [], 5)
    assert [x.phrase for x in leaves] == ["get pet"] and dropped == {"too_many_slots": 1, "bad_leaf": 1}


@pytest.mark.parametrize("depth", [1, 2])
def test_shallower_speciation_grows_existing_domains_drawn_by_the_seed(depth):
    tree = load_tree()
    backend = Scripted(lambda p: json.dumps({"subdomains": ["Loyalty Programs"]}) if "NEW subdomains" in p else
                       json.dumps({"functionalities": ["get loyalty balance (customer_id) -> points, tier"]}))
    grown, report = grow_tree(tree, backend, SpeciationConfig(domains=1, depth=depth, width=1), seed=5)
    [domain] = {k.split(":")[1].split("/")[0] for k in backend.asked}
    assert "domains" not in backend.asked and domain in {d.name for d in tree.domains}
    subs = tree.domain(domain).subdomains
    if depth == 2:
        assert backend.asked == [f"subdomains:{domain}", f"leaves:{domain}/Loyalty Programs"]
        assert [x.text for x in grown.domain(domain).subdomains["Loyalty Programs"]] == \
            ["get loyalty balance (customer_id) -> points, tier"]
    else:  # one new functionality in every subdomain of the drawn domain, each prompt listing what is there
        assert sorted(backend.asked) == sorted(f"leaves:{domain}/{s}" for s in subs)
        assert grown.counts["leaves"] == tree.counts["leaves"] + len(subs)
    # the same seed draws the same domain
    again = Scripted(backend.reply)
    grow_tree(tree, again, SpeciationConfig(domains=1, depth=depth, width=1), seed=5)
    assert again.asked == backend.asked


def test_speciation_needs_an_llm_and_is_off_by_default(tmp_path, capsys):
    tree = load_tree()
    assert grow_tree(tree, None, SpeciationConfig()) == (tree, {"steps": 0})
    with pytest.raises(P.PoolError, match="needs an LLM backend"):
        grow_tree(tree, None, SpeciationConfig(domains=1))
    parser = build_parser(only="pool")
    args = parser.parse_args(["pool", "--n", "3", "--out", str(tmp_path / "p.jsonl"), "--speciate-domains", "2",
                              "--no-progress"])
    assert args.func(args) == 2 and "needs an LLM backend" in capsys.readouterr().err
    assert not tree_path(tmp_path / "p.jsonl").exists()
    args = parser.parse_args(["pool", "--n", "3", "--out", str(tmp_path / "p.jsonl"), "--speciate-width", "0",
                              "--speciate-domains", "1", "--no-progress"])
    assert args.func(args) == 2 and "width must be between 1 and 20" in capsys.readouterr().err
    text = parser.format_help() + parser._subparsers._group_actions[0].choices["pool"].format_help()
    assert "--speciate-domains" in text and "--speciate-depth" in text and "--speciate-width" in text


# ---------------------------------------------------------------------------------------------------------------------
# Through the loopback OpenAI-compatible server


def evolution_reply(prompt: str) -> str:
    """An API for the first functionality of an evolution prompt (its name carries a digest of the prompt, so a
    retry is a new API)."""
    line = re.search(r"Functionalities to cover \(the sampled subtree\):\n- [^:]*: (.*)\n", prompt).group(1)
    leaf = parse_leaf(line)
    digest = hashlib.sha256(prompt.encode()).hexdigest()[:6]
    props = {s: {"type": "string", "description": f"The {s.replace('_', ' ')}."} for s in leaf.slots}
    returns = {f: {"type": "string", "description": f"The {f.replace('_', ' ')}."} for f in leaf.return_slots()}
    return json.dumps({"name": re.sub(r"[^a-z0-9]+", "_", leaf.phrase) + "_" + digest,
                       "description": f"Does this: {leaf.phrase}.",
                       "parameters": {"type": "dict", "properties": props,
                                      "required": [s for s, r in leaf.params if r]},
                       "returns": {"type": "dict", "properties": returns}})


def pool_respond(received):
    prompt = received.last_message
    if "API context tree" in prompt:
        return ok(speciation_reply(prompt))
    return ok(evolution_reply(prompt))


def test_pool_command_speciates_through_an_openai_server(tmp_path, capsys):
    parser = build_parser(only="pool")
    out = tmp_path / "pool.jsonl"
    with LoopbackServer() as server:
        server.respond = pool_respond
        argv = ["pool", "--backend", "openai", "--base-url", server.base_url, "--model", "loopback", "--n", "40",
                "--seed", "2", "--speciate-domains", "2", "--speciate-width", "2", "--out", str(out), "--stats",
                str(tmp_path / "s.json"), "--no-progress"]
        args = parser.parse_args(argv)
        assert args.func(args) == 0
        first = server.calls
        text = capsys.readouterr().out
        assert "speciation: 5 steps (0 from" in text and "new 2 domains, 2 subdomains, 2 functionalities" in text
        assert "tree 33 domains / 326 subdomains / 1650 leaves" in text
        stats = json.loads((tmp_path / "s.json").read_text())["speciation"]
        assert stats["quarantined"] == 1 and stats["after"]["leaves"] == 1650
        pool = load_pool(out)
        assert len(pool) == 40 and {tuple(a.path[:2]) for a in pool if a.domain == "Pet Care"} <= \
            {("Pet Care", "Vet Visits"), ("Pet Care", "Grooming")}
        assert stats["apis_on_new_functionalities"] == sum(
            any(p[0] == "Pet Care" for p in a.leaves) for a in pool)
        # re-running asks the server nothing: the tree comes from pool.jsonl.tree.jsonl, the APIs from pool.jsonl
        before = out.read_bytes()
        args = parser.parse_args(argv)
        assert args.func(args) == 0 and server.calls == first and out.read_bytes() == before
        assert "speciation: 5 steps (5 from" in capsys.readouterr().out


def test_the_real_run_script_goes_pool_dialogs_verify_through_an_openai_server(tmp_path):
    """scripts/real_llm_synthesis.py, as run with the real model, against the loopback server: the server plays
    speciation, evolution, the three dialog agents (from the programmatic reference dialogs, tests/scripted_agents.py) and the
    judges; every stage parses, and the stats say so."""
    from scripted_agents import scripted_replies

    import real_llm_synthesis as R

    out = tmp_path / "run"
    mix = "single=1,parallel=1,irrelevance=1"
    state = {}
    limits = []

    def respond(received):
        messages = received.body["messages"]
        limits.append(received.body["max_tokens"])
        if messages[0]["content"].startswith("You check synthesized"):
            return ok(json.dumps({"pass": True, "reason": "fine"}))
        if len(messages) == 1:
            return pool_respond(received)
        if "dialogs" not in state:
            state["dialogs"] = scripted_replies(load_pool(out / "pool.jsonl"), 6, 0, mix)
        return state["dialogs"](received)

    with LoopbackServer() as server:
        server.respond = respond
        args = ["--backend", "openai", "--base-url", server.base_url, "--model", "loopback", "--out", str(out),
                "--apis", "12", "--dialogs", "6", "--mix", mix, "--speciate-domains", "2", "--max-tokens", "600"]
        assert R.main(args) == 0
    # --max-tokens caps every stage's limit (pool and dialogs 1,024, speciation 768) and leaves a lower one (judges 512)
    assert set(limits) == {600, 512}
    assert json.loads((out / "stats.json").read_text())["max_tokens"] == 600
    stats = json.loads((out / "stats.json").read_text())["stages"]
    assert stats["speciation"]["kept"] == {"domains": 2, "subdomains": 2, "leaves": 2}
    assert stats["pool"]["written"] == 12 and stats["pool"]["quarantined"] == 0
    assert stats["pool"]["calls"]["json_replies"] == stats["pool"]["calls"]["replies"] == 12
    assert stats["dialogs"]["written"] == 6 and stats["dialogs"]["calls"]["json_replies"] > 0
    v = stats["verify"]
    assert v["kept"] + v["rejected"] == 6 and v["judges"] and v["calls"]["replies"] > 0
    assert sum(v["rejected_per_rule"].values()) >= v["rejected"]
    table = R.summary(out)  # the README's tables, from calls.jsonl, the tree file and stats.json
    assert "| pool | 12 | 12 |" in table and "| verify |" in table and "| domains | ok | Pet Care, Marine Research |" \
        in table and "| subdomains:Marine Research | quarantined |" in table


# ---------------------------------------------------------------------------------------------------------------------
# --backend hf: a tiny real transformers model (random weights: every reply is junk)


def test_pool_command_with_a_tiny_hf_model_counts_and_skips_junk(tmp_path, tiny_chatml, capsys):
    model_dir = tmp_path / "tiny"
    tiny_chatml.tokenizer.save_pretrained(model_dir)
    tiny_chatml.model.save_pretrained(model_dir)
    parser = build_parser(only="pool")
    out = tmp_path / "pool.jsonl"
    argv = ["pool", "--backend", "hf", "--model", str(model_dir), "--n", "0", "--speciate-domains", "1",
            "--speciate-width", "1", "--speciate-max-tokens", "24", "--out", str(out), "--no-progress"]
    args = parser.parse_args(argv)
    assert args.func(args) == 0  # junk costs its bounded retries; the static tree is left as it was
    assert "speciation: 1 steps (0 from" in capsys.readouterr().out
    [row] = [json.loads(line) for line in tree_path(out).read_text().splitlines()]
    assert row["id"] == "domains" and row["status"] == "quarantined" and row["attempts"] == 2
    assert len(row["text"]) <= 24 * 16  # at most 24 tokens came back
    args = parser.parse_args(argv)
    assert args.func(args) == 0 and "speciation: 1 steps (1 from" in capsys.readouterr().out  # not asked again
