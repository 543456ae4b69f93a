"""Entropy-guided GRPO (FunRL / EGPO, arXiv 2508.05118) as a TRL ``GRPOTrainer`` subclass.

For rollout *i* of a group of S rollouts with binary rewards r:

    A_i   = (r_i − mean(r)) / std(r)                                  (Eq. 1, TRL's group scaling)
    E_i   = −(1/W) Σ_{j=1..W} Σ_v π(v | q, c_{i,<j}) log π(v | q, c_{i,<j})   (Eq. 4, CoT tokens only)
    A'_i  = A_i + min(λ·E_i, |A_i| / α)                               (Eq. 5, λ = 0.4, α = 2)

E_i is the mean full-vocabulary entropy of the policy at the W tokens *inside* ``<think>…</think>`` (not the tags,
not the answer), computed under ``torch.no_grad()``: it only reshapes the advantage, it is never a gradient term.
Because E_i ≥ 0 the bonus is ≥ 0, and the cap |A_i|/α (α > 1) keeps A'_i on the side of zero A_i is on, so the
direction of the update never flips; A_i = 0 (a group whose rollouts all got the same reward) gets no bonus. A
rollout without a closed think span has W = 0: it gets no bonus (and reward 0 under the binary reward).

Design choices (arXiv 2508.05118v4 §3.2 and §4.2, Eq. 5, mapped onto TRL's ``GRPOTrainer`` as its maintainers advise
in huggingface/trl#4525):

- The hook is ``_generate_and_score_completions``: TRL computes the group advantages inline there, and Unsloth's
  generated trainer keeps that method while replacing ``compute_loss``. The override calls ``super()`` and edits
  ``advantages`` in the returned dict (already process-local), so the loss, KL and clipping are TRL's (or Unsloth's).
- E_i needs no forward pass of its own with TRL's trainer (``entropy_source: auto``/``loss``): TRL's loss forward
  already computes the per-token entropy of every completion token (logits divided by the sampling temperature, as
  for its log-probabilities, so π is the distribution the rollout was sampled from). With one policy update per
  generation batch (``num_iterations = 1``, the paper's on-policy setting) that is the policy that sampled the
  rollouts, so the hook takes E_i from that pass and rewrites the batch's advantages in it, before TRL reads them.
  Where the loss is not TRL's (Unsloth's generated trainer, whose per-token path returns no entropies, or Liger's
  fused loss) or ``num_iterations > 1``, E_i comes from its own no-grad forward pass after generation
  (``entropy_source: forward``), each distinct prompt run once through the KV cache.
- Think spans are found on token ids when ``<think>`` and ``</think>`` are single tokens (Qwen3, the tiny model),
  otherwise on the decoded text of each token (Qwen2.5 splits ``<think>`` into ``<``, ``think``, ``>``).
  Unclosed spans do not count (the template was not followed); several closed spans count together.
- ``advantage_mode="grpo"`` leaves the advantages untouched, so one recipe gives both arms of the ablation; the CoT
  entropy is still measured for the logs when ``log_cot_entropy`` is on (free from TRL's loss pass; one no-grad
  forward per generation batch on the fallback).

- Rollouts: each GRPO group's G completions are decoded from one prefill of its prompt (KV cache copied G times)
  instead of TRL's G copies of the prompt (``share_prefill``; on TRL's ``transformers.generate`` path, where it cannot
  cost). Logged per step: ``rollouts/generate_s``, ``rollouts/tokens_per_s`` (new tokens per second of generation)
  and ``rollouts/shared_prefill`` (1 where the shared path ran).

Logged per step (``egpo/…``): ``cot_entropy`` (mean E over rollouts with a span), ``bonus`` (mean over all
rollouts), ``capped_frac`` (share of rollouts with a span and A ≠ 0 whose bonus the cap limited), ``no_think_frac``
(share without a closed span), ``think_tokens`` (mean W).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch

__all__ = ["EGPOSettings", "EntropyGRPOTrainer", "egpo_advantages", "entropy_trainer_class", "sequence_entropy",
           "span_mask_from_ids", "span_mask_from_pieces", "think_span_mask", "token_entropies",
           "token_entropies_shared_prompt"]

from .egpo_settings import THINK_CLOSE, THINK_OPEN, EGPOSettings  # noqa: F401  (re-exported)


# ---------------------------------------------------------------------------------------------------------------
# Eq. 5
# ---------------------------------------------------------------------------------------------------------------

def egpo_advantages(advantages: torch.Tensor, entropies: torch.Tensor, has_span: torch.Tensor | None = None, *,
                    lam: float = 0.4, alpha: float = 2.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eq. 5 per rollout: ``(A', bonus, capped)`` with bonus = min(λ·E, |A|/α), 0 where there is no think span.

    ``capped`` marks rollouts with a span and A ≠ 0 where λ·E > |A|/α (the cap, not the entropy, set the bonus)."""
    advantages = advantages.float()
    entropies = entropies.to(advantages).clamp_min(0.0)
    if has_span is None:
        has_span = torch.ones_like(advantages, dtype=torch.bool)
    has_span = has_span.to(advantages.device).bool()
    raw = lam * entropies
    cap = advantages.abs() / alpha
    bonus = torch.where(has_span, torch.minimum(raw, cap), torch.zeros_like(advantages))
    capped = has_span & (advantages != 0) & (raw > cap)
    return advantages + bonus, bonus, capped


# ---------------------------------------------------------------------------------------------------------------
# Think-span masks
# ---------------------------------------------------------------------------------------------------------------

def span_mask_from_ids(ids: Sequence[int], open_id: int, close_id: int, *, prefilled: bool = False,
                       length: int | None = None) -> list[bool]:
    """True at tokens strictly inside a closed ``open_id … close_id`` span; tags excluded, unclosed spans dropped.
    ``length`` limits the scan (the rest is padding)."""
    n = len(ids) if length is None else min(length, len(ids))
    mask = [False] * len(ids)
    start = 0 if prefilled else None  # index of the first token inside the open span
    for j in range(n):
        t = ids[j]
        if start is None:
            if t == open_id:
                start = j + 1
        elif t == close_id:
            for k in range(start, j):
                mask[k] = True
            start = None
        elif t == open_id:  # a nested/repeated open tag restarts the span
            start = j + 1
    return mask


def span_mask_from_pieces(pieces: Sequence[str], open_tag: str = THINK_OPEN, close_tag: str = THINK_CLOSE, *,
                          prefilled: bool = False) -> list[bool]:
    """The same mask from the text each token decodes to, for tokenizers that split the tags into several tokens.

    A token is inside when its characters overlap the text between a ``<think>`` and the next ``</think>``."""
    text = "".join(pieces)
    spans: list[tuple[int, int]] = []
    pos = 0 if prefilled else None
    i = 0
    while True:
        if pos is None:
            o = text.find(open_tag, i)
            if o < 0:
                break
            pos = o + len(open_tag)
        c = text.find(close_tag, pos)
        if c < 0:
            break
        o2 = text.find(open_tag, pos)
        if 0 <= o2 < c:  # a repeated open tag restarts the span, as in span_mask_from_ids
            pos = o2 + len(open_tag)
            continue
        spans.append((pos, c))
        i, pos = c + len(close_tag), None
    mask, start = [], 0
    for p in pieces:
        end = start + len(p)
        mask.append(any(s < end and start < e for s, e in spans) and end > start)
        start = end
    return mask


def _single_token_id(tokenizer: Any, tag: str) -> int | None:
    ids = tokenizer.encode(tag, add_special_tokens=False)
    return ids[0] if len(ids) == 1 else None


def think_span_mask(completion_ids: torch.Tensor, completion_mask: torch.Tensor, tokenizer: Any, *,
                    open_tag: str = THINK_OPEN, close_tag: str = THINK_CLOSE, prefilled: bool = False) -> torch.Tensor:
    """(B, T) bool mask of CoT tokens in right-padded completions (see :func:`span_mask_from_ids`)."""
    open_id, close_id = _single_token_id(tokenizer, open_tag), _single_token_id(tokenizer, close_tag)
    ids = completion_ids.tolist()
    lengths = completion_mask.sum(dim=1).tolist()
    rows = []
    for row, n in zip(ids, lengths):
        n = int(n)
        if open_id is not None and close_id is not None:
            rows.append(span_mask_from_ids(row, open_id, close_id, prefilled=prefilled, length=n))
        else:
            pieces = tokenizer.batch_decode([[t] for t in row[:n]], skip_special_tokens=False) if n else []
            rows.append(span_mask_from_pieces(pieces, open_tag, close_tag, prefilled=prefilled) + [False] * (len(row) - n))
    mask = torch.tensor(rows, dtype=torch.bool, device=completion_ids.device)
    return mask & completion_mask.bool()


# ---------------------------------------------------------------------------------------------------------------
# Entropies (no grad)
# ---------------------------------------------------------------------------------------------------------------

def _logits(model: Any, outputs: Any) -> torch.Tensor:
    logits = outputs.logits if hasattr(outputs, "logits") else outputs[0]
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is not None and logits.shape[-1] != head.weight.shape[0]:  # Unsloth may hand back hidden states
        logits = head(logits.to(head.weight.dtype))
    return logits


@torch.no_grad()
def token_entropies(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, logits_to_keep: int, *,
                    temperature: float = 1.0, positions: torch.Tensor | None = None,
                    batch_size: int = 4) -> torch.Tensor:
    """(B, logits_to_keep) entropy H = −Σ_v p log p (nats) of the distribution that predicted each of the last
    ``logits_to_keep`` tokens, with logits / ``temperature``. ``positions`` (B, logits_to_keep) bool: compute only
    there (zeros elsewhere), skipping the softmax over tokens nobody needs."""
    out = torch.zeros(input_ids.shape[0], logits_to_keep, dtype=torch.float32, device=input_ids.device)
    for s in range(0, input_ids.shape[0], batch_size):
        rows = slice(s, s + batch_size)
        want = positions[rows] if positions is not None else None
        if want is not None and not want.any():
            continue
        kwargs = {"input_ids": input_ids[rows], "attention_mask": attention_mask[rows], "use_cache": False}
        try:
            outputs = model(**kwargs, logits_to_keep=logits_to_keep + 1)
        except TypeError:  # a model without logits_to_keep
            outputs = model(**kwargs)
        logits = _logits(model, outputs)[:, :-1][:, -logits_to_keep:]
        out[rows] = _entropy_at(logits, want, temperature)
    return out


def _entropy_at(logits: torch.Tensor, want: torch.Tensor | None, temperature: float) -> torch.Tensor:
    if want is None:
        lp = torch.log_softmax(logits.float() / temperature, dim=-1)
        return -(lp.exp() * lp).sum(-1)
    block = torch.zeros(want.shape, dtype=torch.float32, device=logits.device)
    lp = torch.log_softmax(logits[want].float() / temperature, dim=-1)
    block[want] = -(lp.exp() * lp).sum(-1)
    return block


@torch.no_grad()
def token_entropies_shared_prompt(model: Any, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor,
                                  completion_ids: torch.Tensor, completion_mask: torch.Tensor, *,
                                  temperature: float = 1.0, positions: torch.Tensor | None = None,
                                  batch_size: int = 8) -> torch.Tensor:
    """:func:`token_entropies` over prompt + completion, computed with each distinct prompt run once.

    The G rollouts of a GRPO group share their prompt, which is most of the tokens (a tool list of a few hundred to a
    few thousand tokens against completions of about a hundred). The prompt goes through the model once with a KV
    cache; the completions of its rows then run on copies of that cache. Causal attention makes this the same
    computation as the full forward pass, positions and padding included (the tests check it against
    :func:`token_entropies`)."""
    b, k = completion_ids.shape
    out = torch.zeros(b, k, dtype=torch.float32, device=completion_ids.device)
    was_training = getattr(model, "training", False)
    if was_training:
        model.eval()  # training mode with gradient checkpointing refuses a KV cache; no dropout in a measurement
    try:
        _shared_prompt_pass(model, prompt_ids, prompt_mask, completion_ids, completion_mask, out, temperature,
                            positions, batch_size)
    finally:
        if was_training:
            model.train()
    return out


def _shared_prompt_pass(model: Any, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor,
                        completion_ids: torch.Tensor, completion_mask: torch.Tensor, out: torch.Tensor,
                        temperature: float, positions: torch.Tensor | None, batch_size: int) -> None:
    import copy

    groups: dict[tuple, list[int]] = {}
    b = completion_ids.shape[0]
    for i in range(b):
        if positions is not None and not positions[i].any():
            continue
        groups.setdefault((tuple(prompt_ids[i].tolist()), tuple(prompt_mask[i].tolist())), []).append(i)
    for rows in groups.values():
        first = rows[0]
        prefix = model(input_ids=prompt_ids[first:first + 1], attention_mask=prompt_mask[first:first + 1],
                       use_cache=True, logits_to_keep=1)
        last = _logits(model, prefix)[:, -1:]  # the distribution of completion token 0
        for s in range(0, len(rows), batch_size):
            chunk = rows[s:s + batch_size]
            n = len(chunk)
            cache = copy.deepcopy(prefix.past_key_values)
            cache.batch_repeat_interleave(n)
            idx = torch.tensor(chunk, device=completion_ids.device)
            rest = model(input_ids=completion_ids[idx], past_key_values=cache, use_cache=True,
                         attention_mask=torch.cat([prompt_mask[idx], completion_mask[idx]], dim=1))
            logits = torch.cat([last.expand(n, 1, -1), _logits(model, rest)[:, :-1]], dim=1)
            out[idx] = _entropy_at(logits, positions[idx] if positions is not None else None, temperature)


def sequence_entropy(token_h: torch.Tensor, span: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(E per row = mean of ``token_h`` over ``span``, W per row); E = 0 where W = 0."""
    span = span.float()
    w = span.sum(dim=1)
    e = (token_h * span).sum(dim=1) / w.clamp_min(1.0)
    return e, w


# ---------------------------------------------------------------------------------------------------------------
# The trainer
# ---------------------------------------------------------------------------------------------------------------

class EntropyAdvantageMixin:
    """Adds Eq. 5 to whatever ``GRPOTrainer`` it is mixed into (TRL's, or Unsloth's generated one)."""

    egpo: EGPOSettings
    _shared_pass_failed: bool = False
    _shared_prefill_failed: bool = False
    _egpo_fused: bool | None = None
    _egpo_pending: dict[str, Any] | None = None

    def _cot_token_entropies(self, out: dict[str, Any], span: torch.Tensor) -> torch.Tensor:
        cfg = self.egpo
        if cfg.share_prompt_pass and not self._shared_pass_failed:
            try:
                return token_entropies_shared_prompt(
                    self.model, out["prompt_ids"], out["prompt_mask"], out["completion_ids"], out["completion_mask"],
                    temperature=self.temperature, positions=span, batch_size=cfg.entropy_batch_size)
            except (TypeError, AttributeError, ValueError, RuntimeError, NotImplementedError) as e:
                import warnings
                warnings.warn(f"EGPO: the shared-prompt entropy pass failed ({type(e).__name__}: {e}); using full "
                              f"forward passes from now on")
                self._shared_pass_failed = True
        k = out["completion_ids"].shape[1]
        input_ids = torch.cat([out["prompt_ids"], out["completion_ids"]], dim=1)
        attention_mask = torch.cat([out["prompt_mask"], out["completion_mask"]], dim=1)
        return token_entropies(self.model, input_ids, attention_mask, k, temperature=self.temperature,
                               positions=span, batch_size=cfg.entropy_batch_size)

    def _prefill_groups(self, prompt_ids: list, images: Any, multimodal_fields: Any) -> list[tuple[int, int]] | None:
        """The runs of identical consecutive prompts in a generation batch, as (start, count), when the shared-prefill
        generation applies to it (``EGPOSettings.share_prefill``); ``None`` for TRL's own path."""
        if (not self.egpo.share_prefill or self._shared_prefill_failed or getattr(self, "use_vllm", False)
                or getattr(self, "use_transformers_continuous_batching", False) or multimodal_fields
                or (images is not None and any(i is not None for i in images))
                or not _is_trl_method(type(self), "_generate_single_turn")
                or not prompt_ids or min(len(p) for p in prompt_ids) < 2):
            return None
        groups: list[tuple[int, int]] = []
        for i, ids in enumerate(prompt_ids):
            if groups and list(prompt_ids[groups[-1][0]]) == list(ids):
                groups[-1] = (groups[-1][0], groups[-1][1] + 1)
            else:
                groups.append((i, 1))
        if len(groups) > 1 and self.accelerator.device.type != "cpu":
            return None
        return groups

    def _generate_single_turn(self, prompt_ids: list, images: Any, multimodal_fields: Any, num_generations: int,
                              has_tool_images: bool = False) -> tuple[list[list[int]], Any]:
        """TRL's generation, but each run of identical prompts (a GRPO group) is prefilled once and its G rollouts
        decoded from copies of that KV cache (``EGPOSettings.share_prefill``). Same sampler, same generation config,
        same end-of-sequence cut as TRL's path; only the prompt's G identical prefills become one."""
        import time

        t0 = time.perf_counter()
        groups = self._prefill_groups(prompt_ids, images, multimodal_fields)
        completions = self._shared_prefill_generate(prompt_ids, groups) if groups else None
        logprobs = None
        if completions is None:
            completions, logprobs = super()._generate_single_turn(  # type: ignore[misc]
                prompt_ids, images, multimodal_fields, num_generations, has_tool_images)
        seconds = time.perf_counter() - t0
        metrics = self._metrics["train" if self.model.training else "eval"]
        metrics["rollouts/generate_s"].append(seconds)
        metrics["rollouts/tokens_per_s"].append(sum(len(c) for c in completions) / max(seconds, 1e-9))
        metrics["rollouts/shared_prefill"].append(float(groups is not None and not self._shared_prefill_failed))
        return completions, logprobs

    def _shared_prefill_generate(self, prompt_ids: list, groups: list[tuple[int, int]]) -> list[list[int]] | None:
        from contextlib import nullcontext

        from trl.extras.profiling import profiling_context
        from trl.models import unwrap_model_for_generation

        from .rollouts import prefill_cache

        device = self.accelerator.device
        eos = set(self.eos_token_ids)
        dist = getattr(self, "_dist", None)
        completions: list[list[int]] = []
        with (profiling_context(self, "transformers.generate"),
              unwrap_model_for_generation(self.model_wrapped, self.accelerator,
                                          gather_deepspeed3_params=self.args.ds3_gather_for_generation,
                                          generation_kwargs=self.generation_kwargs) as model,
              torch.no_grad(),
              dist.summon_full_params(self.model_wrapped, recurse=False) if dist is not None else nullcontext()):
            for start, count in groups:
                ids = torch.tensor([list(prompt_ids[start])], device=device)
                cache = prefill_cache(model, ids, count)
                if cache.get_seq_length() != ids.shape[1] - 1:  # e.g. gradient checkpointing turned the cache off
                    import warnings
                    warnings.warn("share_prefill: the model filled no KV cache in training mode; generating the "
                                  "rollouts TRL's way from now on")
                    self._shared_prefill_failed = True
                    return None
                batch = ids.repeat(count, 1)
                out = model.generate(input_ids=batch, attention_mask=torch.ones_like(batch), past_key_values=cache,
                                     generation_config=self.generation_config)
                for row in out[:, ids.shape[1]:].tolist():
                    end = next((i + 1 for i, t in enumerate(row) if t in eos), len(row))
                    completions.append(row[:end])
        return completions

    def _init_egpo(self, egpo: EGPOSettings | dict | None) -> None:
        if isinstance(egpo, dict):
            egpo = EGPOSettings(**egpo)
        self.egpo = egpo or EGPOSettings()

    def _egpo_loss_pass(self) -> bool:
        """Whether E comes from TRL's loss forward (decided once; see ``EGPOSettings.entropy_source``)."""
        if self._egpo_fused is None:
            source = self.egpo.entropy_source
            on_policy = getattr(getattr(self, "args", None), "num_iterations", 1) == 1
            trl_loss = _is_trl_loss(type(self)) and not getattr(self, "use_liger_kernel", False)
            if source == "loss" and not on_policy:
                raise ValueError("egpo.entropy_source 'loss' needs num_iterations = 1 (the policy of the loss pass "
                                 "must be the one that sampled); use 'forward' or 'auto'")
            self._egpo_fused = source == "loss" or (source == "auto" and on_policy and trl_loss)
        return self._egpo_fused

    def _generate_and_score_completions(self, inputs: Any) -> dict[str, Any]:
        out = super()._generate_and_score_completions(inputs)  # type: ignore[misc]
        cfg = self.egpo
        if cfg.advantage_mode == "grpo" and not cfg.log_cot_entropy:
            return out
        completion_mask = out["completion_mask"]
        if out.get("tool_mask") is not None:
            completion_mask = completion_mask * out["tool_mask"]
        span = think_span_mask(out["completion_ids"], completion_mask, self.processing_class,
                               open_tag=cfg.think_open, close_tag=cfg.think_close, prefilled=cfg.think_prefilled)
        if self._egpo_loss_pass():
            # the loss pass applies Eq. 5; these travel with the rows through TRL's shuffle and split
            n = span.shape[0]
            out["egpo_span"] = span
            out["egpo_row"] = torch.arange(n, device=span.device) - n  # position in the logged advantages
            return out
        self._egpo_apply(out, self._cot_token_entropies(out, span), span)
        return out

    def compute_loss(self, model: Any, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        if "egpo_span" not in inputs:
            return super().compute_loss(model, inputs, *args, **kwargs)  # type: ignore[misc]
        self._egpo_pending = inputs
        try:
            loss = super().compute_loss(model, inputs, *args, **kwargs)  # type: ignore[misc]
        finally:
            missed, self._egpo_pending = self._egpo_pending is not None, None
        if missed:
            raise RuntimeError("EGPO: this trainer's loss pass computed no per-token entropies, so Eq. 5 was not "
                               "applied; set egpo.entropy_source: forward")
        return loss

    def _get_per_token_logps_and_entropies(self, *args: Any, **kwargs: Any) -> Any:
        result = super()._get_per_token_logps_and_entropies(*args, **kwargs)  # type: ignore[misc]
        inputs = self._egpo_pending
        if inputs is not None and kwargs.get("compute_entropy") and result[1] is not None:
            self._egpo_pending = None
            self._egpo_apply(inputs, result[1].detach(), inputs["egpo_span"])
        return result

    def _egpo_apply(self, out: dict[str, Any], token_h: torch.Tensor, span: torch.Tensor) -> None:
        """Eq. 5 on ``out["advantages"]`` from per-token entropies ``token_h`` (rows × completion tokens), and the
        ``egpo/…`` metrics."""
        cfg = self.egpo
        mode = "train" if self.model.training else "eval"
        e, w = sequence_entropy(token_h.to(span.device), span)
        has_span = w > 0
        advantages = out["advantages"]
        if cfg.advantage_mode == "egpo":
            new, bonus, capped = egpo_advantages(advantages, e, has_span, lam=cfg.entropy_lambda,
                                                 alpha=cfg.entropy_alpha)
            out["advantages"] = new.to(advantages.dtype)
            if self.accelerator.num_processes == 1:  # keep the completions table's advantages current
                logged = self._logs["advantages"]
                rows = out["egpo_row"].tolist() if "egpo_row" in out else range(-len(new), 0)
                if rows and len(logged) >= -min(rows):
                    logged_list = list(logged)
                    for r, v in zip(rows, new.tolist()):
                        logged_list[r] = v
                    logged.clear()
                    logged.extend(logged_list)
        else:
            bonus = torch.zeros_like(e)
            capped = torch.zeros_like(has_span)
        metrics = self._metrics[mode]
        gathered = self.accelerator.gather
        e_all, w_all, span_all = gathered(e), gathered(w), gathered(has_span.float())
        nz = gathered((has_span & (advantages != 0)).float())
        metrics["egpo/cot_entropy"].append((e_all.sum() / span_all.sum().clamp_min(1)).item())
        metrics["egpo/bonus"].append(gathered(bonus).mean().item())
        metrics["egpo/capped_frac"].append((gathered(capped.float()).sum() / nz.sum().clamp_min(1)).item())
        metrics["egpo/no_think_frac"].append((1 - span_all.mean()).item())
        metrics["egpo/think_tokens"].append(w_all.mean().item())


def _is_trl_loss(cls: type) -> bool:
    """Whether ``cls`` (an EntropyGRPOTrainer) computes its loss with TRL's own GRPOTrainer code, which passes
    ``compute_entropy=True`` to ``_get_per_token_logps_and_entropies`` (Unsloth generates its own)."""
    names = ("compute_loss", "_compute_loss", "_get_per_token_logps_and_entropies")
    return all(_is_trl_method(cls, n) for n in names)


def _is_trl_method(cls: type, name: str) -> bool:
    """Whether ``cls``'s ``name`` below the EGPO mixin is TRL's own GRPOTrainer code (not Unsloth's)."""
    mro = cls.__mro__
    base = mro[mro.index(EntropyAdvantageMixin) + 1] if EntropyAdvantageMixin in mro else cls
    return getattr(getattr(base, name, None), "__module__", None) == "trl.trainer.grpo_trainer"


_CLASSES: dict[type, type] = {}


def entropy_trainer_class(base: type | None = None) -> type:
    """``EntropyGRPOTrainer`` built on ``base`` (default: ``trl.GRPOTrainer`` *as it is now*). After
    ``import unsloth`` that name is Unsloth's generated trainer, so call this after loading an Unsloth model."""
    if base is None:
        import trl
        base = trl.GRPOTrainer
    if base not in _CLASSES:
        def __init__(self, *args: Any, egpo: EGPOSettings | dict | None = None, **kwargs: Any) -> None:
            self._init_egpo(egpo)
            base.__init__(self, *args, **kwargs)

        _CLASSES[base] = type("EntropyGRPOTrainer", (EntropyAdvantageMixin, base),
                              {"__init__": __init__, "__doc__": __doc__, "__module__": __name__})
    return _CLASSES[base]


def __getattr__(name: str) -> Any:
    # ``EntropyGRPOTrainer`` resolves lazily, so importing this module neither imports TRL nor freezes the base class
    # before Unsloth has had the chance to patch it.
    if name == "EntropyGRPOTrainer":
        return entropy_trainer_class()
    raise AttributeError(name)
