"""Exports of verified samples: ToolACE, OpenAI messages, BFCL-style entries and TRL-ready rows.

Every exporter turns one :class:`~funrl_lib.synth.sample.Sample` into one or more plain dict rows, written as JSONL
(:func:`write_export`) or as a ``datasets.Dataset`` (:func:`to_dataset`).

``bfcl`` and ``trl`` make one row per *decision turn* (every assistant call turn, and the first assistant turn after
each user turn, so refusals and clarifying questions are targets too), with the dialog before it as context:

- ``bfcl``: ``{"id", "question": [[messages]], "function": [tools], "ground_truth": <BFCL possible answer>,
  "category"}``. ``ground_truth`` is ``[]`` when the right answer is not to call (``category`` ``irrelevance``).
- ``trl``: ``{"id", "prompt": [chat messages], "completion": [assistant message], "tools": "<JSON>",
  "ground_truth": "<JSON>", "category", "type"}``. ``prompt`` opens with the FunRL system prompt (tools as JSON,
  think-then-call instructions); ``completion`` is the reference ``<think>…</think>`` + answer, for SFT warm starts
  with TRL's ``SFTTrainer``; ``tools`` and ``ground_truth`` are JSON strings, the columns
  :mod:`funrl_lib.rewards` reads (strings because Arrow would otherwise merge every tool's keys into every other).
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterable, Iterator, Sequence

from ..answers import infer_category, possible_answer_from_calls
from ..calls import render_completion
from ..io import write_jsonl
from ..prompts import funrl_system_prompt
from ..tools import ToolDef
from .sample import Message, Sample, render_toolace_calls

__all__ = ["EXPORT_FORMATS", "export_rows", "iter_export_rows", "to_bfcl", "to_dataset", "to_openai", "to_toolace",
           "to_trl", "write_export"]


def to_toolace(sample: Sample) -> list[dict[str, Any]]:
    return [sample.to_toolace()]


def to_openai(sample: Sample) -> list[dict[str, Any]]:
    return [sample.to_openai()]


def _history(messages: Sequence[Message], *, tool_role: str = "tool") -> list[dict[str, str]]:
    """Earlier turns as chat messages: assistant calls as the call list they would be written as, tool output as
    its JSON text."""
    out = []
    for m in messages:
        if m.role == "user":
            out.append({"role": "user", "content": m.content})
        elif m.role == "assistant":
            text = render_toolace_calls(m.calls) if m.calls else (m.raw if m.raw is not None else m.content)
            out.append({"role": "assistant", "content": text})
        else:
            text = json.dumps(m.results, ensure_ascii=False) if m.results is not None else (m.raw or "")
            out.append({"role": tool_role, "content": text})
    return out


def _target_id(sample: Sample, k: int) -> Any:
    return sample.id if k == 0 else f"{sample.id}-t{k}"


def _ground_truth(sample: Sample, m: Message, tools: list[ToolDef]) -> list:
    return possible_answer_from_calls(m.calls, tools) if m.calls else []


def to_bfcl(sample: Sample) -> list[dict[str, Any]]:
    tools = sample.tool_defs()
    rows = []
    for k, i in enumerate(sample.decision_turns()):
        m = sample.messages[i]
        gt = _ground_truth(sample, m, tools)
        rows.append({"id": _target_id(sample, k), "question": [_history(sample.messages[:i])],
                     "function": [t.to_bfcl() for t in tools], "ground_truth": gt, "category": infer_category(gt)})
    return rows


def to_trl(sample: Sample, *, tool_role: str = "tool") -> list[dict[str, Any]]:
    tools = sample.tool_defs()
    dicts = [t.to_dict() for t in tools]  # parsed, not as read: a tool given as a JSON string is written as its object
    system = {"role": "system", "content": funrl_system_prompt(dicts)}
    tools_json = json.dumps(dicts, ensure_ascii=False)
    rows = []
    for k, i in enumerate(sample.decision_turns()):
        m = sample.messages[i]
        gt = _ground_truth(sample, m, tools)
        thought = m.think or ""
        answer = render_toolace_calls(m.calls) if m.calls else m.content
        rows.append({"id": _target_id(sample, k),
                     "prompt": [system] + _history(sample.messages[:i], tool_role=tool_role),
                     "completion": [{"role": "assistant", "content": render_completion(thought, None, text=answer)}],
                     "tools": tools_json, "ground_truth": json.dumps(gt, ensure_ascii=False),
                     "category": infer_category(gt), "type": sample.type or ""})
    return rows


EXPORT_FORMATS: dict[str, Callable[[Sample], list[dict[str, Any]]]] = {
    "toolace": to_toolace, "openai": to_openai, "bfcl": to_bfcl, "trl": to_trl}


def iter_export_rows(samples: Iterable[Sample], fmt: str) -> Iterator[dict[str, Any]]:
    """The rows of ``fmt``, one sample at a time (for writing a file of any size in constant memory)."""
    try:
        convert = EXPORT_FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(EXPORT_FORMATS)}") from None
    for s in samples:
        yield from convert(s)


def export_rows(samples: Iterable[Sample], fmt: str) -> list[dict[str, Any]]:
    if fmt not in EXPORT_FORMATS:  # raised here, not when the rows are first read
        raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(EXPORT_FORMATS)}")
    return list(iter_export_rows(samples, fmt))


def write_export(samples: Iterable[Sample], fmt: str, path: str) -> int:
    """Write the rows of ``fmt`` as JSONL (atomically); returns the row count."""
    return write_jsonl(path, export_rows(samples, fmt))


# Fields whose values differ in shape from row to row; a Dataset stores them as JSON text.
_JSON_COLUMNS = {"toolace": (), "openai": ("messages", "tools"), "bfcl": ("question", "function", "ground_truth"),
                 "trl": ()}


def to_dataset(samples: Iterable[Sample], fmt: str = "trl"):
    """The rows of ``fmt`` as a ``datasets.Dataset``. Heterogeneous fields (tool schemas, BFCL answers, OpenAI
    messages) are JSON strings, so Arrow does not invent a merged schema; ``trl`` rows already are."""
    from datasets import Dataset

    rows = export_rows(samples, fmt)
    json_cols = _JSON_COLUMNS[fmt]
    for row in rows:
        for col in json_cols:
            row[col] = json.dumps(row[col], ensure_ascii=False)
        if "id" in row:
            row["id"] = str(row["id"])
    return Dataset.from_list(rows)
