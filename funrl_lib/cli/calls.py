"""``funrl decode`` and ``funrl tour``, the commands of the function-call core: their options and handlers (decoding
with :mod:`funrl_lib.calls`, the tour in :mod:`funrl_lib.tour`, each imported when its command runs)."""

from __future__ import annotations

import argparse
import json
import sys

from .bfcl import add_data_dir


def add_decode(p: argparse.ArgumentParser) -> None:
    p.add_argument("text", nargs="?", default="-", help="the output to decode, or - for standard input")
    p.add_argument("--format", default="python", choices=["python", "json", "hermes", "qwen_fc", "openai", "auto"])
    p.add_argument("--known-name", action="append", default=[],
                   help="a tool name that is not a Python identifier (e.g. 'Market Trends API'); repeatable")
    p.set_defaults(func=run_decode)


def run_decode(args: argparse.Namespace) -> int:
    """``funrl decode``: the calls as a JSON list on stdout (0), or why the text does not decode (1)."""
    from ..calls import DecodeError, decode_calls

    text = sys.stdin.read() if args.text == "-" else args.text
    try:
        calls = decode_calls(text, args.format, known_names=args.known_name)
    except DecodeError as e:
        print(f"funrl: cannot decode: {e}", file=sys.stderr)
        return 1
    print(json.dumps([{"name": c.name, "arguments": c.arguments} for c in calls], ensure_ascii=False, default=repr))
    return 0


def add_tour(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="outputs/tour", help="folder for the tour's files (default: outputs/tour)")
    add_data_dir(p)
    p.set_defaults(func=run_tour)


def run_tour(args: argparse.Namespace) -> int:
    from ..tour import run_tour as tour

    return tour(args.out, data_dir=args.data_dir)
