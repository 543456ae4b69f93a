"""Commands that neither train nor generate with a model import no torch, transformers, TRL, PEFT or datasets (each
is checked in a fresh process on tiny inputs); every command and subcommand has a ``--help`` description; the
one-line helps `funrl --help` lists without building each command equal the commands' own."""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from funrl_lib.bfcl.data import load_category
from funrl_lib.bfcl.mutations import mutations
from funrl_lib.cli import COMMAND_HELP, build_parser

HEAVY = {"torch", "transformers", "trl", "peft", "datasets", "accelerate", "unsloth"}

# Runs `funrl ARGS...` in this process, then writes the top-level names of the heavy modules that were imported
# (sys.modules) to $FUNRL_TEST_MODULES; the command's own exit status is passed on.
RUNNER = """
import json, os, sys
sys.argv = ["funrl", *sys.argv[1:]]
from funrl_lib.cli import main
try:
    rc = main()
except SystemExit as e:
    rc = e.code
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(os.environ["FUNRL_TEST_HEAVY"])))
with open(os.environ["FUNRL_TEST_MODULES"], "w") as f:
    json.dump(heavy, f)
sys.exit(rc)
"""


def _run(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    report = tmp_path / "modules.json"
    report.unlink(missing_ok=True)
    env = {**os.environ, "FUNRL_TEST_MODULES": str(report), "FUNRL_TEST_HEAVY": json.dumps(sorted(HEAVY))}
    proc = subprocess.run([sys.executable, "-c", RUNNER, *args], capture_output=True, text=True, env=env,
                          cwd=tmp_path)
    assert report.exists(), proc.stderr
    return proc, json.loads(report.read_text())


def test_commands_that_do_not_train_import_no_training_stack(tmp_path):
    pool, dialogs = tmp_path / "pool.jsonl", tmp_path / "dialogs.jsonl"
    entries = list(load_category("simple_python").values())[:3]
    results = tmp_path / "results" / "my-model" / "non_live" / "BFCL_v4_simple_python_result.json"
    results.parent.mkdir(parents=True)
    results.write_text("".join(json.dumps({"id": e.id, "result": dict(mutations(e))["gold"]}) + "\n"
                               for e in entries))
    commands = [
        ["--help"],
        ["--version"],
        ["verify", "--help"],
        ["pool", "--backend", "programmatic", "--n", "30", "--seed", "0", "--out", str(pool), "--no-progress"],
        ["dialogs", "--pool", str(pool), "--n", "12", "--out", str(dialogs), "--no-progress"],
        ["verify", "--in", str(dialogs), "--pool", str(pool), "--out", str(tmp_path / "kept.jsonl"),
         "--rejected", str(tmp_path / "rejected.jsonl"), "--report", str(tmp_path / "report.json"), "--no-progress"],
        ["export", "--in", str(tmp_path / "kept.jsonl"), "--to", "trl", "--out", str(tmp_path / "trl.jsonl")],
        ["bfcl", "evaluate", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "bfcl")],
        ["bfcl", "score", "--category", "simple_python", "--results", str(results)],
        ["decode", "[f(x=1)]"],
        ["train", "--set", "grpo.foo=1"],  # a config error: reported before anything is loaded
    ]
    for args in commands:
        proc, heavy = _run(tmp_path, *args)
        expected_rc = 2 if args[0] == "train" else 0
        assert proc.returncode == expected_rc, (args, proc.stderr[-2000:])
        assert heavy == [], f"funrl {' '.join(args[:2])} imported {heavy}"
    assert (tmp_path / "bfcl" / "summary.json").exists() and (tmp_path / "trl.jsonl").stat().st_size > 0


def test_a_bad_set_names_the_flag_not_the_config_file(tmp_path):
    proc, heavy = _run(tmp_path, "train", "--config", str(Path(__file__).parents[1] / "configs" / "tiny-cpu.yaml"),
                       "--set", "grpo.foo=1")
    assert proc.returncode == 2 and heavy == []
    assert "funrl: error: --set grpo.foo=1: grpo.foo: unknown field" in proc.stderr
    assert "tiny-cpu.yaml" not in proc.stderr


def _subcommands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield path + (name,), sub, helps.get(name)
                yield from _subcommands(sub, path + (name,))


def test_every_command_and_subcommand_has_a_help_description():
    found = list(_subcommands(build_parser()))
    assert {p[0] for p, _, _ in found} == set(COMMAND_HELP)
    for path, sub, text in found:
        assert sub.description and sub.description.strip(), f"funrl {' '.join(path)} --help has no description"
        assert text, f"funrl {' '.join(path)} has no line in its parent's --help"


def test_every_command_binds_its_handler():
    """main runs ``args.func``: each command (each ``bfcl`` subcommand) binds its handler with set_defaults."""
    for path, sub, _ in _subcommands(build_parser()):
        if not any(isinstance(a, argparse._SubParsersAction) for a in sub._actions):
            assert callable(sub.get_default("func")), f"funrl {' '.join(path)} binds no handler"


def test_the_short_listing_matches_the_commands_own_help():
    full = {p[0]: text for p, _, text in _subcommands(build_parser()) if len(p) == 1}
    assert full == COMMAND_HELP
    short = {p[0]: text for p, _, text in _subcommands(build_parser(only="")) if len(p) == 1}
    assert short == COMMAND_HELP


@pytest.mark.parametrize("command", sorted(COMMAND_HELP))
def test_a_command_built_alone_parses_as_in_the_full_parser(command):
    """``funrl X`` builds X's options alone; they are the full parser's."""
    def options(parser):
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
        return sorted(tuple(a.option_strings) or (a.dest,) for a in sub._actions)
    assert options(build_parser(only=command)) == options(build_parser())
