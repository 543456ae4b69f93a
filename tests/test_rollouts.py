"""Rollouts with one shared prefill (funrl_lib.train.rollouts): the KV cache of the prompt, computed once and copied
to the G rollouts, gives exactly what G separate prefills give."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from funrl_lib.train.rollouts import prefill_cache, sample_rollouts  # noqa: E402
from funrl_lib.train.tiny import render_chatml  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tiny_chatml):
    model, tokenizer = tiny_chatml.model, tiny_chatml.tokenizer  # tests/conftest.py
    ids = tokenizer(render_chatml([{"role": "user", "content": "call f with a=1 please"}]) + "<|im_start|>assistant\n",
                    return_tensors="pt")["input_ids"]
    return model, tokenizer, ids


def test_shared_prefill_gives_the_same_greedy_rollouts_as_separate_prefills(tiny):
    model, tok, ids = tiny
    shared = sample_rollouts(model, tok, ids, 3, max_new_tokens=12, do_sample=False, share_prefill=True)
    separate = sample_rollouts(model, tok, ids, 3, max_new_tokens=12, do_sample=False, share_prefill=False)
    assert shared == separate
    texts, n = shared
    assert len(texts) == 3 and len(set(texts)) == 1
    assert 3 <= n <= 36  # at least one token each, at most the limit each


def test_prefill_cache_holds_the_prompt_but_its_last_token_for_every_rollout(tiny):
    model, _, ids = tiny
    cache = prefill_cache(model, ids, 4)
    assert cache.get_seq_length() == ids.shape[1] - 1
    key = cache.layers[0].keys
    assert key.shape[0] == 4 and torch.equal(key[0], key[3])
    # the cached keys are those of a plain forward pass over the same tokens
    with torch.no_grad():
        ref = model(input_ids=ids[:, :-1], use_cache=True).past_key_values
    assert torch.allclose(ref.layers[0].keys[0], key[0], atol=1e-6)


def test_prefill_cache_takes_one_prompt(tiny):
    model, _, ids = tiny
    with pytest.raises(ValueError, match="one prompt"):
        prefill_cache(model, ids.repeat(2, 1), 2)


def test_sampling_is_seeded_and_rollouts_stop_at_end_of_turn(tiny):
    model, tok, ids = tiny
    torch.manual_seed(1)
    a = sample_rollouts(model, tok, ids, 4, max_new_tokens=10, temperature=1.0)
    torch.manual_seed(1)
    b = sample_rollouts(model, tok, ids, 4, max_new_tokens=10, temperature=1.0)
    assert a == b
    assert all("<|im_end|>" not in t for t in a[0])
