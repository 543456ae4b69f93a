"""Tiny models that several test modules train with (a helper module: test modules do not import each other)."""

import torch

from funrl_lib.train.tiny import tiny_qwen2, tiny_tokenizer

TARGET = "<think>ok go</think>\n[f(a=1)]"


def taught_model(target: str, user: str = "hi there", *, steps: int = 80, end_of_turn: bool = True,
                 max_positions: int = 128):
    """A tiny Qwen2 taught (in a second of Adam) to answer ``user`` with ``target``, then ``<|im_end|>`` unless
    ``end_of_turn`` is False (a model that never ends its turn)."""
    tokenizer = tiny_tokenizer([target, user] * 20, vocab_size=300)
    torch.manual_seed(0)
    model = tiny_qwen2(tokenizer, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                       num_key_value_heads=1, max_position_embeddings=max_positions)
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": user}], add_generation_prompt=True)
    prompt = prompt["input_ids"] if isinstance(prompt, dict) or hasattr(prompt, "keys") else prompt
    ids = torch.tensor([list(prompt) + tokenizer.encode(target + ("<|im_end|>" if end_of_turn else ""))])
    labels = ids.clone()
    labels[0, :len(prompt)] = -100
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        model(input_ids=ids, labels=labels).loss.backward()
        opt.step()
        opt.zero_grad()
    return model, tokenizer


def thinking_model():
    """A tiny Qwen2 taught to answer with a short think span, so rollouts have CoT."""
    return taught_model(TARGET)
