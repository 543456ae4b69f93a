"""What the rules may use besides the sample, and the registry of rules with their layer (ToolACE §2.3, dual-layer
verification: the rule checker's layer "rule", the model checker's layer "model"; FunRL's data filter, arXiv
2508.05118v4 §5.1, is the third layer "funrl"). ToolACE's reported pass rates (v1 Table 5) are kept here for the
report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from ..sample import Sample
from .view import _View


LAYERS = ("rule", "model", "funrl")
# ToolACE v1 Table 5 (with formalised thinking): rule-layer pass rate, model-layer pass rate over rule-passers,
# final. Secondhand (two third-party notes on arXiv 2409.00920v1 agree; not checked against the v1 text).
TOOLACE_REFERENCE = {"rule": 0.679, "model": 0.911, "final": 0.618,
                     "source": "ToolACE v1 Table 5 (with formalized thinking), secondhand via third-party notes"}
# sample types whose first answer is a call (FunRL's AST stage expects one when no judge says otherwise)
CALL_TYPES = ("single", "parallel", "multiple", "parallel_multiple", "dependent")


@dataclass
class VerifyContext:
    """What the rules may use besides the sample.

    ``pool``: programmatic APIs for the ``execution`` rule: a mapping ``tool name -> ApiRecord`` (or a list of
    records; see :mod:`funrl_lib.synth.api_pool`). A record is used only for a tool whose definition in the sample
    equals the record's ``tool``, so a pool never judges a different API that happens to share a name.
    ``execute``: ``(api, arguments) -> dict`` raising ``ExecutionError``; default ``api_pool.execute_again`` (what
    ``api_pool.execute`` returns, looked up when this process already executed that exact call).
    ``backend``: ``None`` or a programmatic backend -> deterministic model layer; an LLM backend -> judges.
    ``rules``: names to run (default all, in :data:`RULES` order).
    ``max_response_chars``: a text answer longer than this is "too long" (Table 4: "assistant response not too
    long"); 2,000 characters is about 400 words, far beyond a tool-result summary.
    ``long_text_chars``: a text answer at least this long must end like a finished sentence (see
    :func:`rule_response_length`).
    """

    pool: Any = None
    backend: Any = None
    rules: Sequence[str] | None = None
    max_response_chars: int = 2000
    long_text_chars: int = 200
    execute: Callable[[Any, dict], Any] | None = None
    judge_retries: int = 2
    _pool_index: dict[str, list[Any]] | None = field(default=None, init=False, repr=False)
    _view: "_View | None" = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.rules is not None:
            self.rules = list(self.rules)
            unknown = [r for r in self.rules if r not in RULES]
            if unknown:
                raise ValueError(f"unknown rule(s) {', '.join(unknown)}; known: {', '.join(RULES)}")
        self._pool_index = _index_pool(self.pool)

    @property
    def llm(self) -> bool:
        """True when the model layer asks an LLM (a backend that is not programmatic)."""
        return self.backend is not None and not getattr(self.backend, "is_programmatic", False)

    def selected(self, layer: str | None = None) -> list["Rule"]:
        names = self.rules if self.rules is not None else list(RULES)
        return [RULES[n] for n in names if layer is None or RULES[n].layer == layer]

    def view(self, sample: Sample) -> "_View":
        """Per-sample derived data (parsed tools, flattened strings, argument issues). While :func:`verify_sample`
        checks a sample, every rule shares one view of it; a rule called on its own gets a fresh one (so a sample
        changed between two calls is never judged from stale data)."""
        v = self._view
        return v if v is not None and v.sample is sample else _View(sample)


@dataclass(frozen=True)
class Rule:
    name: str
    layer: str  # "rule" or "model"
    fn: Callable[[Sample, VerifyContext], list[str]]

    def __call__(self, sample: Sample, ctx: VerifyContext) -> list[str]:
        return self.fn(sample, ctx)


RULES: dict[str, Rule] = {}


def _rule(layer: str) -> Callable:
    def register(fn: Callable[[Sample, VerifyContext], list[str]]) -> Callable:
        name = fn.__name__.removeprefix("rule_")
        RULES[name] = Rule(name, layer, fn)
        return fn
    return register


def _index_pool(pool: Any) -> dict[str, list[Any]]:
    """``{tool name: [records]}`` from a mapping name -> record (or -> list of records) or an iterable of records."""
    if pool is None:
        return {}
    out: dict[str, list[Any]] = {}
    items = pool.values() if isinstance(pool, Mapping) else pool
    for item in items:
        for rec in (item if isinstance(item, (list, tuple)) else [item]):
            tool = getattr(rec, "tool", None)
            if tool is not None:
                out.setdefault(tool.name, []).append(rec)
    return out
