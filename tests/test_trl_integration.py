"""The rewards plug into TRL's GRPOTrainer unchanged: one real GRPO step on CPU with a tiny model built here.

Nothing is downloaded: the tokenizer is a byte-level BPE trained on a few strings, the model a randomly initialised
Qwen2 of a few thousand parameters. The test checks that TRL calls our reward functions with the dataset columns
(tools, ground_truth) and logs exactly the values they return.
"""

import json

import pytest

torch = pytest.importorskip("torch")
trl = pytest.importorskip("trl")

from datasets import Dataset  # noqa: E402
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: E402
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM  # noqa: E402

from funrl_lib.rewards import make_funrl_binary, make_toolrl_graded  # noqa: E402

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
TOOLS = [{"name": "get_weather", "description": "Weather.", "parameters": {"type": "dict", "properties": {
    "city": {"type": "string"}}, "required": ["city"]}}]


def tiny_tokenizer():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]
    corpus = ["<think>Paris weather</think>\n[get_weather(city='Paris')]", "What is the weather in Paris?",
              "None of the functions can be used."] * 20
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=300, special_tokens=specials,
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                 padding_side="left")
    hf.chat_template = CHATML
    return hf


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
    tokenizer = tiny_tokenizer()
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=128,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    model = Qwen2ForCausalLM(config)
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
