"""Tiny models that several test modules train with (a helper module: test modules do not import each other)."""

import torch

from funrl_lib.train.tiny import tiny_qwen2, tiny_tokenizer

TARGET = "<think>ok go</think>\n[f(a=1)]"


def thinking_model():
    """A tiny Qwen2 taught (in a second of plain SGD) to answer with a short think span, so rollouts have CoT."""
    tokenizer = tiny_tokenizer([TARGET, "hi there"] * 20, vocab_size=300)
    torch.manual_seed(0)
    model = tiny_qwen2(tokenizer, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                       num_key_value_heads=1, max_position_embeddings=128)
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "hi there"}], add_generation_prompt=True)
    prompt = prompt["input_ids"] if isinstance(prompt, dict) or hasattr(prompt, "keys") else prompt
    ids = torch.tensor([list(prompt) + tokenizer.encode(TARGET + "<|im_end|>")])
    labels = ids.clone()
    labels[0, :len(prompt)] = -100
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(80):
        model(input_ids=ids, labels=labels).loss.backward()
        opt.step()
        opt.zero_grad()
    return model, tokenizer
