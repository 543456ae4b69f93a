"""Sampling the G rollouts of one prompt with a single prefill.

GRPO samples G completions of the same prompt. Repeating the prompt G times in a batch (what
``model.generate(..., num_return_sequences=G)`` and TRL's trainer do) computes the same prompt's keys and values G
times; with the ~1,000-token FunRL prompts and ~100-token answers of this project, that prefill is most of the work of
a rollout on a CPU. :func:`sample_rollouts` runs the prompt once, copies its KV cache G times and decodes the G
continuations from it; :func:`prefill_cache` is the shared part. ``benchmarks/rollouts.py`` measures both ways, and
``benchmarks/train_step.py`` both inside a GRPO step: the trainer (:mod:`funrl_lib.train.egpo`, ``egpo.share_prefill``)
generates its groups this way.
"""

from __future__ import annotations

from typing import Any

__all__ = ["prefill_cache", "sample_rollouts"]


def prefill_cache(model: Any, input_ids: Any, repeats: int, attention_mask: Any = None) -> Any:
    """The KV cache of ``input_ids[:, :-1]`` (one row), repeated ``repeats`` times along the batch.

    The last prompt token is left out so that ``generate`` (which only feeds the tokens a cache does not hold) has one
    token to start from and computes its first logits itself."""
    import torch
    from transformers import DynamicCache

    if input_ids.shape[0] != 1:
        raise ValueError(f"prefill_cache takes one prompt (one row), not {input_ids.shape[0]}")
    cache = DynamicCache(config=model.config)
    with torch.no_grad():
        model(input_ids=input_ids[:, :-1],
              attention_mask=None if attention_mask is None else attention_mask[:, :-1],
              past_key_values=cache, use_cache=True)
    cache.batch_repeat_interleave(repeats)
    return cache


def sample_rollouts(model: Any, tokenizer: Any, input_ids: Any, g: int, *, max_new_tokens: int,
                    temperature: float = 1.0, top_p: float = 1.0, share_prefill: bool = True,
                    do_sample: bool = True) -> tuple[list[str], int]:
    """``g`` sampled completions of one tokenized prompt (``input_ids`` of shape ``[1, n]``): (texts without special
    tokens, number of new tokens generated up to each rollout's end of turn). ``do_sample=False`` decodes greedily
    (G equal rollouts; what the tests use to check that sharing the prefill changes nothing)."""
    import torch

    eos = model.generation_config.eos_token_id
    eos = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    batch = input_ids.repeat(g, 1)
    kwargs: dict[str, Any] = dict(max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id)
    kwargs.update(dict(do_sample=True, temperature=temperature, top_p=top_p, top_k=0) if do_sample else
                  dict(do_sample=False, temperature=None, top_p=None, top_k=None))
    if share_prefill and input_ids.shape[1] > 1:
        kwargs["past_key_values"] = prefill_cache(model, input_ids, g)
    with torch.no_grad():
        out = model.generate(input_ids=batch, attention_mask=torch.ones_like(batch), **kwargs)
    new = out[:, input_ids.shape[1]:]
    texts, count = [], 0
    for row in new.tolist():
        end = next((i + 1 for i, t in enumerate(row) if t in eos), len(row))
        count += end
        texts.append(tokenizer.decode(row[:end], skip_special_tokens=True))
    return texts, count
