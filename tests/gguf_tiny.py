"""Write a small ``Qwen2ForCausalLM`` and its byte-level BPE tokenizer as a GGUF file, the way llama.cpp's
``convert_hf_to_gguf.py`` lays out a Qwen2.5 model (architecture ``qwen2``, F32 tensors under llama.cpp's names, a
``gpt2``-style tokenizer in the metadata), so the tests exercise transformers' real GGUF loader on a file of a few
hundred kilobytes instead of downloading a real one.

Only what transformers' legacy GGUF path (``transformers.modeling_gguf_pytorch_utils.load_gguf_checkpoint`` and
``transformers.integrations.ggml.GGUFQwen2Converter``) reads is written:

* ``general.architecture = qwen2`` and ``qwen2.{context_length, block_count, feed_forward_length, embedding_length,
  rope.freq_base, attention.head_count, attention.head_count_kv, attention.layer_norm_rms_epsilon}``;
* ``tokenizer.ggml.{model=gpt2, pre=qwen2, tokens, token_type, merges, bos/eos/padding_token_id}`` and
  ``tokenizer.chat_template``;
* tensors ``token_embd``, ``blk.N.attn_{q,k,v}`` (weights and biases), ``blk.N.attn_output``,
  ``blk.N.ffn_{gate,up,down}``, ``blk.N.attn_norm``, ``blk.N.ffn_norm``, ``output_norm`` and ``output`` (the last
  only for an untied model, or when asked: without it transformers ties the output to the embedding). Qwen2's q/k
  rows are not permuted by llama.cpp (only llama's are), so they are written as they are.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# llama.cpp's token types (gguf.TokenType)
NORMAL, CONTROL, USER_DEFINED = 1, 3, 4

# The HF state-dict name (after ``model.layers.N.``) -> llama.cpp's name (after ``blk.N.``).
LAYER_TENSORS = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
}


def gguf_tensors(model: Any, *, write_output: bool | None = None) -> dict[str, Any]:
    """``{llama.cpp name: float32 numpy array}`` for a ``Qwen2ForCausalLM`` (HF layout: ``[out, in]``, which is what
    ``GGUFWriter.add_tensor`` and llama.cpp's converter write)."""
    import numpy as np

    if write_output is None:
        write_output = not model.config.tie_word_embeddings
    out: dict[str, Any] = {}
    for name, tensor in model.state_dict().items():
        array = tensor.detach().to("cpu").float().numpy().astype(np.float32)
        if name == "model.embed_tokens.weight":
            out["token_embd.weight"] = array
        elif name == "model.norm.weight":
            out["output_norm.weight"] = array
        elif name == "lm_head.weight":
            continue  # below: tied models share the embedding
        elif name.startswith("model.layers."):
            rest = name[len("model.layers."):]
            block, _, rest = rest.partition(".")
            module, _, kind = rest.rpartition(".")
            if module not in LAYER_TENSORS:
                raise ValueError(f"no llama.cpp name for {name}")
            out[f"blk.{block}.{LAYER_TENSORS[module]}.{kind}"] = array
        elif name.endswith("rotary_emb.inv_freq"):
            continue
        else:
            raise ValueError(f"no llama.cpp name for {name}")
    if write_output:
        out["output.weight"] = model.lm_head.weight.detach().to("cpu").float().numpy().astype(np.float32)
    return out


def tokenizer_vocab(tokenizer: Any) -> tuple[list[str], list[int], list[str]]:
    """(tokens by id, llama.cpp token types, merges as ``"a b"``) of a byte-level BPE fast tokenizer."""
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    model = state["model"]
    if model.get("type") != "BPE":
        raise ValueError(f"expected a BPE tokenizer, got {model.get('type')}")
    size = len(tokenizer)
    tokens: list[str | None] = [None] * size
    for token, i in model["vocab"].items():
        tokens[i] = token
    types = [NORMAL] * size
    for added in state.get("added_tokens", []):
        tokens[added["id"]] = added["content"]
        types[added["id"]] = CONTROL if added.get("special") else USER_DEFINED
    missing = [i for i, t in enumerate(tokens) if t is None]
    if missing:
        raise ValueError(f"token ids {missing[:5]} have no token")
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    return tokens, types, merges  # type: ignore[return-value]


def write_tiny_gguf(model: Any, tokenizer: Any, path: str | Path, *, eos_token: str | None = "<|endoftext|>",
                    pad_token: str | None = "<|endoftext|>", chat_template: str | None = None,
                    write_output: bool | None = None, name: str = "tiny-qwen2") -> Path:
    """Write ``model`` (a ``Qwen2ForCausalLM``) and ``tokenizer`` to ``path`` as an F32 GGUF file.

    ``eos_token`` is what the file declares as eos: by default ``<|endoftext|>``, as in Qwen2.5's published GGUFs
    (their chat template still closes turns with ``<|im_end|>``: the trap :func:`funrl_lib.model_source.
    fix_end_of_turn` repairs). ``chat_template`` defaults to the tokenizer's."""
    import gguf

    cfg = model.config
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tokens, types, merges = tokenizer_vocab(tokenizer)
    if len(tokens) != cfg.vocab_size:
        raise ValueError(f"tokenizer has {len(tokens)} tokens, the model {cfg.vocab_size}")
    rope_theta = getattr(cfg, "rope_theta", None)
    if rope_theta is None:
        rope_theta = (getattr(cfg, "rope_parameters", None) or {}).get("rope_theta", 10000.0)

    w = gguf.GGUFWriter(str(path), "qwen2")
    w.add_name(name)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_rope_freq_base(float(rope_theta))
    w.add_layer_norm_rms_eps(float(cfg.rms_norm_eps))

    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    ids = {t: i for i, t in enumerate(tokens)}
    if eos_token is not None:
        w.add_eos_token_id(ids[eos_token])
        w.add_bos_token_id(ids[eos_token])  # llama.cpp writes Qwen2's bos as <|endoftext|> too
    if pad_token is not None:
        w.add_pad_token_id(ids[pad_token])
    w.add_add_bos_token(False)
    template = chat_template if chat_template is not None else getattr(tokenizer, "chat_template", None)
    if template:
        w.add_chat_template(template)

    for tensor_name, array in gguf_tensors(model, write_output=write_output).items():
        w.add_tensor(tensor_name, array)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
