"""One config file per recipe (``configs/*.yaml``): model, data, SFT warm start, GRPO/EGPO and the run itself.

Every field is a documented dataclass attribute with its default and, where it comes from a paper or a library,
the source. A YAML file sets any subset; unknown or mistyped fields are errors that name ``FILE:LINE`` and the dotted
field. ``--set grpo.max_steps=4`` style overrides (YAML values) are applied on top, so one file serves a smoke run.

Sources: FunRL/EGPO (arXiv 2508.05118v4) §5.2 for the paper's recipe; TRL 1.14 ``GRPOConfig`` (``trl/trainer/
grpo_config.py``) for everything the paper leaves open; Unsloth's GRPO notebooks (``nb/Qwen3_(4B)-GRPO.ipynb``) and
``FastLanguageModel.get_peft_model`` for LoRA defaults.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import yaml

from .egpo_settings import EGPOSettings
from .tiny import TinySettings

__all__ = ["SMOKE_OVERRIDES", "Config", "ConfigError", "DataSettings", "GRPOSettings", "LoraSettings", "ModelSettings", "SFTSettings",
           "load_config"]


# A smoke run of any tiny-model recipe (notebooks and demo with FUNRL_SMOKE=1): every size cut to seconds of work.
SMOKE_OVERRIDES = [
    "model.tiny.corpus_dialogs=150", "model.tiny.vocab_size=1024", "model.tiny.hidden_size=64",
    "model.tiny.intermediate_size=128", "model.tiny.num_hidden_layers=2", "model.tiny.num_attention_heads=2",
    "model.tiny.num_key_value_heads=1", "data.synth_apis=60", "data.synth_dialogs=80", "sft.max_steps=3",
    "sft.save_steps=2", "grpo.max_steps=2", "grpo.num_generations=4", "grpo.per_device_train_batch_size=4",
    "grpo.max_completion_length=24", "grpo.save_steps=1",
]


class ConfigError(ValueError):
    """A bad config value, located as ``FILE:LINE: field: problem``."""


@dataclass
class LoraSettings:
    """LoRA adapters (``model.lora:``). Defaults follow Unsloth's GRPO notebooks (r 32, alpha 64, 7 projections)."""

    enabled: bool = True
    """False: train every weight (the tiny model does; a 7B model on one GPU wants LoRA)."""
    r: int = 32
    alpha: int = 64
    dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                               "up_proj", "down_proj"])


@dataclass
class ModelSettings:
    """Which model and how to load it (``model:``)."""

    backend: str = "tiny"
    """``tiny``: the locally built Qwen2 (:mod:`funrl_lib.train.tiny`); ``peft``: transformers + PEFT on any device;
    ``unsloth``: ``FastLanguageModel`` + ``get_peft_model`` (GPU; ``pip install unsloth==2026.10.9``)."""
    name_or_path: str | None = None
    """Hub id, local directory or GGUF file (``Qwen/Qwen2.5-Coder-7B-Instruct``). ``tiny``: where the tiny model is built and
    cached (default ``<output_dir>/../tiny-model``)."""
    gguf_file: str | None = None
    """A GGUF file to load (``name_or_path`` is then its folder, or leave it and give the file's full path); it is
    converted to safetensors once, beside the file (:mod:`funrl_lib.model_source`). ``name_or_path`` may also name
    the ``.gguf`` file itself."""
    dtype: str = "auto"
    """``auto`` (bf16 on a GPU that has it, else float32), ``float32``, ``bfloat16``, ``float16``."""
    max_seq_length: int = 2048
    """Prompt + completion tokens (Unsloth's ``max_seq_length``; also SFT's ``max_length``)."""
    load_in_4bit: bool = False
    """QLoRA: 4-bit base weights (bitsandbytes; GPU only)."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass (Unsloth: its own ``"unsloth"`` variant)."""
    fast_inference: bool = False
    """Unsloth only: vLLM rollouts sharing weights with the trainer (``pip install vllm``)."""
    gpu_memory_utilization: float = 0.6
    """Unsloth + vLLM: the share of GPU memory vLLM may take."""
    attn_implementation: str | None = None
    """e.g. ``sdpa`` or ``flash_attention_2`` (``peft`` backend); None = transformers' default."""
    generation_prefix: str = ""
    """Text the assistant turn starts with, written into the tokenizer's ChatML chat template
    (:func:`funrl_lib.prompts.prefill_generation_prompt`), e.g. ``"<think>\\n"`` so that a model whose template does not
    open the think block (Qwen2.5) starts inside it, as Qwen3's template does. Needs ``egpo.think_prefilled: true``
    when it opens the think tag. The patched template is saved with every checkpoint, so evaluation of a trained
    model uses it too."""
    lora: LoraSettings = field(default_factory=LoraSettings)
    tiny: TinySettings = field(default_factory=TinySettings)


@dataclass
class DataSettings:
    """Training rows (``data:``): TRL rows as ``funrl export --to trl`` writes them, or synthesized on the fly."""

    train: str | None = None
    """A JSONL/JSON file of TRL rows (``prompt``/``completion``/``tools``/``ground_truth``) or of dialogs in any
    format ``funrl verify`` reads (exported to TRL rows here). None: synthesize programmatically (below)."""
    synth_apis: int = 400
    """Programmatic synthesis when ``train`` is None: APIs in the pool ..."""
    synth_dialogs: int = 1500
    """... and dialogs generated from it (each gives one row per decision turn)."""
    synth_complexity: str | None = None
    """Complexity mix of the synthesized dialogs, e.g. ``easy=1`` (fewest candidate tools: shortest prompts);
    None = the synthesis default (easy .3, medium .5, hard .2)."""
    seed: int = 0
    types: list[str] | None = None
    """Keep only these dialog types (``single``, ``parallel``, ``multiple``, ``irrelevance``, ...); None = all."""
    max_prompt_tokens: int | None = None
    """Drop rows whose chat-formatted prompt is longer (TRL ≥ 0.28 has no ``max_prompt_length``: filter the data)."""
    holdout_fraction: float = 0.05
    """Share held out for evaluation (the paper holds out 5%): of dialogs, or of APIs (``holdout_by``)."""
    holdout_by: str = "dialog"
    """``dialog``: every decision turn of a held-out dialog is held out. ``api``: a share of the APIs (by name) is
    held out, and every row that offers one of them goes to the held-out side, so training never sees those APIs
    at all (the held-out side then holds more than ``holdout_fraction`` of the rows: about 1 − (1 − f)^k for k
    candidate tools per row)."""
    max_rows: int | None = None
    """Cap on training rows after filtering (a smoke run)."""

    def __post_init__(self) -> None:
        if self.holdout_by not in ("dialog", "api"):
            raise ValueError(f"holdout_by must be 'dialog' or 'api', not {self.holdout_by!r}")
        if not 0 <= self.holdout_fraction < 1:
            raise ValueError(f"holdout_fraction must be in [0, 1), not {self.holdout_fraction}")


@dataclass
class SFTSettings:
    """The warm start (``sft:``): TRL ``SFTTrainer`` on the reference ``<think>…</think>`` + call completions, loss on
    completion tokens only, so the model learns the format before RL (Unsloth's advice, unsloth#2614)."""

    learning_rate: float = 2e-4
    num_train_epochs: float = 1.0
    max_steps: int = -1
    """> 0 overrides epochs."""
    per_device_train_batch_size: int = 4
    gradient_accumulation_steps: int = 1
    warmup_ratio: float = 0.03
    lr_scheduler_type: str = "cosine"
    weight_decay: float = 0.0
    logging_steps: int = 10
    save_steps: int = 100
    save_total_limit: int = 2


@dataclass
class GRPOSettings:
    """RL (``grpo:``): TRL ``GRPOConfig`` fields. Paper values (v4 §5.2) noted; the rest are TRL's defaults unless
    said otherwise."""

    init: str | None = "sft"
    """Start from: ``sft`` (this run's SFT result, if it exists, else the base model), ``base``, or a path."""
    learning_rate: float = 1e-6
    """Paper: 1e-6 (also TRL's default)."""
    num_generations: int = 8
    """Rollouts per prompt S. Paper: 8."""
    temperature: float = 0.7
    """Paper: 0.7."""
    top_p: float = 1.0
    beta: float = 0.001
    """KL coefficient. Paper: 0.001 (TRL's default 0.0 loads no reference model)."""
    epsilon: float = 0.2
    """PPO clip; the paper does not state it, TRL's default."""
    loss_type: str = "grpo"
    """``grpo`` (per-sequence mean, the original GRPO/verl objective the paper builds on); TRL's default is ``dapo``."""
    scale_rewards: str = "group"
    """``group``: A = (r − mean)/(std + 1e-4), Eq. 1."""
    max_completion_length: int = 512
    """The paper allows 8192 but its responses average 80–130 tokens."""
    per_device_train_batch_size: int = 8
    """Completions per device step (a multiple of ``num_generations`` keeps whole groups together)."""
    gradient_accumulation_steps: int = 1
    num_train_epochs: float = 1.0
    max_steps: int = -1
    """> 0 overrides epochs."""
    logging_steps: int = 1
    save_steps: int = 50
    save_total_limit: int = 2
    mask_truncated_completions: bool = False
    reward: str = "funrl_binary"
    """``funrl_binary`` (the paper's 0/1 reward) or ``toolrl_graded`` (ToolRL's, for comparison)."""
    reward_format: str = "python"
    """How answers are decoded: ``python`` (FunRL/BFCL call lists), ``json``, ``hermes``, ``auto``."""
    strict_abstain: bool = False
    """Binary reward: a malformed call does not count as abstaining (closes a loophole BFCL's irrelevance rule has;
    off = the paper's rule)."""
    max_grad_norm: float = 1.0
    warmup_ratio: float = 0.0
    optim: str = "adamw_torch"
    """e.g. ``adamw_8bit`` / ``paged_adamw_8bit`` on a GPU with bitsandbytes."""
    use_vllm: bool = False
    vllm_gpu_memory_utilization: float = 0.3
    """``colocate`` mode: the share of each GPU vLLM takes (``server`` mode: ``trl vllm-serve`` sets its own)."""
    vllm_mode: str = "colocate"
    """With ``use_vllm``: ``colocate`` (vLLM inside each training process) or ``server`` (rollouts from a separate
    ``trl vllm-serve`` on GPUs of its own; docs/multi-gpu.md)."""
    vllm_server_base_url: str | None = None
    """``server`` mode: where ``trl vllm-serve`` listens, e.g. ``http://10.0.0.5:8000`` (None: TRL's default,
    port 8000 on this machine)."""
    log_completions: bool = False

    def __post_init__(self) -> None:
        if self.vllm_mode not in ("colocate", "server"):
            raise ValueError(f"vllm_mode must be 'colocate' or 'server', not {self.vllm_mode!r}")


@dataclass
class Config:
    """A run: ``name`` and ``output_dir`` say where everything goes (``<output_dir>/sft``, ``<output_dir>/grpo`` or
    ``/egpo``); ``seed`` makes it reproducible."""

    name: str = "run"
    output_dir: str | None = None
    """Default ``outputs/runs/<name>``."""
    seed: int = 0
    report_to: list[str] = field(default_factory=lambda: ["none"])
    """TRL/transformers loggers: ``tensorboard``, ``wandb`` (key from the environment), ``none``."""
    device: str = "auto"
    """``auto`` (GPU if present), ``cpu``."""
    cpu_threads: int | None = None
    """Training on the CPU: torch's threads. None: the cores other processes leave idle when the first stage starts
    (:func:`funrl_lib.train.models.cpu_threads`), at least 1."""
    model: ModelSettings = field(default_factory=ModelSettings)
    data: DataSettings = field(default_factory=DataSettings)
    sft: SFTSettings = field(default_factory=SFTSettings)
    grpo: GRPOSettings = field(default_factory=GRPOSettings)
    egpo: EGPOSettings = field(default_factory=EGPOSettings)

    def __post_init__(self) -> None:
        if self.egpo.think_open in self.model.generation_prefix and not self.egpo.think_prefilled:
            raise ValueError(f"model.generation_prefix {self.model.generation_prefix!r} opens the think block: set "
                             "egpo.think_prefilled: true so that the reward and the entropy span expect it")

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir or Path("outputs") / "runs" / self.name)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------------------

def _no_duplicate_keys(node: yaml.Node | None, path: str, prefix: str = "") -> None:
    """A key given twice in one mapping is an error naming both lines (YAML loaders silently keep the last)."""
    if isinstance(node, yaml.MappingNode):
        first: dict[Any, int] = {}
        for k, v in node.value:
            key = f"{prefix}.{k.value}" if prefix else str(k.value)
            line = k.start_mark.line + 1
            if k.value in first:
                raise ConfigError(f"{path}:{line}: {key}: duplicate key (first given at line {first[k.value]})")
            first[k.value] = line
            _no_duplicate_keys(v, path, key)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _no_duplicate_keys(v, path, f"{prefix}[{i}]")


# Allowed values, checked once a config is built (from the file and every --set): dotted field -> (test, what the
# value must be). None passes (optional fields). TRL's convention for max_steps: -1 means "train num_train_epochs".
def _between(lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False) -> tuple[Any, str]:
    return ((lambda v: (lo < v if lo_open else lo <= v) and (v < hi if hi_open else v <= hi)),
            f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}")


_POSITIVE = (lambda v: v > 0, "> 0")
_AT_LEAST_1 = (lambda v: v >= 1, ">= 1")
_NON_NEGATIVE = (lambda v: v >= 0, ">= 0")
_STEPS = (lambda v: v == -1 or v > 0, "-1 (train num_train_epochs) or > 0")
_RANGES: dict[str, tuple[Any, str]] = {
    "model.max_seq_length": _AT_LEAST_1, "model.gpu_memory_utilization": _between(0, 1, lo_open=True),
    "model.lora.r": _AT_LEAST_1, "model.lora.alpha": _POSITIVE, "model.lora.dropout": _between(0, 1, hi_open=True),
    **{f"model.tiny.{k}": _AT_LEAST_1 for k in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                                                "num_attention_heads", "num_key_value_heads",
                                                "max_position_embeddings", "corpus_dialogs")},
    "data.synth_apis": _AT_LEAST_1, "data.synth_dialogs": _AT_LEAST_1, "data.max_prompt_tokens": _AT_LEAST_1,
    "data.max_rows": _AT_LEAST_1,
    **{f"{s}.{k}": r for s in ("sft", "grpo") for k, r in (
        ("learning_rate", _POSITIVE), ("num_train_epochs", _POSITIVE), ("max_steps", _STEPS),
        ("per_device_train_batch_size", _AT_LEAST_1), ("gradient_accumulation_steps", _AT_LEAST_1),
        ("warmup_ratio", _between(0, 1)), ("logging_steps", _AT_LEAST_1), ("save_steps", _AT_LEAST_1),
        ("save_total_limit", _AT_LEAST_1))},
    "sft.weight_decay": _NON_NEGATIVE,
    "grpo.num_generations": (lambda v: v >= 2, ">= 2 (a group of one has no advantage)"),
    "grpo.temperature": _POSITIVE, "grpo.top_p": _between(0, 1, lo_open=True), "grpo.beta": _NON_NEGATIVE,
    "grpo.epsilon": _POSITIVE, "grpo.max_completion_length": _AT_LEAST_1, "grpo.max_grad_norm": _NON_NEGATIVE,
    "grpo.vllm_gpu_memory_utilization": _between(0, 1, lo_open=True),
    "egpo.entropy_lambda": _NON_NEGATIVE, "egpo.entropy_batch_size": _AT_LEAST_1,
}


def _check_ranges(cfg: Config, lines: dict[str, int], path: str, overridden: dict[str, str]) -> None:
    """Each field of :data:`_RANGES` within its range, else :class:`ConfigError` naming ``FILE:LINE`` (or the
    ``--set`` that gave it) and the field."""
    for dotted, (ok, what) in _RANGES.items():
        value: Any = cfg
        for part in dotted.split("."):
            value = getattr(value, part, None)
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if value != value or not ok(value):  # NaN is in no range
            if dotted in overridden:
                raise ConfigError(f"--set {overridden[dotted]}: must be {what}")
            given = _given_by(dotted, overridden)  # a section given whole: --set 'grpo={beta: -1}'
            if given is not None:
                raise ConfigError(f"--set {given}: {dotted}: must be {what}, got {value!r}")
            where = f"{path}:{lines[dotted]}" if dotted in lines else path
            raise ConfigError(f"{where}: {dotted}: must be {what}, got {value!r}")


def _marks(node: yaml.Node, prefix: str, out: dict[str, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            key = f"{prefix}.{k.value}" if prefix else str(k.value)
            out[key] = k.start_mark.line + 1
            _marks(v, key, out)


def _check_type(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if tp is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_check_type(value, a) for a in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if origin is list:
        (inner,) = typing.get_args(tp) or (Any,)
        return isinstance(value, list) and all(_check_type(v, inner) for v in value)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, tp)


def _given_by(dotted: str, overridden: dict[str, str]) -> str | None:
    """The ``--set KEY=VALUE`` (as typed) that gave field ``dotted`` or a section holding it, or None."""
    parts = dotted.split(".")
    for k in range(len(parts), 0, -1):
        item = overridden.get(".".join(parts[:k]))
        if item is not None:
            return item
    return None


def _build(cls: type, data: Any, where: str, lines: dict[str, int], path: str,
           overridden: dict[str, str] | None = None) -> Any:
    overridden = overridden or {}

    def loc(key: str) -> str:
        given = _given_by(key, overridden) if key else None
        if given is not None:
            return f"--set {given}"
        line = lines.get(key)
        return f"{path}:{line}" if line else path

    if not isinstance(data, dict):
        raise ConfigError(f"{loc(where)}: {where or 'config'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        dotted = f"{where}.{key}" if where else str(key)
        if key not in names:
            raise ConfigError(f"{loc(dotted)}: {dotted}: unknown field (known: {', '.join(sorted(names))})")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = _build(tp, value if value is not None else {}, dotted, lines, path, overridden)
            continue
        if tp is float and isinstance(value, str):  # YAML reads 1e-6 as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if not _check_type(value, tp):
            raise ConfigError(f"{loc(dotted)}: {dotted}: expected {getattr(tp, '__name__', tp)}, got {value!r}")
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as e:
        # a check across the section's fields: blame the --set of the field the message names, if one gave it
        named = [k for k in kwargs if str(e).startswith(f"{k} ") or f" {k} " in f" {e} "]
        given = next((g for k in named if (g := _given_by(f"{where}.{k}" if where else k, overridden))), None)
        where_ = f"--set {given}" if given is not None else loc(where)
        raise ConfigError(f"{where_}: {where or 'config'}: {e}") from None


def _set(data: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    for k in keys[:-1]:
        data = data.setdefault(k, {})
        if not isinstance(data, dict):
            raise ConfigError(f"--set {dotted}: {k} is not a section")
    data[keys[-1]] = value


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> Config:
    """A :class:`Config` from a YAML file (None: all defaults) and ``KEY=VALUE`` overrides (dotted keys, YAML
    values: ``grpo.max_steps=4``, ``report_to=[tensorboard]``)."""
    data: dict[str, Any] = {}
    lines: dict[str, int] = {}
    overridden: dict[str, str] = {}  # dotted key -> the --set KEY=VALUE that gave it, as typed
    where = "<defaults>"
    if path is not None:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"{path}: cannot read the config: {e.strerror or e}") from None
        try:
            node = yaml.compose(text)
            _no_duplicate_keys(node, str(path))
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            line = f":{mark.line + 1}" if mark else ""
            raise ConfigError(f"{path}{line}: not valid YAML: {getattr(e, 'problem', e)}") from None
        if node is not None:
            _marks(node, "", lines)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. grpo.max_steps=4")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        _set(data, key.strip(), value)
        lines.pop(key.strip(), None)
        overridden[key.strip()] = item
    cfg = _build(Config, data, "", lines, where, overridden)
    _check_ranges(cfg, lines, where, overridden)
    return cfg
