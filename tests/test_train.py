"""Training: configs (paper values, errors with FILE:LINE), EGPO vs GRPO on a real TRL run, resume after a crash,
and `funrl sft` + `funrl train` end to end on the tiny model."""

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
trl = pytest.importorskip("trl")

from datasets import Dataset  # noqa: E402

from funrl_lib.cli import main  # noqa: E402
from funrl_lib.train.config import ConfigError, load_config  # noqa: E402
from funrl_lib.train.egpo import entropy_trainer_class  # noqa: E402
from funrl_lib.train.run import read_log  # noqa: E402
from funrl_lib.train.tiny import tiny_tokenizer  # noqa: E402

from tiny_models import thinking_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


# ---------------------------------------------------------------------------------------------------------------
# Configs
# ---------------------------------------------------------------------------------------------------------------

def test_every_shipped_config_is_tested():
    assert {p.name for p in CONFIGS.glob("*.yaml")} == set(SHIPPED)


SHIPPED = ["tiny-cpu.yaml", "qwen2.5-coder-7b-unsloth.yaml", "qwen2.5-1.5b-colab-t4.yaml", "qwen2.5-coder-0.5b-cpu.yaml"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_configs_load(name):
    cfg = load_config(CONFIGS / name)
    # the paper's T 0.7, except the 0.5B CPU recipe, whose SFT'd model barely explores at 0.7 (its comments)
    assert cfg.grpo.temperature == (1.0 if name == "qwen2.5-coder-0.5b-cpu.yaml" else 0.7) and cfg.grpo.beta == 0.001
    assert cfg.egpo.entropy_lambda == 0.4 and cfg.egpo.entropy_alpha == 2.0 and cfg.egpo.advantage_mode == "egpo"
    # TRL generates per_device x gradient_accumulation completions at once (steps_per_generation defaults to the
    # accumulation): whole groups of num_generations
    g = cfg.grpo
    assert (g.per_device_train_batch_size * g.gradient_accumulation_steps) % g.num_generations == 0


def test_paper_recipe_values():
    cfg = load_config(CONFIGS / "qwen2.5-coder-7b-unsloth.yaml")
    assert cfg.model.backend == "unsloth" and cfg.model.name_or_path == "Qwen/Qwen2.5-Coder-7B-Instruct"
    g = cfg.grpo
    assert (g.learning_rate, g.temperature, g.num_generations, g.beta, g.num_train_epochs) == (1e-6, 0.7, 8, 0.001, 5)


def test_real_model_cpu_recipe_is_the_papers_rl_after_a_short_format_warm_start():
    # the paper's beta and temperature with LoRA; the 0.5B gets a short SFT on the format first (the recipe says why),
    # far shorter than one epoch, so that RL has reward variance to learn from
    cfg = load_config(CONFIGS / "qwen2.5-coder-0.5b-cpu.yaml")
    assert cfg.model.backend == "peft" and cfg.model.name_or_path.endswith(".gguf") and cfg.model.lora.enabled
    assert cfg.grpo.init == "sft" and 0 < cfg.sft.max_steps * cfg.sft.per_device_train_batch_size <= 100
    assert cfg.grpo.beta == 0.001 and cfg.grpo.num_generations == 8  # the paper's
    assert cfg.data.holdout_by == "api" and cfg.device == "cpu"
    assert cfg.grpo.save_steps <= 5 and cfg.report_to == ["none"]


def test_config_errors_name_file_line_and_field(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: x\ngrpo:\n  learning_rate: 1e-6\n  num_generatons: 8\n")
    with pytest.raises(ConfigError, match=rf"{p}:4: grpo.num_generatons: unknown field"):
        load_config(p)
    p.write_text("grpo:\n  max_steps: ten\n")
    with pytest.raises(ConfigError, match=rf"{p}:2: grpo.max_steps: expected int, got 'ten'"):
        load_config(p)
    p.write_text("egpo:\n  entropy_alpha: 0.5\n")
    with pytest.raises(ConfigError, match=rf"{p}:1: egpo: entropy_alpha must be > 1"):
        load_config(p)
    p.write_text("grpo: [1, 2\n")
    with pytest.raises(ConfigError, match=rf"{p}:\d+: not valid YAML"):
        load_config(p)


def test_overrides_and_defaults(tmp_path):
    cfg = load_config(CONFIGS / "tiny-cpu.yaml", ["grpo.max_steps=3", "report_to=[tensorboard]",
                                                  f"output_dir={tmp_path}"])
    assert cfg.grpo.max_steps == 3 and cfg.report_to == ["tensorboard"] and cfg.run_dir == tmp_path
    assert cfg.grpo.learning_rate == 5e-6  # '5.0e-6' in YAML is a float, not a string
    assert load_config(None).model.backend == "tiny"
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_config(None, ["grpo.max_steps"])
    with pytest.raises(ConfigError, match="model.lora.rank: unknown field"):
        load_config(None, ["model.lora.rank=8"])


# ---------------------------------------------------------------------------------------------------------------
# EGPO vs GRPO: same seed and data, a different loss
# ---------------------------------------------------------------------------------------------------------------

def parity_reward(completions, **kwargs):
    """Mixed rewards inside every group, whatever the policy writes: 1 for an even number of characters."""
    texts = [c[0]["content"] if isinstance(c, list) else c for c in completions]
    return [float(len(t) % 2 == 0) for t in texts]


@pytest.mark.slow
def test_egpo_changes_the_loss_against_grpo(tmp_path):
    model, tokenizer = thinking_model()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    data = Dataset.from_list([{"prompt": [{"role": "user", "content": "hi there"}]}] * 8)
    logs = {}
    for mode, source in (("grpo", "auto"), ("egpo", "auto"), ("egpo-forward", "forward")):
        model.load_state_dict(state)
        args = trl.GRPOConfig(output_dir=str(tmp_path / mode), use_cpu=True, bf16=False, per_device_train_batch_size=8,
                              num_generations=8, max_completion_length=16, max_steps=2, logging_steps=1,
                              report_to="none", save_strategy="no", temperature=1.2, seed=0, learning_rate=1e-3,
                              beta=0.0, loss_type="grpo")  # no reference model for an in-memory one
        trainer = entropy_trainer_class()(model=model, reward_funcs=[parity_reward], args=args, train_dataset=data,
                                          processing_class=tokenizer,
                                          egpo={"advantage_mode": mode.split("-")[0], "entropy_source": source})
        assert trainer._egpo_loss_pass() == (source == "auto")  # TRL's own loss: E from its loss forward
        trainer.train()
        logs[mode] = [e for e in trainer.state.log_history if "loss" in e and "reward" in e]
    grpo, egpo = logs["grpo"], logs["egpo"]
    assert len(grpo) == len(egpo) == 2
    # step 1: identical rollouts (same seed and weights), so the same rewards and the same measured CoT entropy ...
    assert grpo[0]["reward"] == egpo[0]["reward"] and 0 < grpo[0]["reward"] < 1
    assert grpo[0]["egpo/cot_entropy"] == pytest.approx(egpo[0]["egpo/cot_entropy"], rel=1e-5)
    assert egpo[0]["egpo/no_think_frac"] < 1
    # the group's rollouts came from one shared prefill of its prompt, and generation was timed
    assert grpo[0]["rollouts/shared_prefill"] == 1 and grpo[0]["rollouts/tokens_per_s"] > 0
    # ... but only EGPO adds the bonus, which raises every advantage with a think span: the loss goes down
    assert grpo[0]["egpo/bonus"] == 0 and egpo[0]["egpo/bonus"] > 0
    assert egpo[0]["loss"] < grpo[0]["loss"] - 1e-4
    # E taken from TRL's loss forward (no extra pass) = E from a separate no-grad pass, through TRL's shuffle and split
    fwd = logs["egpo-forward"][0]
    for key in ("egpo/cot_entropy", "egpo/bonus", "egpo/capped_frac", "loss"):
        assert egpo[0][key] == pytest.approx(fwd[key], rel=1e-4, abs=1e-6), key


# ---------------------------------------------------------------------------------------------------------------
# The commands on the tiny model
# ---------------------------------------------------------------------------------------------------------------

SMOKE = ["model.tiny.corpus_dialogs=120", "model.tiny.vocab_size=600", "model.tiny.hidden_size=32",
         "model.tiny.intermediate_size=64", "model.tiny.num_hidden_layers=1", "model.tiny.num_attention_heads=2",
         "model.tiny.num_key_value_heads=1", "data.synth_apis=40", "data.synth_dialogs=40", "sft.max_steps=4",
         "sft.save_steps=2", "sft.logging_steps=1", "grpo.max_steps=2", "grpo.num_generations=4",
         "grpo.per_device_train_batch_size=4", "grpo.max_completion_length=12", "grpo.save_steps=1"]


def _cli(command, run_dir, *extra):
    args = [command, "--config", str(CONFIGS / "tiny-cpu.yaml"), "--output-dir", str(run_dir)]
    for s in SMOKE:
        args += ["--set", s]
    return main(args + list(extra))


class Crash(Exception):
    pass


@pytest.mark.slow
def test_sft_resumes_after_a_crash(tmp_path):
    from transformers import TrainerCallback

    from funrl_lib.train.run import run_sft

    class CrashInStep4(TrainerCallback):  # after step 4's update, before it is logged or saved
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 4:
                raise Crash()

    cfg = load_config(CONFIGS / "tiny-cpu.yaml", SMOKE + [f"output_dir={tmp_path}", "sft.max_steps=5"])
    with pytest.raises(Crash):
        run_sft(cfg, callbacks=[CrashInStep4()])
    sft = tmp_path / "sft"
    assert (sft / "checkpoint-2").exists() and not (sft / "checkpoint-4").exists() and not (sft / "final").exists()
    assert [e["step"] for e in read_log(sft / "log.jsonl") if "loss" in e] == [1, 2, 3]
    final = run_sft(cfg)  # the same command again
    assert json.loads((final / "done.json").read_text())["global_step"] == 5
    steps = [e["step"] for e in read_log(sft / "log.jsonl") if "loss" in e]
    assert steps == [1, 2, 3, 4, 5]  # step 3 was redone from checkpoint-2 and is logged once
    state = json.loads((sft / "checkpoint-4" / "trainer_state.json").read_text())
    assert [e["step"] for e in state["log_history"] if "loss" in e] == [1, 2, 3, 4]


@pytest.mark.slow
def test_sft_then_train_both_modes_from_the_cli(tmp_path, capsys):
    assert _cli("sft", tmp_path) == 0
    assert _cli("train", tmp_path, "--mode", "grpo") == 0
    assert _cli("train", tmp_path) == 0  # the config's mode: egpo
    for mode in ("grpo", "egpo"):
        done = json.loads((tmp_path / mode / "final" / "done.json").read_text())
        assert done["global_step"] == 2 and done["mode"] == mode and done["init"] == str(tmp_path / "sft" / "final")
        log = [e for e in read_log(tmp_path / mode / "log.jsonl") if "reward" in e]
        assert len(log) == 2 and all("egpo/cot_entropy" in e and "kl" in e for e in log)
    assert (tmp_path / "data" / "train.jsonl").exists() and (tmp_path / "config.yaml").exists()
    capsys.readouterr()
    assert _cli("train", tmp_path, "--mode", "grpo") == 0  # finished: not redone
    assert "already finished" in capsys.readouterr().out
    assert main(["plot", str(tmp_path)]) == 0 and (tmp_path / "training.png").stat().st_size > 10_000


def test_cli_reports_config_errors(tmp_path, capsys):
    bad = tmp_path / "c.yaml"
    bad.write_text("grpo:\n  temprature: 0.7\n")
    assert main(["train", "--config", str(bad)]) == 2
    assert f"{bad}:2: grpo.temprature: unknown field" in capsys.readouterr().err


def test_cli_names_a_missing_logger_before_any_work(tmp_path, capsys):
    import importlib.util
    if importlib.util.find_spec("wandb") is not None:
        pytest.skip("wandb is installed here")
    assert main(["train", "--output-dir", str(tmp_path), "--set", "report_to=[wandb]"]) == 2
    assert "report_to: 'wandb' needs `pip install wandb`" in capsys.readouterr().err
    assert not (tmp_path / "tiny-model").exists()


# ---------------------------------------------------------------------------------------------------------------
# Training rows
# ---------------------------------------------------------------------------------------------------------------

def test_rows_from_files_split_by_dialog(tmp_path):
    from funrl_lib.synth.api_pool import build_pool
    from funrl_lib.synth.dialogs import generate_dialogs
    from funrl_lib.synth.export import write_export
    from funrl_lib.synth.io import InputError, write_jsonl
    from funrl_lib.train.data import dialog_id, prepare_rows

    dialogs = generate_dialogs(build_pool(60, seed=0, progress=False), 60, seed=0, progress=False)
    write_jsonl(tmp_path / "dialogs.jsonl", [d.to_dict() for d in dialogs])
    write_export(dialogs, "trl", str(tmp_path / "trl.jsonl"))
    tokenizer = tiny_tokenizer(["<think>a</think>", "hello world"] * 5, vocab_size=280)
    results = {}
    for name in ("dialogs.jsonl", "trl.jsonl"):  # dialogs are exported to TRL rows on the way in
        cfg = load_config(None, [f"data.train={tmp_path / name}", f"output_dir={tmp_path / name}-run",
                                 "data.holdout_fraction=0.3", "data.types=[single, multiple, multi_turn]"])
        train, held, counts = prepare_rows(cfg, tokenizer)
        results[name] = (train, held)
        assert {r["type"] for r in train + held} <= {"single", "multiple", "multi_turn"}
        assert held and train and counts["train"] == len(train)
        # every decision turn of a dialog is on the same side
        assert not {dialog_id(r["id"]) for r in train} & {dialog_id(r["id"]) for r in held}
        assert (cfg.run_dir / "data" / "heldout.jsonl").exists()
    assert results["dialogs.jsonl"] == results["trl.jsonl"]

    bad = tmp_path / "bad.jsonl"
    bad.write_text((tmp_path / "trl.jsonl").read_text().splitlines()[0] + "\n{not json\n")
    cfg = load_config(None, [f"data.train={bad}", f"output_dir={tmp_path / 'bad-run'}"])
    with pytest.raises(InputError, match=rf"{bad}:2"):
        prepare_rows(cfg, tokenizer)


def test_rows_split_by_api_keep_held_out_apis_out_of_training(tmp_path):
    from funrl_lib.train.data import held_out_apis, prepare_rows

    tokenizer = tiny_tokenizer(["<think>a</think>", "hello world"] * 5, vocab_size=280)
    cfg = load_config(None, [f"output_dir={tmp_path}", "data.synth_apis=80", "data.synth_dialogs=120",
                             "data.holdout_by=api", "data.holdout_fraction=0.1"])
    train, held, _ = prepare_rows(cfg, tokenizer)
    unseen = held_out_apis(train + held, 0.1, seed=0)
    names = lambda r: {t["name"] for t in json.loads(r["tools"])}  # noqa: E731
    assert unseen and train and held
    assert not any(names(r) & unseen for r in train)  # training never offers a held-out API
    assert all(names(r) & unseen for r in held)
    with pytest.raises(ConfigError, match="data: holdout_by must be 'dialog' or 'api'"):
        load_config(None, ["data.holdout_by=sample"])


def test_synthesized_training_rows_are_verified_first(tmp_path, monkeypatch):
    """data.train null: the dialogs made for the run go through the verifier, and a dialog it rejects never becomes
    a training row (ToolACE trains on verified data only)."""
    from funrl_lib.synth import dialogs as dialogs_mod
    from funrl_lib.synth.corrupt import corrupt_samples, pool_executor
    from funrl_lib.train.data import dialog_id, prepare_rows

    real = dialogs_mod.generate_dialogs
    damaged: set[str] = set()

    def noisy(pool, n, **kwargs):  # the generator makes the defects an LLM makes, in half of the dialogs
        out = corrupt_samples(real(pool, n, **kwargs), 0.5, seed=1, executor=pool_executor(pool))
        damaged.update(s.id for s, kind in out if kind)
        return [s for s, _ in out]

    monkeypatch.setattr(dialogs_mod, "generate_dialogs", noisy)
    tokenizer = tiny_tokenizer(["<think>a</think>", "hello world"] * 5, vocab_size=280)
    cfg = load_config(None, [f"output_dir={tmp_path}", "data.synth_apis=60", "data.synth_dialogs=80",
                             "data.holdout_fraction=0.1", "data.max_prompt_tokens=null", "data.types=null"])
    train, held, counts = prepare_rows(cfg, tokenizer)
    assert damaged and counts["synthesized"] == 80 and counts["rejected_by_verification"] >= len(damaged) // 2
    used = {dialog_id(r["id"]) for r in train + held}
    assert used and not used & damaged  # nothing the verifier rejected is trained on or evaluated
