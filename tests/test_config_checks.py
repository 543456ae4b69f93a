"""Config files (issue 17): a duplicate YAML key is an error naming both lines, and a value out of its range is refused
with FILE:LINE (or the --set that gave it) and the field, before any run starts."""

from __future__ import annotations

import re

import pytest

from funrl_lib.train.config import ConfigError, load_config


def test_a_duplicate_yaml_key_is_an_error_naming_both_lines(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: x\ngrpo:\n  learning_rate: 1.0e-6\n  beta: 0.001\n  learning_rate: 1.0e-3\n")
    with pytest.raises(ConfigError, match=rf"{p}:5: grpo.learning_rate: duplicate key \(first given at line 3\)"):
        load_config(p)
    p.write_text("name: x\nseed: 1\nname: y\n")
    with pytest.raises(ConfigError, match=rf"{p}:3: name: duplicate key"):
        load_config(p)


@pytest.mark.parametrize("field, value, must", [
    ("grpo.max_steps", -5, "-1 (train num_train_epochs) or > 0"), ("sft.max_steps", 0, "-1 (train"),
    ("grpo.learning_rate", 0, "> 0"), ("sft.learning_rate", -1.0e-4, "> 0"),
    ("grpo.num_generations", 1, ">= 2"), ("grpo.temperature", 0, "> 0"), ("grpo.top_p", 1.5, "in (0, 1]"),
    ("grpo.beta", -0.1, ">= 0"), ("sft.warmup_ratio", 1.5, "in [0, 1]"), ("grpo.per_device_train_batch_size", 0,
                                                                         ">= 1"),
    ("model.lora.dropout", 1.0, "in [0, 1)"), ("model.gpu_memory_utilization", 0, "in (0, 1]"),
    ("data.max_rows", 0, ">= 1"), ("model.tiny.hidden_size", 0, ">= 1"), ("grpo.save_steps", 0, ">= 1"),
])
def test_out_of_range_values_are_refused_naming_file_line_and_field(tmp_path, field, value, must):
    section, _, key = field.rpartition(".")
    parts = section.split(".")
    text = "name: x\n" + "".join("  " * i + f"{p}:\n" for i, p in enumerate(parts)) + "  " * len(parts) + \
        f"{key}: {value}\n"
    p = tmp_path / "c.yaml"
    p.write_text(text)
    line = len(parts) + 2
    with pytest.raises(ConfigError, match=re.escape(f"{p}:{line}: {field}: must be {must}")):
        load_config(p)
    with pytest.raises(ConfigError, match=re.escape(f"--set {field}={value!r}: must be {must}")):
        load_config(None, [f"{field}={value}"])


def test_in_range_values_and_the_trl_conventions_are_accepted():
    cfg = load_config(None, ["grpo.max_steps=-1", "sft.max_steps=10", "grpo.beta=0", "grpo.top_p=1",
                             "grpo.num_generations=2", "data.max_rows=null"])
    assert (cfg.grpo.max_steps, cfg.sft.max_steps, cfg.grpo.beta, cfg.data.max_rows) == (-1, 10, 0, None)
