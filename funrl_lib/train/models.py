"""Loading the policy from a config: Unsloth on a GPU, transformers + PEFT anywhere, or the tiny local model.

``load_policy(cfg, init=...)`` returns a :class:`Policy` (model, tokenizer, and the ``peft_config`` to hand to the
TRL trainer, if any). ``init`` is a checkpoint of an earlier stage (the SFT result): a full model directory or a
LoRA adapter directory (``adapter_config.json``), whose adapter is loaded trainable on top of its base model.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Config, ModelSettings

__all__ = ["Policy", "base_model_path", "cpu_threads", "load_policy", "resolve_dtype", "tiny_model_dir", "use_cpu"]


@dataclass
class Policy:
    model: Any
    tokenizer: Any
    peft_config: Any = None
    """A ``peft.LoraConfig`` for TRL to wrap the model with (``peft`` backend, fresh adapters), else None."""
    backend: str = "tiny"


def use_cpu(cfg: Config) -> bool:
    if cfg.device == "cpu":
        return True
    import torch
    return not torch.cuda.is_available()


_THREADS: list[int] = []  # the number chosen by the first stage of this process


def _cpu_times(stat: str) -> tuple[int, int]:
    """(total, idle + iowait) jiffies of the first ``cpu`` line of a /proc/stat text."""
    fields = [int(x) for x in stat.split("\n", 1)[0].split()[1:]]
    return sum(fields[:8]), fields[3] + (fields[4] if len(fields) > 4 else 0)  # user..steal; idle, iowait


def busy_cores(window: float = 0.5, stat_path: str = "/proc/stat") -> float:
    """How many cores other processes keep busy now: the machine's non-idle share of CPU time over ``window``
    seconds (this process sleeps meanwhile, so it does not count itself) times the cores; where /proc/stat can't be
    read, the 1-minute load average (which lags, and counts this process's own earlier work)."""
    try:
        with open(stat_path, encoding="ascii") as f:
            t0, i0 = _cpu_times(f.read())
        time.sleep(window)
        with open(stat_path, encoding="ascii") as f:
            t1, i1 = _cpu_times(f.read())
    except (OSError, ValueError, IndexError):
        return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if t1 <= t0:
        return 0.0
    return (1.0 - (i1 - i0) / (t1 - t0)) * (os.cpu_count() or 1)


def cpu_threads(cfg: Config) -> int:
    """Set and return torch's intra-op threads for training on the CPU: ``cfg.cpu_threads``, or the cores that
    other processes leave idle (cores minus :func:`busy_cores`, rounded; at least 1), judged once per process.

    On a busy machine every thread beyond the idle cores is a loss, not a wash: torch's OpenMP regions wait for
    their slowest thread, and a thread the scheduler parks behind another process stalls all of them. Measured on
    2 cores next to a 2-thread training run at nice -5: one fwd+bwd of the tiny model on 4 x 900 tokens took
    9.3-13.4 s with 2 threads, 2.4-4.5 s with 1 thread (alternating, same process). The busy cores are sampled
    now, not taken from the load average: that lags by a minute and counts this process's own earlier stages (the
    demo's synthesis), which made a quiet 2-core machine train on 1 thread."""
    import torch
    if cfg.cpu_threads is not None:
        n = max(1, int(cfg.cpu_threads))
    elif _THREADS:
        n = _THREADS[0]
    else:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        n = max(1, min(cores, round(cores - busy_cores())))
        _THREADS.append(n)
    torch.set_num_threads(n)
    return n


def resolve_dtype(name: str, cpu: bool) -> Any:
    import torch
    if name == "auto":
        if cpu:
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]
    except KeyError:
        raise ValueError(f"model.dtype must be auto, float32, bfloat16 or float16, not {name!r}") from None


def tiny_model_dir(cfg: Config) -> Path:
    return Path(cfg.model.name_or_path) if cfg.model.name_or_path else cfg.run_dir / "tiny-model"


def _is_adapter(path: str | Path | None) -> bool:
    return path is not None and (Path(path) / "adapter_config.json").exists()


def _prepare_tokenizer(tokenizer: Any) -> Any:
    # GRPO generates from left-padded prompts and needs a pad token (TRL docs, ``grpo_trainer.md``).
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    if not getattr(tokenizer, "chat_template", None):
        from .tiny import CHATML_TEMPLATE
        tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def _lora_config(m: ModelSettings) -> Any:
    from peft import LoraConfig
    return LoraConfig(r=m.lora.r, lora_alpha=m.lora.alpha, lora_dropout=m.lora.dropout,
                      target_modules=list(m.lora.target_modules), bias="none", task_type="CAUSAL_LM")


def _load_unsloth(cfg: Config, init: str | None) -> Policy:
    m = cfg.model
    os.environ.setdefault("UNSLOTH_VLLM_STANDBY", "1")  # Unsloth's GRPO notebooks: ~30% more context with vLLM
    try:
        from unsloth import FastLanguageModel  # must come before trl/transformers patch points are used
    except ImportError as e:
        raise RuntimeError("model.backend 'unsloth' needs Unsloth on a GPU: pip install 'unsloth==2026.10.9' "
                           "'unsloth_zoo==2026.10.9' (or use backend 'peft')") from e
    dtype = None if m.dtype == "auto" else resolve_dtype(m.dtype, cpu=False)
    kwargs = dict(max_seq_length=m.max_seq_length, dtype=dtype, load_in_4bit=m.load_in_4bit,
                  fast_inference=m.fast_inference, random_state=cfg.seed)
    if m.fast_inference:
        kwargs.update(gpu_memory_utilization=m.gpu_memory_utilization, max_lora_rank=m.lora.r)
    # An SFT adapter directory loads as base + adapter (Unsloth reads adapter_config.json).
    model, tokenizer = FastLanguageModel.from_pretrained(model_name=init or base_model_path(cfg), **kwargs)
    if not _is_adapter(init):
        model = FastLanguageModel.get_peft_model(
            model, r=m.lora.r, lora_alpha=m.lora.alpha, lora_dropout=m.lora.dropout,
            target_modules=list(m.lora.target_modules), bias="none",
            use_gradient_checkpointing="unsloth" if m.gradient_checkpointing else False, random_state=cfg.seed)
    return Policy(model, _prepare_tokenizer(tokenizer), None, "unsloth")


def _load_hf(cfg: Config, init: str | None, base: str) -> Policy:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    m = cfg.model
    cpu = use_cpu(cfg)
    kwargs: dict[str, Any] = {"dtype": resolve_dtype(m.dtype, cpu)}
    if m.attn_implementation:
        kwargs["attn_implementation"] = m.attn_implementation
    if m.load_in_4bit:
        if cpu:
            raise ValueError("model.load_in_4bit needs a GPU (bitsandbytes); set it to false on CPU")
        from transformers import BitsAndBytesConfig
        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                           bnb_4bit_compute_dtype=kwargs["dtype"],
                                                           bnb_4bit_use_double_quant=True)
    from ..model_source import fix_end_of_turn, resolve_model

    if _is_adapter(init):
        from peft import PeftModel
        adapter_base = json.loads((Path(init) / "adapter_config.json").read_text()).get("base_model_name_or_path")
        source = resolve_model(adapter_base).path if adapter_base else base
        model = _from_pretrained(AutoModelForCausalLM, source, **kwargs)
        model = PeftModel.from_pretrained(model, init, is_trainable=True)
        peft_config = None
        tok_source = init if (Path(init) / "tokenizer_config.json").exists() else source
    else:
        model = _from_pretrained(AutoModelForCausalLM, init or base, **kwargs)
        peft_config = _lora_config(m) if m.lora.enabled else None
        tok_source = init or base
    tokenizer = _from_pretrained(AutoTokenizer, tok_source)
    fix_end_of_turn(model, tokenizer)  # GGUF chat models: stop at <|im_end|>, not at the length limit
    if m.load_in_4bit:
        from peft import prepare_model_for_kbit_training
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=m.gradient_checkpointing)
    if m.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    if cpu:
        model = model.to(torch.device("cpu"))
    return Policy(model, _prepare_tokenizer(tokenizer), peft_config, m.backend)


def _from_pretrained(cls: Any, source: str, **kwargs: Any) -> Any:
    from ..model_source import hub_error
    try:
        return cls.from_pretrained(source, **kwargs)
    except OSError as e:
        if Path(source).exists():
            raise
        raise hub_error(source, e) from None


def base_model_path(cfg: Config) -> str:
    """``model.name_or_path`` (+ ``model.gguf_file``) resolved to what ``from_pretrained`` loads: a folder, or a Hub
    id; a GGUF file is converted to safetensors once (:func:`funrl_lib.model_source.resolve_model`)."""
    from ..model_source import resolve_model
    if not cfg.model.name_or_path:
        raise ValueError(f"model.backend {cfg.model.backend!r} needs model.name_or_path (a Hub id, a local folder "
                         "or a GGUF file)")
    return resolve_model(cfg.model.name_or_path, cfg.model.gguf_file).path


def load_policy(cfg: Config, init: str | Path | None = None) -> Policy:
    """The model and tokenizer for ``cfg.model``; ``init`` = a model or adapter directory to start from instead of
    the base model (the SFT result)."""
    init = str(init) if init is not None else None
    backend = cfg.model.backend
    if backend == "unsloth":
        policy = _load_unsloth(cfg, init)
    elif backend == "tiny":
        from .tiny import build_tiny
        policy = _load_hf(cfg, init, str(build_tiny(tiny_model_dir(cfg), cfg.model.tiny)))
    elif backend == "peft":
        policy = _load_hf(cfg, init, base_model_path(cfg))
    else:
        raise ValueError(f"model.backend must be tiny, peft or unsloth, not {backend!r}")
    if cfg.model.generation_prefix:
        from ..prompts import prefill_generation_prompt
        policy.tokenizer.chat_template = prefill_generation_prompt(policy.tokenizer.chat_template,
                                                                   cfg.model.generation_prefix)
    return policy
