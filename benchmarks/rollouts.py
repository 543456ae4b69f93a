"""What GRPO would see from a model before training, and how fast rollouts are sampled.

    python benchmarks/rollouts.py --config configs/qwen2.5-coder-0.5b-cpu.yaml --prompts 8
    python benchmarks/rollouts.py --config configs/qwen2.5-coder-0.5b-cpu.yaml --prompts 4 --modes repeat,shared

For ``--prompts`` training rows of the recipe (seeded pick), sample ``grpo.num_generations`` rollouts each at the
recipe's temperature and completion length, judge them with the FunRL binary reward, and print one row per mode:

* ``repeat``: what TRL's GRPOTrainer does, each prompt repeated G times in one batch (G prefills of the same prompt);
* ``shared``: one prefill per prompt, its KV cache copied to the G rollouts (``funrl_lib.train.rollouts``).

and below them the figures that decide whether RL can learn at all under a 0/1 reward: the think-template rate, the
call accuracy, the reward rate and the share of groups whose rewards differ (a group whose G rewards are equal has
zero advantage and teaches GRPO nothing).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="configs/qwen2.5-coder-0.5b-cpu.yaml")
    p.add_argument("--set", action="append", default=[], help="config override, e.g. grpo.num_generations=8")
    p.add_argument("--prompts", type=int, default=8)
    p.add_argument("--modes", default="shared", help="comma list of repeat, shared")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--show", type=int, default=2, help="print this many completions")
    p.add_argument("--prefill-think", action="store_true",
                   help="end the prompt with '<think>\\n' (the assistant turn starts inside the think block) and judge "
                        "with the template's opening tag pre-filled")
    args = p.parse_args(argv)

    import torch
    from funrl_lib.rewards import judge_completion, parse_ground_truth
    from funrl_lib.tools import load_tools
    from funrl_lib.train.config import load_config
    from funrl_lib.train.data import prepare_rows
    from funrl_lib.train.models import base_model_path
    from funrl_lib.train.rollouts import sample_rollouts
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cfg = load_config(args.config, args.set)
    path = base_model_path(cfg)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    train, _, counts = prepare_rows(cfg, tok)
    rows = random.Random(args.seed).sample(train, min(args.prompts, len(train)))
    g, n_new, temp = cfg.grpo.num_generations, cfg.grpo.max_completion_length, cfg.grpo.temperature
    print(f"model {path}; torch threads {torch.get_num_threads()}; prefill <think>: {args.prefill_think}; "
          f"{len(rows)} prompts x {g} rollouts x <= {n_new} new tokens, T={temp}; data {counts}")
    table = []
    for mode in args.modes.split(","):
        torch.manual_seed(args.seed)
        t0, tokens, judged, prompt_tokens = time.perf_counter(), 0, [], 0
        for row in rows:
            enc = tok.apply_chat_template(row["prompt"], add_generation_prompt=True, return_tensors="pt",
                                          return_dict=True)
            if args.prefill_think:
                extra = tok("<think>\n", add_special_tokens=False, return_tensors="pt")["input_ids"]
                enc["input_ids"] = torch.cat([enc["input_ids"], extra], dim=1)
            prompt_tokens += enc["input_ids"].shape[1]
            texts, n = sample_rollouts(model, tok, enc["input_ids"], g, max_new_tokens=n_new, temperature=temp,
                                       share_prefill=(mode == "shared"))
            tokens += n
            tools = load_tools(row["tools"])
            truth = parse_ground_truth(row["ground_truth"], tools)
            judged.append([judge_completion(t, tools, truth, row.get("category"),
                                          prefilled_think=args.prefill_think) for t in texts])
            if len(judged) <= args.show:
                print(f"--- {row['id']} ({row.get('type')}) rollout 0:\n{texts[0][:600]}\n")
        wall = time.perf_counter() - t0
        flat = [j for grp in judged for j in grp]
        rewards = [[float(j.template_ok and j.answer_ok) for j in grp] for grp in judged]
        table.append((mode, wall, tokens / wall, prompt_tokens / len(rows),
                      sum(j.template_ok for j in flat) / len(flat), sum(j.answer_ok for j in flat) / len(flat),
                      sum(map(sum, rewards)) / len(flat), sum(len(set(r)) > 1 for r in rewards) / len(rewards)))
    print(f"\n{'mode':8} {'wall s':>8} {'new tok/s':>10} {'prompt tok':>10} {'template':>9} {'call ok':>8} "
          f"{'reward':>7} {'groups w/ signal':>17}")
    for m, wall, tps, pt, tmpl, ok, rew, sig in table:
        print(f"{m:8} {wall:8.1f} {tps:10.1f} {pt:10.0f} {tmpl:9.2f} {ok:8.2f} {rew:7.2f} {sig:17.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
