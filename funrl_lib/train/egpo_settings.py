"""The entropy-advantage settings of a run (``egpo:`` in a config file), apart from :mod:`funrl_lib.train.egpo` so
that reading a config (every ``funrl`` command that parses one) imports no torch."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EGPOSettings", "THINK_CLOSE", "THINK_OPEN"]

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


@dataclass
class EGPOSettings:
    """The entropy-advantage part of a run (``egpo:`` in a config file)."""

    advantage_mode: str = "egpo"
    """``egpo``: A' = A + min(λE, |A|/α) (Eq. 5). ``grpo``: A unchanged (the ablation's baseline arm)."""
    entropy_lambda: float = 0.4
    """λ in Eq. 5; 0.4 in the paper (v4 §5.2)."""
    entropy_alpha: float = 2.0
    """α in Eq. 5 (must be > 1); 2 in the paper. The bonus never exceeds |A|/α."""
    think_open: str = THINK_OPEN
    think_close: str = THINK_CLOSE
    """The CoT tags of the FunRL template (v4 Fig. 8)."""
    think_prefilled: bool = False
    """The chat template already opened ``<think>`` at the end of the prompt: completions start inside the span."""
    log_cot_entropy: bool = True
    """Measure and log E in ``grpo`` mode too, so curves compare (free with ``entropy_source`` loss)."""
    entropy_batch_size: int = 4
    """Rows per no-grad forward when measuring E (memory: rows × completion length × vocabulary floats)."""
    entropy_source: str = "auto"
    """Where E comes from: ``loss`` (TRL's own loss forward, no extra pass), ``forward`` (a no-grad forward pass of
    its own after generation), ``auto`` (``loss`` where the trainer's loss is TRL's and on-policy, else ``forward``)."""
    share_prompt_pass: bool = True
    """Run each distinct prompt once (KV cache) and only the completions per rollout: the same entropies for a
    fraction of the cost. Falls back to full forward passes if the model does not take a cache (as Unsloth's
    training forward may not)."""
    share_prefill: bool = True
    """Sample each prompt's G rollouts from one prefill of the prompt, its KV cache copied G times
    (:func:`funrl_lib.train.rollouts.prefill_cache`), instead of TRL's G copies of the prompt in one batch. Only on
    TRL's own ``transformers.generate`` path (not vLLM, continuous batching or Unsloth's generation), and only where it
    cannot cost: on a CPU, or when the generation batch holds one distinct prompt (several distinct prompts would be
    generated one after another, which on a GPU is slower than one padded batch). Falls back to TRL's path if the
    model fills no cache."""

    def __post_init__(self) -> None:
        if self.advantage_mode not in ("grpo", "egpo"):
            raise ValueError(f"advantage_mode must be 'grpo' or 'egpo', not {self.advantage_mode!r}")
        if self.entropy_lambda < 0:
            raise ValueError(f"entropy_lambda must be >= 0 (paper: 0.4), not {self.entropy_lambda}")
        if self.entropy_alpha <= 1:
            raise ValueError(f"entropy_alpha must be > 1 (paper: 2) so the bonus cannot flip A's sign, "
                             f"not {self.entropy_alpha}")
        if self.entropy_source not in ("auto", "loss", "forward"):
            raise ValueError(f"entropy_source must be 'auto', 'loss' or 'forward', not {self.entropy_source!r}")
        if self.entropy_batch_size < 1:
            raise ValueError("entropy_batch_size must be >= 1")
