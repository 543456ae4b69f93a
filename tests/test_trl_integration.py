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
