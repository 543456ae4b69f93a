"""Words for the keys funrl logs and reports, so that a figure or a table says "Reward (0/1)" rather than
``reward`` and "CoT entropy (nats/token)" rather than ``egpo/cot_entropy``: :func:`label_for`.

Units follow what is logged: TRL's ``reward`` is the mean of ``funrl_binary`` (0 or 1 per completion) over a step's
completions; entropies are in nats per token (natural log, as torch's ``log_softmax``); ``kl`` is TRL's per-token
estimate to the reference model (nats); lengths are tokens; ``*_frac`` and rates are shares between 0 and 1.
Standard library only (every command may import it).
"""

from __future__ import annotations

import re

__all__ = ["LABELS", "NONNEGATIVE", "SHARES", "label_for"]

LABELS: dict[str, str] = {
    # training logs (TRL's names where TRL logs them, funrl's and EGPO's own under funrl/ and egpo/)
    "step": "Training step",
    "reward": "Reward (0/1, mean over the step's completions)",
    "reward_std": "Reward spread (std over the step's completions)",
    "rewards/funrl_binary/mean": "Reward (0/1, mean over the step's completions)",
    "rewards/funrl_binary/std": "Reward spread (std over the step's completions)",
    "frac_reward_zero_std": "Groups with one reward for all (share)",
    "egpo/cot_entropy": "CoT entropy (nats/token)",
    "egpo/entropy_mean": "CoT entropy (nats/token)",
    "entropy": "Token entropy (nats/token)",
    "egpo/bonus": "Entropy bonus min(λE, |A|/α)",
    "egpo/capped_frac": "Bonuses limited by the cap |A|/α (share)",
    "egpo/no_think_frac": "Completions without a think span (share)",
    "egpo/think_tokens": "Think span length (tokens)",
    "kl": "KL divergence to the reference (nats/token)",
    "completions/mean_length": "Completion length (tokens, mean)",
    "completions/max_length": "Completion length (tokens, max)",
    "completions/clipped_ratio": "Completions cut at the token limit (share)",
    "funrl/think_template_ok": "Think template followed (share)",
    "funrl/answer_has_calls": "Answers with tool calls (share)",
    "funrl/checker_errors": "Checker errors (count)",
    "loss": "SFT loss (cross-entropy, nats/token)",
    "grad_norm": "Gradient norm",
    "learning_rate": "Learning rate",
    # evaluation and synthesis
    "accuracy": "Accuracy (share)",
    "pass_rate": "Pass rate (share)",
    "funrl_binary": "Reward (0/1)",
}

# Keys whose values are shares (0 to 1): their axes run from 0 to 1.
SHARES = frozenset({"egpo/capped_frac", "egpo/no_think_frac", "completions/clipped_ratio", "funrl/think_template_ok",
                    "funrl/answer_has_calls", "frac_reward_zero_std", "accuracy", "pass_rate", "reward",
                    "rewards/funrl_binary/mean", "funrl_binary"})
# Keys that cannot be negative: their axes start at 0 (anything else still shows 0 on its axis).
NONNEGATIVE = SHARES | {"egpo/cot_entropy", "egpo/entropy_mean", "entropy", "egpo/bonus", "egpo/think_tokens", "kl",
                        "completions/mean_length", "completions/max_length", "funrl/checker_errors", "loss",
                        "grad_norm", "learning_rate", "reward_std", "rewards/funrl_binary/std", "step"}

_ACRONYMS = {"cot": "CoT", "kl": "KL", "sft": "SFT", "grpo": "GRPO", "egpo": "EGPO", "api": "API", "apis": "APIs",
             "json": "JSON", "bfcl": "BFCL", "id": "id", "ids": "ids"}


def label_for(key: str) -> str:
    """The words for a logged or reported ``key``: :data:`LABELS` when it is known, else the key made readable
    (``egpo/some_value`` -> "Some value (EGPO)", ``rewards/my_fn/mean`` -> "Reward my_fn (mean)",
    ``frac`` read as "share"), never the raw key with its slashes and underscores."""
    if key in LABELS:
        return LABELS[key]
    m = re.fullmatch(r"rewards/([^/]+)/(mean|std)", key)
    if m:
        return f"Reward {m.group(1)} ({m.group(2)} over the step's completions)"
    *scope, name = key.split("/")
    words = [w for w in re.split(r"[_\s.-]+", name) if w]
    share = bool(words) and words[-1] in ("frac", "fraction", "ratio", "rate")
    if share:
        words = words[:-1] or ["share"]
    words = [_ACRONYMS.get(w.lower(), w) for w in words] or [key]
    text = " ".join(words)
    text = text[0].upper() + text[1:]
    suffix = [f"{_ACRONYMS.get(s.lower(), s)}" for s in scope if s]
    if share:
        suffix.append("share")
    return text + (f" ({', '.join(suffix)})" if suffix else "")
