"""The ``funrl`` command line (also ``python -m funrl_lib``): every command's options and the call each one makes.

    funrl bfcl score --category CAT --results RESULT.jsonl [--out VERDICTS.jsonl] [--data-dir DIR]
    funrl bfcl generate --model PATH_OR_NAME --backend hf|vllm|openai --categories CAT[,...] --out DIR [--limit N]
    funrl bfcl evaluate --results DIR --out OUT [--label NAME] [--strip-think] [--data-dir DIR]
        (a model folder named *-FC is decoded FC style, as BFCL's QwenFCHandler; others prompt style)
    funrl bfcl info [--data-dir DIR]
    funrl decode [--format python|json|hermes|qwen_fc|openai|auto] [TEXT | -]
    funrl demo [--config configs/tiny-cpu.yaml] [--out outputs/demo] [--smoke] [--set KEY=VALUE ...] [--force]
    funrl tour [--out DIR]
    funrl pool --backend programmatic --n 2000 --seed 0 --out POOL.jsonl
    funrl dialogs --pool POOL.jsonl --n 5000 --seed 0 [--mix single=.3,...] --out DIALOGS.jsonl
    funrl verify --in FILE [--format auto|funrl|toolace|openai] --out KEPT.jsonl --rejected REJ.jsonl --report R.json
    funrl export --in KEPT.jsonl --to toolace|openai|bfcl|trl --out FILE [--dataset DIR]
    funrl sft --config configs/tiny-cpu.yaml [--set KEY=VALUE ...] [--force]
    funrl train --config configs/tiny-cpu.yaml [--mode grpo|egpo] [--set KEY=VALUE ...] [--force]
    funrl plot RUN_DIR [--out PNG]

One module per group of commands adds each command's options to its parser and binds its handler with
``set_defaults(func=...)``: :mod:`.bfcl` (``bfcl score / evaluate / generate / info``), :mod:`.synth` (``pool``,
``dialogs``), :mod:`.samples` (``verify``, ``export``), :mod:`.train` (``sft``, ``train``, ``plot``, ``study``,
``demo``) and :mod:`.calls` (``decode``, ``tour``). Adding options imports nothing heavy, and ``funrl X`` builds X's
alone (:func:`build_parser`); a handler imports the stage it runs when it runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from .. import __version__

# Each command's one-line help, for `funrl --help` and for the commands not being run: building a command's options
# imports the module that defines them, so `funrl X` builds X's alone (see build_parser).
COMMAND_HELP = {
    "bfcl": "BFCL v4: score result files, show the data in use",
    "decode": "decode model output into calls (JSON on stdout)",
    "pool": "synthesize the API pool (ToolACE tool self-evolution synthesis)",
    "dialogs": "generate dialogs from an API pool (ToolACE self-guided dialog generation)",
    "verify": "ToolACE's dual-layer verification (+ execution, lexical checks, FunRL's filter)",
    "export": "write samples as ToolACE, OpenAI messages, BFCL entries or TRL rows",
    "sft": "SFT warm start (TRL SFTTrainer) from a config",
    "train": "GRPO / EGPO (entropy-guided advantage) from a config",
    "plot": "training curves of a run (GRPO and EGPO overlaid when both exist)",
    "study": "the miniature GRPO-vs-EGPO study: SFT (or, with grpo.init=base, the base model), GRPO, EGPO per seed, "
             "evaluated on held-out APIs and BFCL; report with 95%% intervals",
    "demo": "the whole pipeline offline: API pool, dialogs, verification, SFT, GRPO and EGPO, held-out and BFCL "
            "evaluation; report.md + figures (resumable)",
    "tour": "a tour of the function-call core in seconds: decode, check, score BFCL gold and mutated answers",
}

# The module of this package whose add_<command>(parser) adds a command's options and binds its handler.
_MODULE = {"bfcl": "bfcl", "decode": "calls", "pool": "synth", "dialogs": "synth", "verify": "samples",
           "export": "samples", "sft": "train", "train": "train", "plot": "train", "study": "train", "demo": "train",
           "tour": "calls"}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``funrl`` parser. ``only``: a command name (or ``""`` for none) whose options alone are built; the other
    commands are listed with their one-line help (:data:`COMMAND_HELP`) and import nothing. ``None``: every
    command's options (which imports every command's module, torch-free)."""
    parser = argparse.ArgumentParser(prog="funrl", description="funrl: function-calling data synthesis (ToolACE), "
                                     "BFCL v4 scoring, GRPO / EGPO training. `funrl COMMAND --help` describes each.")
    parser.add_argument("--version", action="version", version=f"funrl {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                title="commands (funrl COMMAND --help for each)")
    for name, text in COMMAND_HELP.items():
        if only is None or only == name:
            module = importlib.import_module(f"{__name__}.{_MODULE[name]}")
            getattr(module, f"add_{name}")(sub.add_parser(name, help=text))
        else:
            sub.add_parser(name, help=text, add_help=False)
    _describe(parser)
    return parser


def _describe(parser: argparse.ArgumentParser) -> None:
    """Every (sub)command's ``--help`` opens with a description: its one-line help where it has no longer one."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, p in action.choices.items():
                if not p.description and helps.get(name):
                    p.description = helps[name].replace("%%", "%")
                _describe(p)


def _command_of(argv: Sequence[str]) -> str:
    """The command named in ``argv`` (its first word that is not an option), or "" when there is none (or it is not
    a command: argparse then lists them)."""
    word = next((a for a in argv if not a.startswith("-")), "")
    return word if word in COMMAND_HELP else ""


# The errors a command reports as `funrl: error: ...` (exit 2): (module, class). Looked up only in modules already
# imported (an error of a class can only come from a module that was imported), so main imports none of them.
_USER_ERRORS = (("funrl_lib.bfcl.data", "BFCLDataError"), ("funrl_lib.io", "InputError"),
                ("funrl_lib.train.config", "ConfigError"), ("funrl_lib.pipeline", "PipelineError"),
                ("funrl_lib.train.backend", "BackendError"))


def _is_user_error(e: BaseException) -> bool:
    classes = tuple(getattr(sys.modules[m], n) for m, n in _USER_ERRORS if m in sys.modules)
    return bool(classes) and isinstance(e, classes)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``funrl ARGV...``: the chosen command's handler (``args.func``); returns its exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(only=_command_of(argv)).parse_args(argv)
    from ..progress import line_progress
    line_progress()  # stderr not a terminal (a log file, a pipe): progress bars as a few whole lines
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("funrl: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if _is_user_error(e):
            print(f"funrl: error: {e}", file=sys.stderr)
            return 2
        raise
