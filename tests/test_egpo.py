"""EGPO: Eq. 5 on hand-computed cases, think-span masks, the entropy helper against brute force, and the trainer hook."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from funrl_lib.train.egpo import (EGPOSettings, egpo_advantages, entropy_trainer_class, sequence_entropy,  # noqa: E402
                                  span_mask_from_ids, span_mask_from_pieces, think_span_mask, token_entropies,
                                  token_entropies_shared_prompt)
from funrl_lib.train.tiny import tiny_qwen2, tiny_tokenizer  # noqa: E402

CORPUS = ["<think>Need a tool? Yes. Tool: get_weather.</think>\n[get_weather(city='Paris')]",
          "What is the weather in Paris?", "None of the functions can be used."] * 10


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer(CORPUS, vocab_size=300)


# ---------------------------------------------------------------------------------------------------------------
# Eq. 5
# ---------------------------------------------------------------------------------------------------------------

def test_advantage_formula_hand_computed():
    # rewards [1, 0, 0, 0]: mean .25, sample std .5 -> A = [1.5, -.5, -.5, -.5] (Eq. 1)
    a = torch.tensor([1.5, -0.5, -0.5, -0.5])
    e = torch.tensor([0.5, 2.0, 0.1, 3.0])
    span = torch.tensor([True, True, True, False])
    new, bonus, capped = egpo_advantages(a, e, span, lam=0.4, alpha=2.0)
    # i0: 0.4*0.5 = 0.2 < 1.5/2      -> +0.2  = 1.7
    # i1: 0.4*2.0 = 0.8 > 0.5/2 = .25 -> +0.25 = -0.25 (the cap binds)
    # i2: 0.4*0.1 = 0.04 < .25       -> +0.04 = -0.46
    # i3: no think span              -> +0    = -0.5
    assert new.tolist() == pytest.approx([1.7, -0.25, -0.46, -0.5])
    assert bonus.tolist() == pytest.approx([0.2, 0.25, 0.04, 0.0])
    assert capped.tolist() == [False, True, False, False]


def test_zero_advantage_gets_no_bonus():
    new, bonus, capped = egpo_advantages(torch.zeros(4), torch.tensor([0.0, 1.0, 5.0, 100.0]), lam=0.4, alpha=2.0)
    assert new.tolist() == [0.0] * 4 and bonus.tolist() == [0.0] * 4
    assert capped.tolist() == [False] * 4  # A = 0 is not counted as capped


def test_lambda_and_alpha_are_used():
    new, _, _ = egpo_advantages(torch.tensor([1.0]), torch.tensor([1.0]), lam=0.1, alpha=4.0)
    assert new.item() == pytest.approx(1.1)  # min(0.1, 0.25)
    new, _, capped = egpo_advantages(torch.tensor([1.0]), torch.tensor([1.0]), lam=1.0, alpha=4.0)
    assert new.item() == pytest.approx(1.25) and capped.item()  # min(1.0, 0.25)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.floats(-5, 5), st.floats(0, 50), st.booleans()), min_size=1, max_size=16),
       st.floats(0, 10), st.floats(1.0001, 10))
def test_sign_never_flips_and_bonus_is_bounded(rows, lam, alpha):
    a = torch.tensor([r[0] for r in rows], dtype=torch.float64)
    e = torch.tensor([r[1] for r in rows], dtype=torch.float64)
    span = torch.tensor([r[2] for r in rows])
    new, bonus, _ = egpo_advantages(a, e, span, lam=lam, alpha=alpha)
    for ai, ni, bi in zip(a.float().tolist(), new.tolist(), bonus.tolist()):
        assert 0 <= bi <= abs(ai) / alpha + 1e-6
        if ai > 0:
            assert ni >= ai
        elif ai < 0:
            assert ai <= ni < 0 or math.isclose(ni, 0, abs_tol=1e-6)
            assert ni <= ai * (1 - 1 / alpha) + 1e-6  # at most |A|/α of the penalty is forgiven
        else:
            assert ni == 0


def test_settings_validation():
    with pytest.raises(ValueError, match="alpha"):
        EGPOSettings(entropy_alpha=1.0)
    with pytest.raises(ValueError, match="advantage_mode"):
        EGPOSettings(advantage_mode="ppo")


# ---------------------------------------------------------------------------------------------------------------
# Think-span masks
# ---------------------------------------------------------------------------------------------------------------

O, C = 1, 2


@pytest.mark.parametrize("ids,expected,kwargs", [
    ([O, 5, 6, C, 7], [0, 1, 1, 0, 0], {}),                      # one span; tags and answer excluded
    ([5, 6, 7], [0, 0, 0], {}),                                   # no span
    ([O, 5, 6, 7], [0, 0, 0, 0], {}),                             # unclosed: not a span
    ([O, 5, C, 7, O, 6, 8, C, 9], [0, 1, 0, 0, 0, 1, 1, 0, 0], {}),  # several spans count together
    ([O, 5, C, O, 6], [0, 1, 0, 0, 0], {}),                       # closed span, then an unclosed one
    ([O, 5, O, 6, C], [0, 0, 0, 1, 0], {}),                       # a repeated open tag restarts the span
    ([5, 6, C, 7], [1, 1, 0, 0], {"prefilled": True}),            # template opened <think>
    ([5, 6, 7], [0, 0, 0], {"prefilled": True}),                  # ... and it was never closed
    ([O, 5, C, 0, 0], [0, 1, 0, 0, 0], {"length": 3}),            # right padding is ignored
    ([O, 5, 6, C, 0], [0, 0, 0, 0, 0], {"length": 3}),            # a close tag past the length does not count
])
def test_span_mask_from_ids(ids, expected, kwargs):
    assert span_mask_from_ids(ids, O, C, **kwargs) == [bool(x) for x in expected]


def test_span_mask_from_pieces_with_split_tags():
    # Qwen2.5's tokenizer has no <think> token: the tags come out as several pieces, sometimes fused with text
    pieces = ["<", "think", ">", "Need", " a tool", "</", "think", ">\n", "[f(a=1)]"]
    assert span_mask_from_pieces(pieces) == [False] * 3 + [True, True] + [False] * 4
    fused = ["<think", ">Need", " tool</", "think>", "[f()]"]
    assert span_mask_from_pieces(fused) == [False, True, True, False, False]
    assert span_mask_from_pieces(["<think>", "x"]) == [False, False]  # unclosed
    assert span_mask_from_pieces(["a", "</think>", "b"], prefilled=True) == [True, False, False]


SEGMENTS = st.lists(st.sampled_from(["<think>", "</think>", "Need", " tool", " Paris", "\n", "[get_weather(", ")]",
                                     "city='Paris'", "None"]), max_size=14)


@settings(max_examples=150, deadline=None)
@given(SEGMENTS, st.booleans())
def test_id_and_text_paths_agree(tokenizer, segments, prefilled):
    ids = tokenizer.encode("".join(segments), add_special_tokens=False)
    o, c = tokenizer.convert_tokens_to_ids("<think>"), tokenizer.convert_tokens_to_ids("</think>")
    pieces = tokenizer.batch_decode([[t] for t in ids]) if ids else []
    assert span_mask_from_ids(ids, o, c, prefilled=prefilled) == span_mask_from_pieces(pieces, prefilled=prefilled)


class SplitTagTokenizer:
    """A tokenizer without single-token think tags: one character per token."""

    def encode(self, text, add_special_tokens=False):
        return [ord(ch) for ch in text]

    def batch_decode(self, rows, skip_special_tokens=False):
        return ["".join(chr(t) for t in row) for row in rows]


def test_think_span_mask_batches_both_paths(tokenizer):
    text = "<think>ab</think>[f()]"
    ids = tokenizer.encode(text, add_special_tokens=False)
    batch = torch.tensor([ids + [0, 0], ids[:3] + [0] * (len(ids) - 1)])  # second row: unclosed, padded
    mask = torch.tensor([[1] * len(ids) + [0, 0], [1] * 3 + [0] * (len(ids) - 1)])
    span = think_span_mask(batch, mask, tokenizer)
    inside = [tokenizer.decode([t]) for t, m in zip(ids, span[0].tolist()) if m]
    assert "".join(inside) == "ab" and not span[1].any()

    chars = SplitTagTokenizer()
    ids = chars.encode(text)
    span = think_span_mask(torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long), chars)
    assert "".join(text[i] for i, m in enumerate(span[0].tolist()) if m) == "ab"


# ---------------------------------------------------------------------------------------------------------------
# Entropy
# ---------------------------------------------------------------------------------------------------------------

def test_token_entropies_equal_brute_force(tokenizer):
    torch.manual_seed(0)
    model = tiny_qwen2(tokenizer, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                       num_key_value_heads=1, max_position_embeddings=64).eval()
    ids = torch.randint(5, len(tokenizer), (3, 12))
    attn = torch.ones_like(ids)
    attn[2, :3] = 0  # a left-padded row
    k, temp = 5, 0.7
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=attn).logits.double()
    expected = torch.zeros(3, k, dtype=torch.float64)
    for b in range(3):
        for j in range(k):
            pos = ids.shape[1] - k + j - 1  # the logits that predicted completion token j
            p = [math.exp(x) for x in (logits[b, pos] / temp).tolist()]
            z = sum(p)
            expected[b, j] = -sum(q / z * math.log(q / z) for q in p)
    got = token_entropies(model, ids, attn, k, temperature=temp, batch_size=2)
    assert torch.allclose(got.double(), expected, atol=1e-4)
    positions = torch.zeros(3, k, dtype=torch.bool)
    positions[0, 1:3] = True
    positions[2, 4] = True
    part = token_entropies(model, ids, attn, k, temperature=temp, positions=positions, batch_size=1)
    assert torch.allclose(part.double(), torch.where(positions, expected, 0.0), atol=1e-4)
    e, w = sequence_entropy(got, positions)
    assert w.tolist() == [2, 0, 1]
    assert e[0].item() == pytest.approx(expected[0, 1:3].mean().item(), abs=1e-4) and e[1].item() == 0.0


def test_shared_prompt_pass_equals_full_passes(tokenizer):
    """Two groups of rollouts, each sharing a (left-padded) prompt: running each prompt once with a KV cache gives the
    entropies of full forward passes, in training mode too (where gradient checkpointing would refuse a cache)."""
    torch.manual_seed(1)
    model = tiny_qwen2(tokenizer, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                       num_key_value_heads=1, max_position_embeddings=64)
    model.gradient_checkpointing_enable()
    model.train()
    p1, p2 = torch.randint(5, len(tokenizer), (2, 7))
    prompt = torch.stack([p1, p1, p1, p2, p2])
    pmask = torch.ones_like(prompt)
    prompt[3:, :2], pmask[3:, :2] = tokenizer.pad_token_id, 0  # the second group's prompt is shorter
    completion = torch.randint(5, len(tokenizer), (5, 6))
    cmask = torch.ones_like(completion)
    cmask[1, 4:] = 0  # a rollout that stopped early
    positions = cmask.bool().clone()
    positions[2] = False  # a rollout without a think span: skipped
    positions[4, 0] = False
    full = token_entropies(model, torch.cat([prompt, completion], 1), torch.cat([pmask, cmask], 1), 6,
                           temperature=0.7, positions=positions)
    shared = token_entropies_shared_prompt(model, prompt, pmask, completion, cmask, temperature=0.7,
                                           positions=positions, batch_size=2)
    assert model.training  # restored
    assert torch.allclose(shared, full, atol=1e-5) and (full[positions] > 0).all() and (full[~positions] == 0).all()


# ---------------------------------------------------------------------------------------------------------------
# The trainer hook, without generation: a stand-in base class returns TRL's dict
# ---------------------------------------------------------------------------------------------------------------

class FakeAccelerator:
    num_processes = 1

    @staticmethod
    def gather(t):
        return t


class FakeGRPO:
    """What the hook needs from a GRPOTrainer: the scored batch, the model, the tokenizer, metrics."""

    def __init__(self, model, tokenizer, batch, **kwargs):
        from collections import defaultdict
        self.model, self.processing_class, self.batch = model, tokenizer, batch
        self.temperature, self.accelerator = 1.0, FakeAccelerator()
        self._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}
        self._logs = {"advantages": [0.0] * 3 + batch["advantages"].tolist()}

    def _generate_and_score_completions(self, inputs):
        return dict(self.batch, advantages=self.batch["advantages"].clone())


def test_hook_adds_bonus_to_base_advantages(tokenizer):
    torch.manual_seed(0)
    model = tiny_qwen2(tokenizer, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                       num_key_value_heads=1, max_position_embeddings=64)
    done = tokenizer.encode("<think>Need a tool</think>[f()]", add_special_tokens=False)
    bare = tokenizer.encode("None of the", add_special_tokens=False)
    t = max(len(done), len(bare))
    completion = torch.tensor([done + [0] * (t - len(done)), bare + [0] * (t - len(bare)), done + [0] * (t - len(done))])
    cmask = torch.tensor([[1] * len(done) + [0] * (t - len(done)), [1] * len(bare) + [0] * (t - len(bare)),
                          [1] * len(done) + [0] * (t - len(done))])
    prompt = torch.randint(5, len(tokenizer), (3, 4))
    batch = {"prompt_ids": prompt, "prompt_mask": torch.ones_like(prompt), "completion_ids": completion,
             "completion_mask": cmask, "advantages": torch.tensor([1.0, -1.0, 0.0])}
    egpo_cls = entropy_trainer_class(FakeGRPO)
    trainer = egpo_cls(model, tokenizer, batch, egpo={"advantage_mode": "egpo", "entropy_lambda": 0.4})
    out = trainer._generate_and_score_completions(None)
    # the bonus of row 0 is 0.4 * its own measured CoT entropy, capped at 0.5
    span = think_span_mask(completion, cmask, tokenizer)
    h = token_entropies(model, torch.cat([prompt, completion], 1), torch.cat([torch.ones_like(prompt), cmask], 1),
                        t, positions=span)
    e0 = sequence_entropy(h, span)[0][0].item()
    assert out["advantages"].tolist() == pytest.approx([1.0 + min(0.4 * e0, 0.5), -1.0, 0.0], abs=1e-5)
    m = trainer._metrics["train"]
    assert m["egpo/no_think_frac"] == [pytest.approx(1 / 3)]
    assert m["egpo/cot_entropy"] == [pytest.approx((e0 + sequence_entropy(h, span)[0][2].item()) / 2, abs=1e-5)]
    assert m["egpo/bonus"] == [pytest.approx(min(0.4 * e0, 0.5) / 3, abs=1e-5)]
    assert trainer._logs["advantages"][-3:] == pytest.approx(out["advantages"].tolist())
    assert trainer._logs["advantages"][:3] == [0.0] * 3

    grpo = egpo_cls(model, tokenizer, batch, egpo={"advantage_mode": "grpo"})
    out = grpo._generate_and_score_completions(None)
    assert out["advantages"].tolist() == [1.0, -1.0, 0.0]  # unchanged ...
    assert grpo._metrics["train"]["egpo/cot_entropy"] == m["egpo/cot_entropy"]  # ... but the entropy is logged
    assert grpo._metrics["train"]["egpo/bonus"] == [0.0]
