"""Model-guided complexity (ToolACE §2.2, Eq. 1) with the tiny model of tests/conftest.py: the loss covers the
assistant tokens only (checked by hand), batching does not change it, steering moves the loss-band shares towards the
requested band, the programmatic default is untouched, and ``funrl dialogs --complexity-model`` records the losses
and resumes byte-identically."""

from __future__ import annotations

import importlib
import json
import math

import pytest

from funrl_lib.calls import Call
from funrl_lib.cli import build_parser
from funrl_lib.cli.synth import run_dialogs
from funrl_lib.synth import dialogs as D
from funrl_lib.synth.api_pool import build_pool
from funrl_lib.synth.dialogs.model_guided import ModelGuide, loss_band, quantile
from funrl_lib.synth.sample import DIALOG_TYPES, Message, Sample

C = importlib.import_module("funrl_lib.synth.dialogs.complexity")  # the package re-exports a same-named function
torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

_LOSS_META = ("loss", "loss_band", "loss_edges", "loss_tries", "resamples")


@pytest.fixture(scope="module")
def pool():
    return build_pool(80, seed=0, progress=False)


def _tiny_sample(user: str = "add 2 and 3", answer: str = "The sum is 5.") -> Sample:
    tool = {"name": "add", "description": "Add two numbers.",
            "parameters": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                           "required": ["a", "b"]}}
    return Sample("t-0", [tool], [Message("user", user), Message("assistant", calls=[Call("add", {"a": 2, "b": 3})],
                                                                 think="use add"),
                                  Message("tool", results=[{"name": "add", "results": {"sum": 5}}]),
                                  Message("assistant", answer)], "single")


def _by_hand(model, ids, scored):
    """Mean of -log p(token | tokens before it) over the scored tokens, from the full forward's logits."""
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].double(), -1)
    nll = [-float(logp[p - 1, ids[p]]) for p in range(1, len(ids)) if scored[p]]
    return sum(nll) / len(nll)


def test_loss_is_the_mean_over_assistant_tokens_only(tiny_chatml):
    model, tok = tiny_chatml.model, tiny_chatml.tokenizer
    s = _tiny_sample()
    # by hand: tokenise each piece, score the next-token log-probabilities of the assistant pieces only
    ids, scored = [], []
    for text, is_assistant in C._loss_segments(s):
        t = tok(text, add_special_tokens=False)["input_ids"]
        ids += t
        scored += [is_assistant] * len(t)
    assert sum(scored) and not all(scored)
    [got] = D.model_loss([s], model, tok, store=False, max_tokens=len(ids))
    assert got == pytest.approx(_by_hand(model, ids, scored), rel=1e-5)
    # longer than max_tokens (default: the model's 512 positions): the last tokens are kept
    cut = len(ids) - 40
    assert D.model_loss([s], model, tok, store=False, max_tokens=cut)[0] == \
        pytest.approx(_by_hand(model, ids[-cut:], scored[-cut:]), rel=1e-5)
    # scored text is the assistant's: its think, its calls, its words and the end-of-turn marker
    texts = [t for t, sc in C._loss_segments(s) if sc]
    assert texts == ["<think>use add</think>\n[add(a=2, b=3)]<|im_end|>", "The sum is 5.<|im_end|>"]
    # a user turn after the last assistant turn is context for nothing: the loss does not move
    later = _tiny_sample()
    later.messages.append(Message("user", "thanks, and now subtract them please"))
    big = 10 ** 4
    assert D.model_loss([later], model, tok, store=False, max_tokens=big)[0] == pytest.approx(got, rel=1e-6)
    # the assistant's words and the user's query both change it (one is scored, the other conditions it)
    assert D.model_loss([_tiny_sample(answer="Five.")], model, tok, store=False, max_tokens=big)[0] != \
        pytest.approx(got, rel=1e-4)
    assert D.model_loss([_tiny_sample(user="what is 2 plus 3")], model, tok, store=False, max_tokens=big)[0] != \
        pytest.approx(got, rel=1e-4)
    # no assistant turn: nothing to score
    bare = Sample("t-1", s.tools, [Message("user", "hello")], "single")
    assert math.isnan(D.model_loss([bare], model, tok)[0]) and "loss" not in bare.meta


def test_batched_loss_equals_one_at_a_time(tiny_chatml, pool, monkeypatch):
    model, tok = tiny_chatml.model, tiny_chatml.tokenizer
    samples = D.generate_dialogs(pool, 9, seed=3, mix={t: 1 for t in DIALOG_TYPES}, progress=False)
    batched = D.model_loss(samples, model, tok, batch_size=4, store=False)
    alone = [D.model_loss([s], model, tok, batch_size=1, store=False)[0] for s in samples]
    assert batched == pytest.approx(alone, rel=1e-5) and len(set(batched)) == len(batched)
    # the scored-positions-only projection equals the full forward's logits
    monkeypatch.setattr(C, "_body_and_head", lambda model: None)
    assert D.model_loss(samples, model, tok, batch_size=4, store=False) == pytest.approx(batched, rel=1e-5)
    assert D.model_loss(samples, model, tok, batch_size=3, logit_chunk=7) == pytest.approx(batched, rel=1e-5)
    assert [s.meta["loss"] for s in samples] == [round(x, 6) for x in D.model_loss(samples, model, tok, store=False,
                                                                                   batch_size=3, logit_chunk=7)]


def test_quantile_and_band_edges():
    assert quantile([3, 1, 2, 4], 0.5) == 2.5 and quantile([5], 0.3) == 5 and quantile([0, 10], 1 / 3) == \
        pytest.approx(10 / 3)
    assert [loss_band(x, (1.0, 2.0)) for x in (0.5, 1.0, 1.99, 2.0)] == ["easy", "medium", "medium", "hard"]
    with pytest.raises(ValueError):
        ModelGuide(None, None, calibration=2)


def _guided(pool, tiny_chatml, n, cmix, resamples, seed=0):
    guide = ModelGuide(tiny_chatml.model, tiny_chatml.tokenizer, calibration=6, max_resamples=resamples,
                       batch_size=8)
    mix = {t: 1 for t in DIALOG_TYPES}
    return guide, D.generate_dialogs(pool, n, seed=seed, mix=mix, complexity_mix=cmix, progress=False, guide=guide)


def test_steering_moves_band_shares_towards_the_request(pool, tiny_chatml):
    n = 48
    for band in ("easy", "hard"):
        guide, steered = _guided(pool, tiny_chatml, n, {band: 1.0}, resamples=4)
        _, unsteered = _guided(pool, tiny_chatml, n, {band: 1.0}, resamples=0)
        # calibration: per type, edges at the loss terciles of the calibration dialogs
        assert set(guide.edges) == set(DIALOG_TYPES)
        for typ, (lo, hi) in guide.edges.items():
            xs = guide.calibration_losses[typ]
            assert len(xs) == 6 and lo == round(quantile(xs, 1 / 3), 6) and lo <= hi
        got = sum(s.meta["loss_band"] == band for s in steered) / n
        before = sum(s.meta["loss_band"] == band for s in unsteered) / n
        assert got > before + 0.2 and got >= 0.6, (band, before, got)
        for s in steered:
            m = s.meta
            assert m["loss"] == m["loss_tries"][m["resamples"]] and 1 <= len(m["loss_tries"]) <= 5
            assert m["loss_band"] == loss_band(m["loss"], m["loss_edges"]) and m["band"] == band
            assert m["loss_edges"] == list(guide.edges[s.type])
            assert D.structure_problem(s) is None
            # a resample happens only after a miss, and stops at the first hit
            assert all(loss_band(x, m["loss_edges"]) != band for x in m["loss_tries"][:-1])
        # the unsteered run keeps every first candidate: its loss is the first try of the steered run
        assert [s.meta["loss_tries"][0] for s in steered] == [s.meta["loss"] for s in unsteered]
    assert guide.scored > n


def test_default_path_is_unchanged(pool, tiny_chatml):
    """Without a model nothing is scored; the guided run's first candidate is the programmatic sample itself."""
    plain = D.generate_dialogs(pool, 24, seed=5, progress=False)
    assert not any(k in s.meta for s in plain for k in _LOSS_META) and "loss" not in D.dialog_stats(plain)
    guide = ModelGuide(tiny_chatml.model, tiny_chatml.tokenizer, calibration=3, max_resamples=0)
    first = D.generate_dialogs(pool, 24, seed=5, progress=False, guide=guide)
    for a, b in zip(plain, first):
        d = json.loads(json.dumps(b.to_dict()))  # to_dict shares the meta dict
        for k in _LOSS_META:
            d["meta"].pop(k)
        assert d == a.to_dict()
    st = D.dialog_stats(first)["loss"]
    assert st["bands"]["realised"] == st["bands"]["first_candidate"] and st["resamples_mean"] == 0
    assert sum(d["n"] for d in st["by_type"].values()) == 24


def _args(**kw):
    """What `funrl dialogs` parses (its defaults; 10 dialogs, small calibration), with ``kw`` set."""
    args = build_parser(only="dialogs").parse_args(["dialogs", "--pool", "-", "--out", "-"])
    vars(args).update({"n": 10, "concurrency": 4, "no_progress": True, "calibration": 4, "max_resamples": 2,
                       "loss_batch": 8, **kw})
    return args


def test_cli_records_losses_and_resumes_byte_identically(pool, tiny_chatml, tmp_path, capsys):
    model_dir = tmp_path / "tiny"
    tiny_chatml.model.save_pretrained(model_dir)
    tiny_chatml.tokenizer.save_pretrained(model_dir)
    pf = tmp_path / "pool.jsonl"
    pf.write_text("".join(json.dumps(a.to_dict()) + "\n" for a in pool))
    out, stats = tmp_path / "d.jsonl", tmp_path / "stats.json"
    kw = dict(pool=str(pf), n=40, out=str(out), stats=str(stats), complexity_model=str(model_dir),
              complexity_mix="easy=1,hard=1")
    assert run_dialogs(_args(**kw)) == 0
    printed = capsys.readouterr()
    assert "complexity model: scored" in printed.out and "calibrating" in printed.err
    rows = [json.loads(x) for x in out.read_bytes().splitlines()]
    assert len(rows) == 40 and all(isinstance(r["meta"]["loss"], float) for r in rows)
    st = json.loads(stats.read_text())["loss"]
    assert sum(d["n"] for d in st["by_type"].values()) == 40
    for typ, d in st["by_type"].items():
        xs = [r["meta"]["loss"] for r in rows if r["type"] == typ]
        assert d["min"] == min(xs) and d["max"] == max(xs) and d["min"] <= d["q1"] <= d["median"] <= d["q3"]
    assert st["bands"]["target"] == {"easy": 20, "medium": 0, "hard": 20}
    # killed in the second chunk: the chunk is steered again whole and the file ends as before
    data = out.read_bytes()
    out.write_bytes(b"".join(data.splitlines(keepends=True)[:35]))
    assert run_dialogs(_args(**kw)) == 0
    assert out.read_bytes() == data
    # another scoring model's edges are refused rather than mixed in
    torch.manual_seed(1)
    other = type(tiny_chatml.model)(tiny_chatml.model.config)
    other.save_pretrained(model_dir)
    out.write_bytes(data[: len(data) // 2])
    assert run_dialogs(_args(**kw)) == 2 and "loss edges" in capsys.readouterr().err
    # only with the programmatic agents
    assert run_dialogs(_args(**dict(kw, backend="openai", model="m", base_url="http://127.0.0.1:9",
                                      out=str(tmp_path / "e.jsonl")))) == 2
    assert "programmatic agents only" in capsys.readouterr().err
