"""``funrl sft`` and ``funrl train``: one config in, a finished (or resumable) run directory out.

Layout of ``<run_dir>`` (``output_dir`` or ``outputs/runs/<name>``)::

    config.yaml               the resolved config of the last command
    data/                     train.jsonl, heldout.jsonl, rows.json (the rows every stage reads)
    tiny-model/               the tiny base model (backend ``tiny``)
    sft/checkpoint-N/ ...     TRL checkpoints; sft/final/ the warm-started model; sft/log.jsonl
    grpo/ or egpo/            the same for RL, one directory per advantage mode, so both arms sit side by side

Re-running an interrupted command resumes from its last checkpoint (model, optimizer, scheduler, RNG and step);
``log.jsonl`` is cut back to that step so the curves have no duplicate points. A finished stage (``final/`` with
``done.json``) is not redone unless ``force=True``.

Several processes (``accelerate launch``, ``torchrun``; docs/multi-gpu.md): the training arguments are built first
(they set up the processes, and DeepSpeed ZeRO-3 before the model loads), the main process builds or caches the
model and the data before the others read them, and only it writes the config, the log and ``final/``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from .backend import prepare_backend
from .config import Config
from .data import prepare_rows, rows_dataset
from .logs import read_log
from .models import Policy, cpu_threads, load_policy, use_cpu

__all__ = ["jsonl_logger", "last_checkpoint", "leave_process_group", "read_log", "run_sft", "run_train",
           "stage_dir"]


def stage_dir(cfg: Config, stage: str) -> Path:
    return cfg.run_dir / stage


def last_checkpoint(directory: Path) -> str | None:
    """The newest complete ``checkpoint-N`` in ``directory`` (one with a ``trainer_state.json``)."""
    best, best_step = None, -1
    for p in directory.glob("checkpoint-*"):
        step = p.name.rpartition("-")[2]
        if step.isdigit() and (p / "trainer_state.json").exists() and int(step) > best_step:
            best, best_step = str(p), int(step)
    return best


def jsonl_logger(path: str | Path) -> Any:
    """A ``TrainerCallback`` that appends every log entry (with its step) to ``path`` as it happens, so the curves
    survive a crash; on a resumed run it first cuts the file back to the checkpoint's step."""
    from transformers import TrainerCallback

    class JsonlLogger(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if not state.is_world_process_zero:  # one writer when several processes train
                return
            kept = [e for e in read_log(path) if e.get("step", 0) <= state.global_step]
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text("".join(json.dumps(e) + "\n" for e in kept), encoding="utf-8")

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if logs and state.is_world_process_zero:
                entry = {"step": state.global_step, "time": round(time.time(), 3), **logs}
                with open(path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(entry, default=float) + "\n")

    return JsonlLogger()


def _precision(cpu: bool) -> dict[str, Any]:
    if cpu:
        return {"use_cpu": True, "bf16": False, "fp16": False}
    import torch
    bf16 = torch.cuda.is_bf16_supported()
    return {"bf16": bf16, "fp16": not bf16}


def _check_loggers(report_to: list[str]) -> None:
    import importlib.util
    for name in report_to:
        if name in ("tensorboard", "wandb", "trackio") and importlib.util.find_spec(name) is None:
            raise ValueError(f"report_to: {name!r} needs `pip install {name}` (or set report_to: [none])")


def _common_args(cfg: Config, out: Path, cpu: bool) -> dict[str, Any]:
    return dict(output_dir=str(out), seed=cfg.seed, data_seed=cfg.seed, report_to=list(cfg.report_to),
                save_strategy="steps", disable_tqdm=False, **_precision(cpu))


def _is_main_process() -> bool:
    """Before the training arguments exist: rank 0 of a multi-process launch (``RANK``), or the only process."""
    return os.environ.get("RANK", "0") == "0"


def _write_config(cfg: Config) -> None:
    if not _is_main_process():
        return
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    (cfg.run_dir / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def _finished(cfg: Config, out: Path, label: str, force: bool) -> Path | None:
    """The ``final`` directory of a finished stage (nothing to do), else None once the run is ready to start: a
    finished stage redone with ``force`` is deleted, the loggers are checked and the config written."""
    final = out / "final"
    if (final / "done.json").exists():
        if not force:
            print(f"{label} already finished: {final} (use --force to redo)")
            return final
        shutil.rmtree(out, ignore_errors=True)  # every process may get here; one of them deletes it
    _check_loggers(cfg.report_to)
    _write_config(cfg)
    return None


def _train(trainer: Any, policy: Policy, out: Path, info: dict[str, Any]) -> Path:
    """Train (from the last checkpoint in ``out`` if any), then save ``final/`` with ``done.json``."""
    start = time.time()
    trainer.train(resume_from_checkpoint=last_checkpoint(out))
    final = out / "final"
    main = trainer.accelerator.is_main_process
    if main and final.exists():
        shutil.rmtree(final)
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(final))  # every process (ZeRO-3 gathers the weights); the main one writes
    if main:
        policy.tokenizer.save_pretrained(str(final))
        done = {"global_step": trainer.state.global_step, "seconds": round(time.time() - start, 1),
                "processes": trainer.accelerator.num_processes, **info}
        (final / "done.json").write_text(json.dumps(done, indent=1) + "\n")
    trainer.accelerator.wait_for_everyone()  # no process goes on before final/ is complete
    return final


def run_sft(cfg: Config, *, force: bool = False, callbacks: list | None = None) -> Path:
    """SFT warm start; returns the ``final`` directory (model or adapter + tokenizer)."""
    out = stage_dir(cfg, "sft")
    if (final := _finished(cfg, out, "SFT", force)) is not None:
        return final
    prepare_backend(cfg)  # Unsloth (backend unsloth) before trl/transformers/peft
    from trl import SFTConfig, SFTTrainer

    s = cfg.sft
    cpu = use_cpu(cfg)
    if cpu:
        print(f"SFT on the CPU with {cpu_threads(cfg)} torch thread(s)")
    args = SFTConfig(
        **_common_args(cfg, out, cpu), learning_rate=s.learning_rate, num_train_epochs=s.num_train_epochs,
        max_steps=s.max_steps, per_device_train_batch_size=s.per_device_train_batch_size,
        gradient_accumulation_steps=s.gradient_accumulation_steps, warmup_steps=s.warmup_ratio,
        lr_scheduler_type=s.lr_scheduler_type, weight_decay=s.weight_decay, logging_steps=s.logging_steps,
        save_steps=s.save_steps, save_total_limit=s.save_total_limit, max_length=cfg.model.max_seq_length,
        completion_only_loss=True, gradient_checkpointing=cfg.model.gradient_checkpointing, dataset_num_proc=None)
    with args.main_process_first(local=False, desc="model and data"):  # built or cached once, then read
        policy = load_policy(cfg)
        train, _, counts = prepare_rows(cfg, policy.tokenizer)
    print(f"SFT on {counts['train']} rows ({counts})")
    trainer = SFTTrainer(model=policy.model, args=args, train_dataset=rows_dataset(train, with_completion=True),
                         processing_class=policy.tokenizer, peft_config=policy.peft_config,
                         callbacks=[jsonl_logger(out / "log.jsonl"), *(callbacks or [])])
    return _train(trainer, policy, out, {"rows": counts["train"]})


def _init_path(cfg: Config) -> Path | None:
    init = cfg.grpo.init
    if init in (None, "base"):
        return None
    if init == "sft":
        final = stage_dir(cfg, "sft") / "final"
        if (final / "done.json").exists():
            return final
        print("grpo.init is 'sft' but this run has no finished SFT; starting from the base model "
              "(run `funrl sft` first for a warm start)")
        return None
    if not Path(init).exists():
        raise FileNotFoundError(f"grpo.init: {init} does not exist")
    return Path(init)


def _reward(cfg: Config) -> Any:
    from ..rewards import make_funrl_binary, make_toolrl_graded
    g = cfg.grpo
    if g.reward == "funrl_binary":
        return make_funrl_binary(g.reward_format, prefilled_think=cfg.egpo.think_prefilled,
                                 strict_abstain=g.strict_abstain)
    if g.reward == "toolrl_graded":
        return make_toolrl_graded(g.reward_format, prefilled_think=cfg.egpo.think_prefilled)
    raise ValueError(f"grpo.reward must be funrl_binary or toolrl_graded, not {g.reward!r}")


def grpo_args(cfg: Config, out: Path, cpu: bool) -> Any:
    from trl import GRPOConfig
    g = cfg.grpo
    return GRPOConfig(
        **_common_args(cfg, out, cpu), learning_rate=g.learning_rate, num_generations=g.num_generations,
        temperature=g.temperature, top_p=g.top_p, beta=g.beta, epsilon=g.epsilon, loss_type=g.loss_type,
        scale_rewards=g.scale_rewards, max_completion_length=g.max_completion_length,
        per_device_train_batch_size=g.per_device_train_batch_size,
        gradient_accumulation_steps=g.gradient_accumulation_steps, num_train_epochs=g.num_train_epochs,
        max_steps=g.max_steps, logging_steps=g.logging_steps, save_steps=g.save_steps,
        save_total_limit=g.save_total_limit, mask_truncated_completions=g.mask_truncated_completions,
        max_grad_norm=g.max_grad_norm, warmup_steps=g.warmup_ratio, optim=g.optim, use_vllm=g.use_vllm,
        vllm_gpu_memory_utilization=g.vllm_gpu_memory_utilization, vllm_mode=g.vllm_mode,
        vllm_server_base_url=g.vllm_server_base_url, log_completions=g.log_completions,
        gradient_checkpointing=cfg.model.gradient_checkpointing)


def run_train(cfg: Config, *, force: bool = False, callbacks: list | None = None) -> Path:
    """GRPO or EGPO (``cfg.egpo.advantage_mode``) into ``<run_dir>/<mode>``; returns its ``final`` directory."""
    mode = cfg.egpo.advantage_mode
    out = stage_dir(cfg, mode)
    if (final := _finished(cfg, out, mode.upper(), force)) is not None:
        return final
    prepare_backend(cfg)  # Unsloth (backend unsloth) before trl/transformers/peft
    init = _init_path(cfg)
    cpu = use_cpu(cfg)
    if cpu:
        print(f"{mode.upper()} on the CPU with {cpu_threads(cfg)} torch thread(s)")
    args = grpo_args(cfg, out, cpu)
    with args.main_process_first(local=False, desc="model and data"):  # built or cached once, then read
        policy = load_policy(cfg, init=init)
        train, _, counts = prepare_rows(cfg, policy.tokenizer)
    from .egpo import entropy_trainer_class  # after prepare_backend: Unsloth (if used) has patched trl

    print(f"{mode.upper()} on {counts['train']} prompts from {init or 'the base model'}")
    trainer = entropy_trainer_class()(
        model=policy.model, reward_funcs=[_reward(cfg)], args=args,
        train_dataset=rows_dataset(train, with_completion=False), processing_class=policy.tokenizer,
        peft_config=policy.peft_config, egpo=cfg.egpo,
        callbacks=[jsonl_logger(out / "log.jsonl"), *(callbacks or [])])
    return _train(trainer, policy, out, {"mode": mode, "init": str(init) if init else None,
                                         "egpo": asdict(cfg.egpo)})


def leave_process_group() -> None:
    """End a multi-process run cleanly: without this, gloo (CPU) aborts every process at exit. The barrier and the
    pause first let gloo's worker threads finish with the last collectives (they need the interpreter lock to free
    them, and destroying the group holds it while it waits for those threads: a deadlock, 1 run in 5 here)."""
    if "torch" in sys.modules:
        import torch.distributed as dist
        if dist.is_available() and dist.is_initialized():
            dist.barrier()
            time.sleep(0.2)
            dist.destroy_process_group()
