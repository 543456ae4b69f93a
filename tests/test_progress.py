"""Progress bars when standard error is a pipe (a log file): whole lines, throttled, no carriage returns, for funrl's
own bars and for the ones transformers' Trainer (TRL's trainers use it) and datasets draw."""

import os
import subprocess
import sys
import time

from funrl_lib.progress import line_progress


def _bar_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "%|" in line]


def test_a_funrl_command_into_a_pipe_writes_its_bar_as_one_final_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TQDM_", "FUNRL_PROGRESS"))}
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "funrl_lib", "pool", "--backend", "programmatic", "--n", "300",
                           "--seed", "0", "--out", str(tmp_path / "pool.jsonl")],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "\r" not in proc.stderr
    lines = _bar_lines(proc.stderr)
    # one line per 30 s of the bar's life at most, and its final state when it closes
    assert 1 <= len(lines) <= 1 + elapsed / 30, proc.stderr
    assert lines[-1].startswith("pool: 100%") and "300/300" in lines[-1]


# Draws the bars of transformers' Trainer (its ProgressCallback, fed a step every few milliseconds as training would),
# a datasets map and a bar of funrl's kind, into a pipe; prints how long the bars lived.
SCRIPT = r"""
import sys, time
from funrl_lib.progress import line_progress
assert line_progress()
from datasets import Dataset
from transformers import TrainerControl, TrainerState, TrainingArguments
from transformers.trainer_callback import ProgressCallback
from tqdm import tqdm
start = time.monotonic()
args = TrainingArguments(output_dir=sys.argv[1], report_to=[])
state, control, callback = TrainerState(max_steps=400), TrainerControl(), ProgressCallback()
callback.on_train_begin(args, state, control)
for step in range(1, 401):
    time.sleep(0.004)
    state.global_step = step
    callback.on_step_end(args, state, control)
    if step % 50 == 0:
        callback.on_log(args, state, control, logs={"loss": 1.0 / step})
callback.on_train_end(args, state, control)
Dataset.from_dict({"x": list(range(2000))}).map(lambda r: {"y": r["x"] + 1}, desc="Tokenizing")
for _ in tqdm(range(300), desc="dialogs", file=sys.stderr):
    time.sleep(0.002)
sys.stdout.write(f"{time.monotonic() - start}\n")
"""


def test_trainer_and_datasets_bars_into_a_pipe_are_throttled_whole_lines(tmp_path):
    interval = 0.25
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TQDM_")},
           "FUNRL_PROGRESS_INTERVAL": str(interval)}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    err = proc.stderr
    assert "\r" not in err
    lived = float(proc.stdout.strip().splitlines()[-1])
    lines = _bar_lines(err)
    training = [line for line in lines if "/400 [" in line]
    # the training bar lived more than 400 x 4 ms: a line every `interval` at most, the final one included
    assert 2 <= len(training) <= 1 + lived / interval, err
    assert training[-1].lstrip().startswith("100%") and "400/400" in training[-1]
    assert "{'loss': '0.02'}" in proc.stdout.splitlines()  # the Trainer's log lines (tqdm.write) still come out
    assert any(line.startswith("Tokenizing") and "2000/2000" in line for line in lines), err
    dialogs = [line for line in lines if line.startswith("dialogs:")]
    assert 1 <= len(dialogs) <= 1 + lived / interval and "300/300" in dialogs[-1]
    assert len(lines) <= 3 + 3 * lived / interval


def test_on_a_terminal_the_bars_are_left_alone():
    class Terminal:
        def isatty(self) -> bool:
            return True

    from tqdm import std
    before = std.tqdm.display
    assert line_progress(Terminal()) is False
    assert std.tqdm.display is before
