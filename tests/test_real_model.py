"""Opt-in: the real model (Qwen2.5-Coder-0.5B-Instruct) through funrl's own code paths, on CPU in float32.

Skipped unless ``FUNRL_REAL_MODEL`` names the model: a folder holding ``model.gguf`` (with or without its converted
``model.hf/`` beside it), a GGUF file, a converted or downloaded model folder, or anything else
:func:`funrl_lib.model_source.resolve_model` takes (a Hub id, where there is network). Minutes on a 2-core CPU and a
few GB of memory::

    FUNRL_REAL_MODEL=outputs/models/qwen2.5-coder-0.5b nice -n 10 .venv/bin/pytest -m real_model tests/test_real_model.py

It checks that the model answers a BFCL v4 ``simple_python`` entry zero-shot with a ``<tool_call>`` for the right
function, decoded and scored as ``funrl bfcl evaluate`` does for ``-FC`` result folders, stopping at its end of turn;
and that one GRPO step and one EGPO step with LoRA (r 8) run through ``funrl train``'s code path
(:func:`funrl_lib.train.run.run_train`) on programmatically synthesized rows. Verdicts and timings are printed (shown
without ``-s``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

ENV = "FUNRL_REAL_MODEL"
ENTRY = "simple_python_0"  # "area of a triangle with a base of 10 units and height of 5 units": one call, two ints
MAX_NEW_TOKENS = 128

pytestmark = [pytest.mark.real_model,
              pytest.mark.skipif(not os.environ.get(ENV), reason=f"opt-in: set {ENV}=DIR (a folder holding "
                                 "model.gguf, a GGUF file or any model spec) to run the real-model checks")]


@pytest.fixture(scope="module")
def real_model() -> str:
    """What ``from_pretrained`` loads for ``$FUNRL_REAL_MODEL`` (a GGUF is converted once, beside the file; the
    conversion's own messages go to stderr, shown with -s)."""
    from funrl_lib.model_source import resolve_model

    spec = os.environ[ENV]
    folder = Path(spec).expanduser()
    # a folder with model.gguf and other .gguf files: model.gguf is the one meant (README, "A real model")
    gguf_file = ("model.gguf" if folder.is_dir() and (folder / "model.gguf").is_file()
                 and not (folder / "config.json").exists() else None)
    start = time.time()
    resolved = resolve_model(spec, gguf_file)
    RESOLVED.append(f"{ENV}={spec}: {resolved.kind} -> {resolved.path} (resolved in {time.time() - start:.1f} s)")
    return resolved.path


RESOLVED: list[str] = []


def report(capsys, message: str) -> None:
    """Print past pytest's output capture, so the verdict and timings show without -s."""
    with capsys.disabled():
        for line in RESOLVED + [message]:
            print(f"\n[real model] {line}", flush=True)
    RESOLVED.clear()


def test_real_model_calls_the_right_bfcl_function_zero_shot(real_model, capsys):
    from funrl_lib.bfcl.checker import score_entry
    from funrl_lib.bfcl.data import load_category
    from funrl_lib.bfcl.generate import HFGenerator, build_messages
    from funrl_lib.calls import decode_qwen_fc, qwen_fc_response

    entry = load_category("simple_python")[ENTRY]
    expected = [next(iter(answer)) for answer in entry.possible_answer]

    start = time.time()
    generator = HFGenerator.from_pretrained(real_model, dtype="float32", device="cpu", temperature=0.0,
                                            max_new_tokens=MAX_NEW_TOKENS)
    loaded = time.time() - start
    assert generator.greedy and str(generator.model.dtype) == "torch.float32"

    messages, tools = build_messages(entry, "fc")  # BFCL's FC mode: the question, tools through the chat template
    prompt = generator.prompt(messages, tools)  # refuses a template that ignores tools=
    assert expected[0] in prompt.text
    start = time.time()
    (reply,) = generator.generate([prompt])
    generated = time.time() - start

    verdict = score_entry(entry, reply.text, fc=True)  # as `funrl bfcl evaluate` scores an -FC folder
    calls = decode_qwen_fc(qwen_fc_response(reply.text)) if reply.text is not None else []
    report(capsys, f"{ENTRY}: load {loaded:.1f} s, generate {generated:.1f} s ({reply.input_tokens} prompt tokens, "
           f"{reply.output_tokens} new)\n  reply: {reply.text!r}\n  calls: {[c.to_bfcl() for c in calls]}\n"
           f"  verdict: {verdict.to_json()}")
    assert reply.text is not None, reply.error
    assert calls, f"no <tool_call> decoded from {reply.text!r}"
    assert calls[0].name == expected[0], verdict.to_json()
    # the converted tokenizer ends the turn at <|im_end|>: generation stops there, not at the length limit
    assert reply.output_tokens < MAX_NEW_TOKENS


def test_real_model_one_grpo_step_and_one_egpo_step(real_model, tmp_path, capsys):
    from funrl_lib.train.config import load_config
    from funrl_lib.train.run import read_log, run_train

    settings = [
        "name=real-model-smoke", f"output_dir={tmp_path}", "device=cpu", "report_to=[none]",
        "model.backend=peft", f"model.name_or_path={real_model}", "model.dtype=float32",
        "model.lora.r=8", "model.lora.alpha=16",
        # 3 training rows with these settings and Qwen's tokenizer: one prompt per step is all a step needs
        "data.synth_apis=60", "data.synth_dialogs=40", "data.synth_complexity=easy=1", "data.types=[single]",
        "data.max_prompt_tokens=900",
        "grpo.init=base", "grpo.max_steps=1", "grpo.num_generations=2", "grpo.per_device_train_batch_size=2",
        "grpo.max_completion_length=32", "grpo.logging_steps=1",
    ]
    timings = {}
    for mode in ("grpo", "egpo"):
        cfg = load_config(None, settings + [f"egpo.advantage_mode={mode}"])
        assert cfg.model.lora.r == 8 and cfg.grpo.max_steps == 1 and cfg.egpo.advantage_mode == mode
        start = time.time()
        final = run_train(cfg)
        timings[mode] = time.time() - start
        assert final == tmp_path / mode / "final"
        done = json.loads((final / "done.json").read_text())
        assert done["global_step"] == 1 and done["mode"] == mode and done["init"] is None
        assert (final / "adapter_config.json").exists()  # LoRA: the adapter is what is saved
        log = read_log(tmp_path / mode / "log.jsonl")
        steps = [e for e in log if "egpo/cot_entropy" in e]
        assert len(steps) == 1 and steps[0]["step"] == 1, log
        step = steps[0]
        metrics = {k: v for k, v in step.items() if k.startswith("egpo/")}
        assert {"egpo/cot_entropy", "egpo/bonus"} <= set(metrics) and "reward" in step
        if mode == "grpo":
            assert metrics["egpo/bonus"] == 0  # GRPO logs the entropy but adds no bonus
        report(capsys, f"{mode.upper()} step: {timings[mode]:.1f} s (load, data, 1 step, save); reward "
               f"{step.get('reward')}, loss {step.get('loss')}, {json.dumps(metrics)}")
    data = json.loads((tmp_path / "data" / "rows.json").read_text())["counts"]
    report(capsys, f"rows: {data}; total {sum(timings.values()):.1f} s")
