"""A planned dialog of ToolACE's Self-Guided Dialog Generation (arXiv 2409.00920v2 §2.2): its turns as the three
agents will play them, before any tool runs. The complexity evaluation scores the plan (its calls, user turns and
candidates fix the score), so tools run only for the attempt that is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ...calls import Call
from ..sample import Message


@dataclass
class _Step:
    """One planned turn. ``user``/``ask``: text (``ask`` is an assistant question); ``calls``: a call turn, its tool
    turn (``results`` when already known: a dependent chain executes its first call while planning) and, with
    ``summary``, the assistant's summary."""

    kind: str
    text: str = ""
    think: str = ""
    calls: list[tuple[int, dict]] | None = None
    sources: dict[tuple[int, str], str] | None = None
    results: list[dict] | None = None
    summary: bool = False


@dataclass
class _Draft:
    """A planned dialog: its turns, the APIs that must be candidates (the ones called), the API whose subdomain the
    distractors come from, and how distractors are chosen. Planned turns are enough to score complexity, so tools
    are executed only for the attempt that is kept."""

    steps: list[_Step]
    core: list[int]
    anchor: int
    similar: bool = False
    exclude: Callable[[int], bool] | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    refuse_for: int | None = None  # irrelevance: the API the request was for; the refusal needs the candidates

    def scored_messages(self, names: list[str]) -> list[Message]:
        out = []
        for st in self.steps:
            if st.kind == "user":
                out.append(Message("user", st.text))
            elif st.kind == "ask":
                out.append(Message("assistant", st.text))
            else:
                out.append(Message("assistant", calls=[Call(names[i], a) for i, a in st.calls or []]))
        return out
