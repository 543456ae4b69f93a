"""One GRPO and one EGPO step of funrl's EntropyGRPOTrainer in each of several processes, for tests/test_multi_gpu.py:

    accelerate launch --config_file configs/accelerate/ddp.yaml --num_processes 2 tests/multi_gpu_probe.py MODEL OUT

MODEL is a saved model whose rollouts have think spans (the test saves test_train's tiny thinking model); each
process gets other prompts (two prompts, one group of 8 rollouts per process). Each process writes
``OUT/rank<i>.json``: for every EGPO advantage pass, what it saw in its own rollouts (counts and sums) and the
``egpo/…`` metrics the trainer logged, so the test can check that the logged numbers cover both processes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import trl
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer

from funrl_lib.train.egpo import egpo_advantages, entropy_trainer_class, sequence_entropy
from funrl_lib.train.run import leave_process_group

KEYS = ("egpo/cot_entropy", "egpo/bonus", "egpo/capped_frac", "egpo/no_think_frac", "egpo/think_tokens")


def parity_reward(completions, **kwargs):
    """Mixed rewards inside every group whatever the policy writes: 1 for an even number of characters."""
    return [float(len(c[0]["content"] if isinstance(c, list) else c) % 2 == 0) for c in completions]


class Probe(entropy_trainer_class()):
    """Records, before the trainer's own ``_egpo_apply``, the per-process numbers its metrics are made of."""

    records: list[dict] = []

    def _egpo_apply(self, out, token_h, span):
        cfg = self.egpo
        e, w = sequence_entropy(token_h.to(span.device), span)
        has_span = w > 0
        advantages = out["advantages"]
        if cfg.advantage_mode == "egpo":
            _, bonus, capped = egpo_advantages(advantages, e, has_span, lam=cfg.entropy_lambda,
                                               alpha=cfg.entropy_alpha)
        else:
            bonus, capped = torch.zeros_like(e), torch.zeros_like(has_span)
        local = {"rows": int(e.numel()), "spans": int(has_span.sum()), "think_tokens": float(w.float().sum()),
                 "entropy": float(e[has_span].sum()), "bonus": float(bonus.sum()), "capped": int(capped.sum()),
                 "nonzero": int((has_span & (advantages != 0)).sum())}
        super()._egpo_apply(out, token_h, span)
        metrics = self._metrics["train" if self.model.training else "eval"]
        self.records.append({"mode": cfg.advantage_mode, "local": local,
                             "logged": {k: metrics[k][-1] for k in KEYS}})


def main() -> None:
    model_dir, out_dir = sys.argv[1], Path(sys.argv[2])
    data = Dataset.from_list([{"prompt": [{"role": "user", "content": text}]} for text in ("hi there", "hello")])
    rank = None
    for mode in ("grpo", "egpo"):
        model = AutoModelForCausalLM.from_pretrained(model_dir)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        args = trl.GRPOConfig(output_dir=str(out_dir / mode), use_cpu=True, bf16=False, per_device_train_batch_size=8,
                              num_generations=8, max_completion_length=16, max_steps=1, logging_steps=1,
                              report_to="none", save_strategy="no", temperature=1.2, seed=0, learning_rate=1e-3,
                              beta=0.0, loss_type="grpo", disable_tqdm=True)
        trainer = Probe(model=model, reward_funcs=[parity_reward], args=args, train_dataset=data,
                        processing_class=tokenizer, egpo={"advantage_mode": mode})
        trainer.train()
        rank = trainer.accelerator.process_index
        world = trainer.accelerator.num_processes
    (out_dir / f"rank{rank}.json").write_text(json.dumps({"world": world, "records": Probe.records}, indent=1))
    del trainer, model
    leave_process_group()  # as `funrl train` ends


if __name__ == "__main__":
    main()
