"""The rewards plug into TRL's GRPOTrainer unchanged: one real GRPO step on CPU with a tiny model built here.

Nothing is downloaded: the tokenizer is a byte-level BPE trained on a few strings, the model a randomly initialised
Qwen2 of a few thousand parameters (funrl_lib.train.tiny). The test checks that TRL calls our reward functions with the dataset columns
(tools, ground_truth) and logs exactly the values they return.
"""

import json

import pytest

torch = pytest.importorskip("torch")
trl = pytest.importorskip("trl")

from datasets import Dataset  # noqa: E402

from funrl_lib.rewards import make_funrl_binary, make_toolrl_graded  # noqa: E402
from funrl_lib.train.tiny import tiny_qwen2, tiny_tokenizer  # noqa: E402

TOOLS = [{"name": "get_weather", "description": "Weather.", "parameters": {"type": "dict", "properties": {
    "city": {"type": "string"}}, "required": ["city"]}}]
CORPUS = ["<think>Paris weather</think>\n[get_weather(city='Paris')]", "What is the weather in Paris?",
          "None of the functions can be used."] * 20


def recording(reward):
    seen = []

    def wrapped(prompts=None, completions=(), **kwargs):
        out = reward(prompts=prompts, completions=completions, **kwargs)
        seen.append((list(completions), dict((k, kwargs[k]) for k in ("tools", "ground_truth")), out))
        return out

    wrapped.__name__ = reward.__name__
    return wrapped, seen


@pytest.mark.slow
def test_grpo_step_calls_our_rewards(tmp_path):
    torch.manual_seed(0)
    tokenizer = tiny_tokenizer(CORPUS, vocab_size=300)
    model = tiny_qwen2(tokenizer, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                       num_key_value_heads=1, max_position_embeddings=128)
    truth = json.dumps([{"get_weather": {"city": ["Paris"]}}])
    dataset = Dataset.from_list([{"prompt": [{"role": "user", "content": "What is the weather in Paris?"}],
                                  "tools": json.dumps(TOOLS), "ground_truth": truth}] * 4)
    binary, seen_binary = recording(make_funrl_binary())
    graded, seen_graded = recording(make_toolrl_graded())
    args = trl.GRPOConfig(output_dir=str(tmp_path), use_cpu=True, per_device_train_batch_size=4, num_generations=4,
                          max_completion_length=12, max_steps=1, logging_steps=1, report_to="none", save_strategy="no",
                          temperature=1.0, seed=0)
    trainer = trl.GRPOTrainer(model=model, reward_funcs=[binary, graded], args=args, train_dataset=dataset,
                              processing_class=tokenizer)
    trainer.train()

    assert seen_binary and seen_graded
    completions, columns, values = seen_graded[0]
    assert len(completions) == 4 and columns["tools"] == [json.dumps(TOOLS)] * 4 and columns["ground_truth"] == [truth] * 4
    assert all(isinstance(c, list) and c[0]["role"] == "assistant" for c in completions)  # conversational
    logs = {k: v for entry in trainer.state.log_history for k, v in entry.items()}
    assert logs["rewards/toolrl_graded/mean"] == pytest.approx(sum(values) / 4, abs=1e-4)
    assert logs["rewards/funrl_binary/mean"] == pytest.approx(sum(seen_binary[0][2]) / 4, abs=1e-4)
    assert "funrl/think_template_ok" in logs  # our log_metric reached TRL's logs


def _egpo_trainer(tmp_path, tokenizer, model, **egpo):
    from funrl_lib.train.egpo import entropy_trainer_class

    dataset = Dataset.from_list([{"prompt": [{"role": "user", "content": "What is the weather in Paris?"}]}] * 4)
    args = trl.GRPOConfig(output_dir=str(tmp_path), use_cpu=True, per_device_train_batch_size=4, num_generations=4,
                          max_completion_length=12, max_steps=1, report_to="none", save_strategy="no",
                          temperature=0.7, beta=0.0, seed=0)
    return entropy_trainer_class()(model=model, reward_funcs=[make_funrl_binary()], args=args, train_dataset=dataset,
                                   processing_class=tokenizer, egpo={"advantage_mode": "egpo", **egpo})


def test_egpo_takes_the_entropy_from_trls_loss_pass(tmp_path):
    """No extra forward pass: with TRL's own loss, Eq. 5 is applied inside the loss forward, from the entropies TRL
    computes there, and gives the advantages a separate no-grad pass (the fallback) gives."""
    from funrl_lib.train.egpo import egpo_advantages, sequence_entropy, think_span_mask, token_entropies

    torch.manual_seed(0)
    tokenizer = tiny_tokenizer(CORPUS, vocab_size=300)
    model = tiny_qwen2(tokenizer, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                       num_key_value_heads=1, max_position_embeddings=128)
    trainer = _egpo_trainer(tmp_path, tokenizer, model)
    assert trainer._egpo_loss_pass()
    assert not _egpo_trainer(tmp_path, tokenizer, model, entropy_source="forward")._egpo_loss_pass()

    done = tokenizer.encode("<think>Paris weather</think>\n[get_weather(city='Paris')]", add_special_tokens=False)
    bare = tokenizer.encode("None of the functions", add_special_tokens=False)
    t = max(len(done), len(bare))
    pad = tokenizer.pad_token_id
    completion = torch.tensor([done + [pad] * (t - len(done)), bare + [pad] * (t - len(bare))] * 2)
    cmask = torch.tensor([[1] * len(done) + [0] * (t - len(done)), [1] * len(bare) + [0] * (t - len(bare))] * 2)
    prompt = torch.randint(5, 250, (4, 6))
    span = think_span_mask(completion, cmask, tokenizer)
    base = torch.tensor([1.0, -1.0, -1.0, 1.0])
    inputs = {"prompt_ids": prompt, "prompt_mask": torch.ones_like(prompt), "completion_ids": completion,
              "completion_mask": cmask, "advantages": base.clone(), "egpo_span": span,
              "egpo_row": torch.arange(4) - 4, "old_per_token_logps": None,
              "num_items_in_batch": cmask.sum().float()}
    trainer.current_gradient_accumulation_steps = 1
    trainer.compute_loss(trainer.model, inputs)

    h = token_entropies(model, torch.cat([prompt, completion], 1), torch.cat([torch.ones_like(prompt), cmask], 1), t,
                        temperature=0.7, positions=span)
    e, w = sequence_entropy(h, span)
    want = egpo_advantages(base, e, w > 0, lam=0.4, alpha=2.0)[0]
    assert (w[[0, 2]] > 0).all() and (w[[1, 3]] == 0).all()
    assert inputs["advantages"].tolist() == pytest.approx(want.tolist(), abs=1e-5)
    assert inputs["advantages"][0] > 1.0 and inputs["advantages"][2] > -1.0  # the bonus moves A up, on its side of 0
    assert inputs["advantages"][[1, 3]].tolist() == [-1.0, 1.0]  # no think span: no bonus
    assert trainer._metrics["train"]["egpo/no_think_frac"] == [pytest.approx(0.5)]


def test_egpo_uses_its_own_pass_where_the_loss_is_not_trls(tmp_path):
    # a trainer whose loss is generated elsewhere (as Unsloth's is) may compute no entropies: the hook falls back
    from funrl_lib.train.egpo import _is_trl_loss, entropy_trainer_class

    class OtherLoss(trl.GRPOTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    assert _is_trl_loss(entropy_trainer_class())
    assert not _is_trl_loss(entropy_trainer_class(OtherLoss))


def _tiny_pair():
    torch.manual_seed(0)
    tokenizer = tiny_tokenizer(CORPUS, vocab_size=300)
    model = tiny_qwen2(tokenizer, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                       num_key_value_heads=1, max_position_embeddings=128)
    return tokenizer, model


def test_shared_prefill_generation_gives_trls_rollouts(tmp_path):
    """The G rollouts of a group decoded from one prefill (share_prefill) are the ones TRL's own path decodes from G
    copies of the prompt (greedy, so they can be compared token for token), cut after the same end of sequence; a
    batch of two groups gives each group's rollouts in order."""
    tokenizer, model = _tiny_pair()
    trainer = _egpo_trainer(tmp_path, tokenizer, model)
    trainer.generation_config.do_sample = False
    a = tokenizer.encode("What is the weather in Paris?", add_special_tokens=False)
    b = tokenizer.encode("None of the functions can be used.", add_special_tokens=False)
    batch = [a] * 3 + [b] * 2
    assert trainer._prefill_groups(batch, None, {}) == [(0, 3), (3, 2)]

    calls = []
    import funrl_lib.train.rollouts as rollouts
    real = rollouts.prefill_cache

    def counting(model, ids, repeats, attention_mask=None):
        calls.append((ids.shape[1], repeats))
        return real(model, ids, repeats, attention_mask)

    rollouts.prefill_cache = counting
    try:
        shared, logprobs = trainer._generate_single_turn(batch, None, {}, 3)
    finally:
        rollouts.prefill_cache = real
    assert calls == [(len(a), 3), (len(b), 2)] and logprobs is None

    trainer.egpo.share_prefill = False
    assert trainer._prefill_groups(batch, None, {}) is None
    repeated, _ = trainer._generate_single_turn(batch, None, {}, 3)
    assert shared == repeated
    assert len(shared) == 5 and all(1 <= len(c) <= 12 for c in shared)
    eos = set(trainer.eos_token_ids)
    assert all(t not in eos for c in shared for t in c[:-1])  # nothing kept after an end of sequence

    # sampled (T 0.7, as the trainer samples): the same seed draws the same rollouts either way
    trainer.generation_config.do_sample = True
    sampled = []
    for share in (True, False):
        trainer.egpo.share_prefill = share
        torch.manual_seed(3)
        sampled.append(trainer._generate_single_turn([a] * 4, None, {}, 4)[0])
    assert sampled[0] == sampled[1] and len({tuple(c) for c in sampled[0]}) > 1


def test_shared_prefill_falls_back_to_trls_path_when_no_cache_is_filled(tmp_path, monkeypatch):
    from transformers import DynamicCache

    import funrl_lib.train.rollouts as rollouts
    tokenizer, model = _tiny_pair()
    trainer = _egpo_trainer(tmp_path, tokenizer, model)
    trainer.generation_config.do_sample = False
    monkeypatch.setattr(rollouts, "prefill_cache", lambda model, ids, repeats, attention_mask=None: DynamicCache())
    a = tokenizer.encode("What is the weather in Paris?", add_special_tokens=False)
    with pytest.warns(UserWarning, match="filled no KV cache"):
        got, _ = trainer._generate_single_turn([a] * 2, None, {}, 2)
    assert len(got) == 2 and trainer._shared_prefill_failed
    assert trainer._prefill_groups([a] * 2, None, {}) is None  # TRL's path from now on


def test_shared_prefill_stays_off_where_it_could_cost(tmp_path):
    tokenizer, model = _tiny_pair()
    trainer = _egpo_trainer(tmp_path, tokenizer, model)
    a, b = [5, 6, 7], [5, 6, 8]
    assert trainer._prefill_groups([a, a, b], None, {}) == [(0, 2), (2, 1)]
    assert trainer._prefill_groups([a, a], None, {"pixel_values": [1]}) is None  # multimodal: TRL's path
    assert trainer._prefill_groups([a, [5]], None, {}) is None  # a one-token prompt leaves nothing to prefill
    trainer.use_vllm = True
    assert trainer._prefill_groups([a, a], None, {}) is None
