"""Step time and peak memory of EGPO vs GRPO on the same config (and, on a GPU, Unsloth vs plain PEFT).

    python benchmarks/train_step.py                      # tiny-cpu: GRPO (TRL's generation), GRPO, GRPO + logging, EGPO
    python benchmarks/train_step.py --steps 12 --init outputs/runs/tiny-cpu/sft/final --rounds 3
    python benchmarks/train_step.py --config configs/qwen2.5-coder-0.5b-cpu.yaml --init SFT_FINAL \
        --steps 1 --warmup 0 --rounds 2 --arms trl-gen,grpo,egpo      # the real 0.5B (about 30 min on 2 cores)
    python benchmarks/train_step.py --gpu-arch qwen2.5-1.5b --backends peft unsloth   # GPU rows (needs CUDA)

Each arm runs in its own process (peak memory is per process: ``ru_maxrss`` on CPU, ``max_memory_allocated`` on a
GPU) from the same SFT'd start, seed and data, so the rollouts of the first step are identical; step time is TRL's
``step_time`` (generation + scoring + loss + optimizer) averaged over the steps after the first ``--warmup``.
``--rounds`` repeats every arm that many times, interleaved (round r runs the arms in an order rotated by r), and each
ratio is taken against GRPO *in the same round*, so a machine whose load changes moves both sides of a ratio; the
table gives the median ratio with its min and max over rounds. Generation speed is the trainer's own
``rollouts/tokens_per_s`` (new tokens per second of ``generate``): ``trl-gen`` is TRL's generation (each prompt
repeated G times in the batch), the other arms decode each group from one shared prefill (``egpo.share_prefill``).
The rollouts must contain think spans for EGPO's entropy pass to cost anything, so the start is an SFT'd model
(a short SFT is run here unless ``--init`` names one). Goal (issues 4 and 13): EGPO ≤ 1.05× GRPO's step time; on a
GPU, Unsloth ≤ 0.5× PEFT's peak memory and ≤ 0.7× its step time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# A randomly initialised model of Qwen2.5-1.5B's shape (its config.json values), for GPU rows without a download.
QWEN25_15B = dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                  num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768, rope_theta=1000000.0,
                  tie_word_embeddings=True)


# --arms keys: (label, advantage mode, log the CoT entropy, share each group's prefill)
CPU_ARMS = {"trl-gen": ("GRPO, TRL's generation (prompt repeated G times)", "grpo", "false", "false"),
            "grpo": ("GRPO", "grpo", "false", "true"),
            "grpo-log": ("GRPO + CoT-entropy logging", "grpo", "true", "true"),
            "egpo": ("EGPO", "egpo", "true", "true")}


def _spread(xs: list[float], fmt: str) -> str:
    if len(xs) == 1:
        return format(xs[0], fmt)
    return f"{format(statistics.median(xs), fmt)} ({format(min(xs), fmt)} / {format(max(xs), fmt)})"


def run_arm(args: argparse.Namespace) -> dict:
    """One arm in this process; prints a JSON line with its figures."""
    import torch
    from funrl_lib.train.config import load_config
    from funrl_lib.train.run import read_log, run_train

    overrides = [f"output_dir={args.out}", f"egpo.advantage_mode={args.mode}", f"grpo.max_steps={args.steps}",
                 "grpo.save_steps=100000", "grpo.logging_steps=1", f"egpo.log_cot_entropy={args.log_entropy}",
                 f"egpo.share_prefill={args.share_prefill}", f"grpo.init={args.init}"]
    if args.backend != "tiny":
        overrides += [f"model.backend={args.backend}", f"model.name_or_path={args.model_dir}", "device=auto",
                      "model.lora.enabled=true", "model.lora.r=16", "model.lora.alpha=32",
                      "model.gradient_checkpointing=true", f"grpo.max_completion_length={args.completion_length}",
                      "grpo.num_generations=8", "grpo.per_device_train_batch_size=8"]
    cfg = load_config(args.config, overrides + list(args.set))
    run_train(cfg, force=True)
    log = [e for e in read_log(Path(args.out) / args.mode / "log.jsonl") if "step_time" in e]
    times = [e["step_time"] for e in log][args.warmup:]
    gen = [e["rollouts/tokens_per_s"] for e in log if "rollouts/tokens_per_s" in e][args.warmup:]
    gen_s = [e["rollouts/generate_s"] for e in log if "rollouts/generate_s" in e][args.warmup:]
    if torch.cuda.is_available() and args.backend != "tiny":
        peak = torch.cuda.max_memory_allocated() / 2 ** 30
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # KiB -> GiB
    return {"step_time": statistics.mean(times), "step_time_sd": statistics.pstdev(times), "steps": len(times),
            "peak_gib": peak, "completion_len": statistics.mean(e["completions/mean_length"] for e in log),
            "reward": statistics.mean(e["reward"] for e in log),
            "gen_tok_s": statistics.mean(gen) if gen else float("nan"),
            "gen_s": statistics.mean(gen_s) if gen_s else float("nan")}


def spawn(args: argparse.Namespace, **arm: str) -> dict:
    cmd = [sys.executable, __file__, "--arm", "--config", args.config, "--steps", str(args.steps),
           "--warmup", str(args.warmup), "--init", args.init, "--completion-length", str(args.completion_length)]
    for k, v in arm.items():
        cmd += [f"--{k.replace('_', '-')}", str(v)]
    for s in args.set:
        cmd += ["--set", s]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{\"step_time\"")]
    if r.returncode != 0 or not lines:
        sys.stderr.write(r.stderr[-4000:])
        raise SystemExit(f"arm {arm} failed (exit {r.returncode})")
    return json.loads(lines[-1])


def sft_start(args: argparse.Namespace, work: Path) -> str:
    from funrl_lib.train.config import load_config
    from funrl_lib.train.run import run_sft
    cfg = load_config(args.config, [f"output_dir={work / 'sft-run'}", f"sft.max_steps={args.sft_steps}",
                                    "sft.save_steps=100000", *args.set])
    return str(run_sft(cfg))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "configs" / "tiny-cpu.yaml"))
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2, help="first steps left out of the mean")
    ap.add_argument("--init", default="", help="SFT'd model to start from (default: a short SFT run here)")
    ap.add_argument("--sft-steps", type=int, default=60)
    ap.add_argument("--set", action="append", default=[], help="config override for every arm (KEY=VALUE)")
    ap.add_argument("--rounds", type=int, default=1, help="CPU rows: run every arm this many times, interleaved")
    ap.add_argument("--arms", default="trl-gen,grpo,grpo-log,egpo",
                    help=f"CPU rows, comma list of {', '.join(CPU_ARMS)}")
    ap.add_argument("--gpu-arch", choices=["qwen2.5-1.5b"], help="GPU rows: a random model of this shape")
    ap.add_argument("--backends", nargs="+", default=["peft", "unsloth"])
    ap.add_argument("--completion-length", type=int, default=256, help="GPU rows: fixed max completion length")
    # internal: one arm
    ap.add_argument("--arm", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="egpo", help=argparse.SUPPRESS)
    ap.add_argument("--log-entropy", default="true", help=argparse.SUPPRESS)
    ap.add_argument("--share-prefill", default="true", help=argparse.SUPPRESS)
    ap.add_argument("--backend", default="tiny", help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", default="", help=argparse.SUPPRESS)
    ap.add_argument("--out", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.arm:
        print(json.dumps(run_arm(args)))
        return 0

    import torch
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{'CUDA ' + torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'CPU'}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows = []
        if args.gpu_arch:
            if not torch.cuda.is_available():
                raise SystemExit("--gpu-arch needs a CUDA GPU")
            model_dir = work / "random-qwen2.5-1.5b"
            from funrl_lib.train.tiny import build_tiny, tiny_qwen2
            from transformers import AutoTokenizer
            build_tiny(work / "tok")
            tok = AutoTokenizer.from_pretrained(work / "tok")
            model = tiny_qwen2(tok, **{k: v for k, v in QWEN25_15B.items() if k not in ("vocab_size", "rope_theta",
                                                                                        "tie_word_embeddings")})
            model.resize_token_embeddings(QWEN25_15B["vocab_size"])
            model.save_pretrained(model_dir)
            tok.save_pretrained(model_dir)
            for backend in args.backends:
                r = spawn(args, mode="egpo", backend=backend, model_dir=model_dir, out=work / backend, init="base")
                rows.append((f"EGPO {backend}", r))
            base = rows[0][1]
        else:
            if not args.init:
                print(f"short SFT ({args.sft_steps} steps) so that rollouts think ...", flush=True)
                args.init = sft_start(args, work)
            chosen = [a for a in args.arms.split(",") if a]
            unknown = sorted(set(chosen) - set(CPU_ARMS))
            if unknown or "grpo" not in chosen:
                raise SystemExit(f"--arms: choose from {','.join(CPU_ARMS)}, GRPO (grpo) included; not {unknown}")
            per_arm: dict[str, list[dict]] = {a: [] for a in chosen}
            ratios: dict[str, list[float]] = {a: [] for a in chosen}
            for r in range(args.rounds):
                order = chosen[r % len(chosen):] + chosen[:r % len(chosen)]
                got = {}
                for key in order:
                    label, mode, log, share = CPU_ARMS[key]
                    print(f"round {r + 1}/{args.rounds}: {label} ...", flush=True)
                    got[key] = spawn(args, mode=mode, log_entropy=log, share_prefill=share,
                                     out=work / f"{key}-r{r}")
                for key in chosen:
                    per_arm[key].append(got[key])
                    ratios[key].append(got[key]["step_time"] / got["grpo"]["step_time"])
            print(f"\n{args.rounds} round(s), arms interleaved; {args.steps} steps per arm and round, mean over the "
                  f"last {args.steps - args.warmup}; config {os.path.relpath(args.config, ROOT)}\n")
            print("| arm | step time s, median (min / max) | vs GRPO same round, median (min / max) | generate s "
                  "| generation new tok/s | peak RSS GiB | completion tokens | reward |")
            print("|---|---|---|---|---|---|---|---|")
            for key in chosen:
                rs = per_arm[key]
                print(f"| {CPU_ARMS[key][0]} | {_spread([x['step_time'] for x in rs], '.1f' if args.steps < 5 else '.3f')} "
                      f"| {_spread(ratios[key], '.3f')}x | {statistics.median(x['gen_s'] for x in rs):.1f} "
                      f"| {statistics.median(x['gen_tok_s'] for x in rs):.2f} | {max(x['peak_gib'] for x in rs):.2f} "
                      f"| {statistics.mean(x['completion_len'] for x in rs):.1f} "
                      f"| {statistics.mean(x['reward'] for x in rs):.3f} |")
            return 0
    print(f"\n{args.steps} steps per arm, mean over the last {args.steps - args.warmup}; "
          f"config {os.path.relpath(args.config, ROOT)}\n")
    print("| arm | step time (s) | ratio | peak memory (GiB) | ratio | completion tokens | reward |")
    print("|---|---|---|---|---|---|---|")
    for label, r in rows:
        print(f"| {label} | {r['step_time']:.3f} ± {r['step_time_sd']:.3f} | {r['step_time'] / base['step_time']:.3f} "
              f"| {r['peak_gib']:.2f} | {r['peak_gib'] / base['peak_gib']:.3f} | {r['completion_len']:.1f} "
              f"| {r['reward']:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
