"""The tiny default model: a few-million-parameter Qwen2 with a byte-level BPE tokenizer, built locally.

Nothing is downloaded. The tokenizer is trained (``tokenizers``) on text the project synthesizes itself — the FunRL
prompts and reference completions of programmatic dialogs — with ChatML special tokens and ``<think>`` /
``</think>`` as single ordinary tokens; the chat template is ChatML. The model is a randomly initialised
``Qwen2ForCausalLM``: the same architecture as Qwen2.5(-Coder), so the training code paths are the real ones.

:func:`tiny_tokenizer` and :func:`tiny_qwen2` are also what the tests use; :func:`build_tiny` writes both to a
directory that ``from_pretrained`` loads like any other model.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

__all__ = ["CHATML_TEMPLATE", "SPECIAL_TOKENS", "TinySettings", "build_tiny", "corpus_texts", "tiny_qwen2",
           "tiny_tokenizer"]

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# Added as ordinary (non-special) tokens, as in Qwen3: decoding with skip_special_tokens=True (TRL does) keeps them,
# so the reward still sees the think template.
THINK_TOKENS = ["<think>", "</think>"]

# ChatML as Qwen2.5 uses it (without Qwen's tool-rendering branches: funrl puts the tools in the system prompt).
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@dataclass
class TinySettings:
    """Shape of the tiny model (``model.tiny:`` in a config). The defaults give about 3.4M parameters."""

    vocab_size: int = 4096
    """BPE vocabulary, special tokens included."""
    hidden_size: int = 192
    intermediate_size: int = 512
    num_hidden_layers: int = 4
    num_attention_heads: int = 6
    num_key_value_heads: int = 2
    max_position_embeddings: int = 4096
    corpus_dialogs: int = 3000
    """Programmatic dialogs whose prompts and completions train the tokenizer."""
    seed: int = 0


def corpus_texts(n_dialogs: int = 3000, seed: int = 0) -> list[str]:
    """ChatML renderings of the TRL rows of ``n_dialogs`` programmatic dialogs: the text the tokenizer learns."""
    from ..synth.api_pool import build_pool
    from ..synth.dialogs import generate_dialogs
    from ..synth.export import export_rows

    pool = build_pool(max(50, n_dialogs // 2), seed=seed, progress=False)
    rows = export_rows(generate_dialogs(pool, n_dialogs, seed=seed, progress=False), "trl")
    return [render_chatml(r["prompt"] + r["completion"]) for r in rows]


def render_chatml(messages: Iterable[dict[str, Any]]) -> str:
    return "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)


def tiny_tokenizer(texts: Iterable[str], vocab_size: int = 4096) -> Any:
    """A byte-level BPE ``PreTrainedTokenizerFast`` trained on ``texts``: ChatML template, ``<|im_end|>`` as EOS,
    ``<|endoftext|>`` as padding (left, as GRPO needs), ``<think>``/``</think>`` as single (non-special) tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                 bos_token=None, padding_side="left", model_max_length=1 << 16)
    hf.add_tokens(THINK_TOKENS)
    hf.chat_template = CHATML_TEMPLATE
    return hf


def tiny_qwen2(tokenizer: Any, settings: TinySettings | None = None, **overrides: Any) -> Any:
    """A randomly initialised ``Qwen2ForCausalLM`` sized by ``settings``, matched to ``tokenizer``. ``overrides``: any
    :class:`TinySettings` field, or any other ``Qwen2Config`` argument (``initializer_range=0.5``)."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    s = asdict(settings or TinySettings())
    extra = {k: overrides.pop(k) for k in list(overrides) if k not in s}
    s.update(overrides)
    torch.manual_seed(s["seed"])
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=s["hidden_size"], intermediate_size=s["intermediate_size"],
        num_hidden_layers=s["num_hidden_layers"], num_attention_heads=s["num_attention_heads"],
        num_key_value_heads=s["num_key_value_heads"], max_position_embeddings=s["max_position_embeddings"],
        tie_word_embeddings=True, rope_theta=10000.0, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, bos_token_id=None, use_cache=True, **extra)
    return Qwen2ForCausalLM(config)


def build_tiny(out_dir: str | Path, settings: TinySettings | None = None, *, texts: Iterable[str] | None = None,
               force: bool = False) -> Path:
    """Write the tiny tokenizer and model to ``out_dir`` (skipped if a build with the same settings is there)."""
    out = Path(out_dir)
    settings = settings or TinySettings()
    stamp = out / "funrl_tiny.json"
    if not force and stamp.exists() and (out / "config.json").exists():
        if json.loads(stamp.read_text()) == asdict(settings):
            return out
    texts = list(texts) if texts is not None else corpus_texts(settings.corpus_dialogs, settings.seed)
    tokenizer = tiny_tokenizer(texts, settings.vocab_size)
    model = tiny_qwen2(tokenizer, settings)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out)
    model.save_pretrained(out)
    stamp.write_text(json.dumps(asdict(settings), indent=1) + "\n")  # last: a build killed earlier is redone
    return out
