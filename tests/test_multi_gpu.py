"""Multi-GPU training (issue 16, item 6), as far as a CPU machine can check it: the accelerate configs
(configs/accelerate/: DDP, DeepSpeed ZeRO-2 and ZeRO-3) load with accelerate's own loader; TRL's vLLM server mode
reaches GRPOConfig; and with DDP's config, two CPU processes over gloo (``accelerate launch --config_file
configs/accelerate/ddp.yaml --num_processes 2``) run `funrl train` for GRPO and EGPO on the tiny recipe, with one
writer for the log and final/, and gather the EGPO metrics across both processes.

``accelerate launch --cpu`` is not used: with ``--cpu``, accelerate 1.15 always takes its single-process launcher
(or mpirun, given a hostfile), so ``--num_processes 2 --cpu`` starts one process. The DDP config starts the
processes with torch's launcher, and the recipe's ``device: cpu`` (TrainingArguments ``use_cpu``) makes them
join over gloo. DeepSpeed is GPU-only and not installed here: its configs are only loaded (docs/multi-gpu.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from funrl_lib.train.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]
ACCELERATE_CONFIGS = ROOT / "configs" / "accelerate"
DOC = ROOT / "docs" / "multi-gpu.md"
SMOKE = ["model.tiny.corpus_dialogs=120", "model.tiny.vocab_size=600", "model.tiny.hidden_size=32",
         "model.tiny.intermediate_size=64", "model.tiny.num_hidden_layers=1", "model.tiny.num_attention_heads=2",
         "model.tiny.num_key_value_heads=1", "data.synth_apis=40", "data.synth_dialogs=40", "grpo.max_steps=2",
         "grpo.num_generations=4", "grpo.per_device_train_batch_size=4", "grpo.max_completion_length=12",
         "grpo.save_steps=1"]
EGPO_KEYS = ("egpo/cot_entropy", "egpo/bonus", "egpo/capped_frac", "egpo/no_think_frac", "egpo/think_tokens")


def accelerate_launch(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """``accelerate launch --config_file configs/accelerate/ddp.yaml --num_processes 2 ARGS`` from the repository."""
    accelerate = Path(sys.executable).parent / "accelerate"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run([str(accelerate), "launch", "--config_file", str(ACCELERATE_CONFIGS / "ddp.yaml"),
                           "--num_processes", "2", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


# ---------------------------------------------------------------------------------------------------------------------
# The files


def test_accelerate_configs_load_with_accelerates_loader():
    pytest.importorskip("accelerate")
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.utils import DistributedType

    assert sorted(p.name for p in ACCELERATE_CONFIGS.glob("*.yaml")) == ["ddp.yaml", "zero2.yaml", "zero3.yaml"]
    ddp = load_config_from_file(str(ACCELERATE_CONFIGS / "ddp.yaml"))
    assert ddp.distributed_type == DistributedType.MULTI_GPU and not ddp.use_cpu
    assert ddp.mixed_precision == "no"  # the recipe decides (bf16 / fp16 / float32 on CPU)
    for name, stage in (("zero2.yaml", 2), ("zero3.yaml", 3)):
        cfg = load_config_from_file(str(ACCELERATE_CONFIGS / name))
        assert cfg.distributed_type == DistributedType.DEEPSPEED and cfg.deepspeed_config["zero_stage"] == stage
        assert cfg.deepspeed_config["zero3_init_flag"] == (stage == 3)
    zero3 = load_config_from_file(str(ACCELERATE_CONFIGS / "zero3.yaml"))
    assert zero3.deepspeed_config["zero3_save_16bit_model"]  # final/ loads like any checkpoint


def test_the_doc_gives_each_launch_command():
    doc = DOC.read_text()
    for name in ("ddp.yaml", "zero2.yaml", "zero3.yaml"):
        assert f"accelerate launch --config_file configs/accelerate/{name}" in doc
    assert "trl vllm-serve --model" in doc and "grpo.vllm_mode=server" in doc and "CUDA_VISIBLE_DEVICES" in doc


def test_vllm_server_mode_reaches_the_grpo_config(tmp_path):
    pytest.importorskip("trl")
    from funrl_lib.train.run import grpo_args

    cfg = load_config(ROOT / "configs" / "tiny-cpu.yaml", ["grpo.use_vllm=true", "grpo.vllm_mode=server",
                                                           "grpo.vllm_server_base_url=http://10.0.0.5:8000"])
    args = grpo_args(cfg, tmp_path, True)
    assert (args.use_vllm, args.vllm_mode, args.vllm_server_base_url) == (True, "server", "http://10.0.0.5:8000")
    assert load_config(None).grpo.vllm_mode == "colocate"  # TRL's default, unchanged
    with pytest.raises(ConfigError, match="vllm_mode must be 'colocate' or 'server'"):
        load_config(None, ["grpo.vllm_mode=remote"])


# ---------------------------------------------------------------------------------------------------------------------
# Two processes


@pytest.mark.slow
def test_funrl_train_runs_grpo_and_egpo_in_two_processes(tmp_path):
    """`funrl train` under accelerate with 2 CPU processes: the main process builds the tiny model and the data
    (the other reads them), both train, and the log and final/ are written once."""
    pytest.importorskip("trl")
    sets = [arg for s in SMOKE for arg in ("--set", s)]
    for mode in ("grpo", "egpo"):
        proc = accelerate_launch("-m", "funrl_lib", "train", "--config", "configs/tiny-cpu.yaml", "--output-dir",
                                 str(tmp_path), "--mode", mode, *sets)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert proc.stdout.count(f"done: {tmp_path / mode / 'final'}") == 2  # both processes finished
        done = json.loads((tmp_path / mode / "final" / "done.json").read_text())
        assert done["processes"] == 2 and done["global_step"] == 2 and done["mode"] == mode
        steps = [e for e in (json.loads(line) for line in (tmp_path / mode / "log.jsonl").read_text().splitlines())
                 if "reward" in e]
        assert [e["step"] for e in steps] == [1, 2]  # one writer: no line twice
        assert all(key in e for e in steps for key in EGPO_KEYS)
    assert (tmp_path / "config.yaml").exists() and (tmp_path / "data" / "train.jsonl").exists()


@pytest.mark.slow
def test_egpo_metrics_are_gathered_across_two_processes(tmp_path):
    """Each process has its own group of 8 rollouts (another prompt); the logged ``egpo/…`` metrics are those of
    all 16, the same in both processes, and differ from what either process saw alone."""
    pytest.importorskip("trl")
    from tiny_models import thinking_model  # rollouts with think spans, so the metrics are not all zero

    model, tokenizer = thinking_model()
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    proc = accelerate_launch("tests/multi_gpu_probe.py", str(tmp_path / "model"), str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / "out" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    for mode in ("grpo", "egpo"):
        [a] = [x for x in ranks[0]["records"] if x["mode"] == mode]  # one advantage pass: one step, one group
        [b] = [x for x in ranks[1]["records"] if x["mode"] == mode]
        assert a["logged"] == b["logged"], "every process logs the gathered numbers"
        la, lb, logged = a["local"], b["local"], a["logged"]
        rows, spans = la["rows"] + lb["rows"], la["spans"] + lb["spans"]
        nonzero, capped = la["nonzero"] + lb["nonzero"], la["capped"] + lb["capped"]
        assert rows == 16 and spans > 0 and nonzero > 0
        expected = {"egpo/think_tokens": (la["think_tokens"] + lb["think_tokens"]) / rows,
                    "egpo/no_think_frac": 1 - spans / rows,
                    "egpo/cot_entropy": (la["entropy"] + lb["entropy"]) / spans,
                    "egpo/bonus": (la["bonus"] + lb["bonus"]) / rows,
                    "egpo/capped_frac": capped / nonzero}  # the capped rollouts of both processes
        assert logged == pytest.approx(expected, rel=1e-5, abs=1e-7)
        if mode == "egpo":
            assert capped > 0 and logged["egpo/bonus"] > 0
        else:
            assert capped == 0 and logged["egpo/bonus"] == 0
        alone = {"egpo/think_tokens": la["think_tokens"] / la["rows"],
                 "egpo/no_think_frac": 1 - la["spans"] / la["rows"]}
        assert any(alone[k] != pytest.approx(expected[k]) for k in alone), "the processes saw different rollouts"
