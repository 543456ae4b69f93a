"""Named corruptions of clean samples: the defects real generators make, injected on purpose.

The programmatic generator writes correct dialogs, so verifying them alone shows a 100% pass rate and proves nothing.
These corruptions reproduce what LLM-written data gets wrong (ToolACE Table 4's rule list, the hallucinated values
its model layer hunts, and the ``date``→``string`` damage in the released ToolACE data), so a run can measure how
much of each the verifier catches — and the notebooks can show pass rates that mean something.

``CORRUPTIONS[name](sample, rng)`` returns a corrupted deep copy, or ``None`` when the sample has nothing to corrupt
that way (no call, no date parameter, ...). ``EXPECTED_RULES[name]`` names the verification rules that should catch
it; :func:`corrupt_samples` corrupts a share of a sample list and labels each sample with what was done.
"""

from __future__ import annotations

import random
from typing import Any, Callable, Iterable

from ...calls import Call
from ..sample import Sample
from .semantic import invented_entity, misreported_number, wrong_date
from .structural import (broken_schema, call_when_none_applies, date_to_string, drop_tool_response,
                         empty_response, enum_violation, extra_result, hallucinated_value, invalid_chars,
                         missing_required, response_name_mismatch, role_swap, tampered_result, truncated_response,
                         unknown_function, unknown_param, wrong_type)

__all__ = ["CORRUPTIONS", "EXPECTED_RULES", "corrupt_samples", "pool_executor"]

Corruption = Callable[[Sample, random.Random], "Sample | None"]

CORRUPTIONS: dict[str, Corruption] = {
    "missing_required": missing_required, "unknown_param": unknown_param, "date_to_string": date_to_string,
    "wrong_type": wrong_type, "enum_violation": enum_violation, "unknown_function": unknown_function,
    "hallucinated_value": hallucinated_value, "drop_tool_response": drop_tool_response, "extra_result": extra_result,
    "response_name_mismatch": response_name_mismatch, "tampered_result": tampered_result,
    "truncated_response": truncated_response, "empty_response": empty_response, "invalid_chars": invalid_chars,
    "broken_schema": broken_schema, "role_swap": role_swap, "call_when_none_applies": call_when_none_applies,
    "misreported_number": misreported_number, "wrong_date": wrong_date, "invented_entity": invented_entity,
}

# Corruptions that change argument values while keeping the call valid for the API: their tool output is re-run.
_ARGUMENT_CORRUPTIONS = frozenset({"hallucinated_value"})

# The verification rules (funrl_lib.synth.verify) expected to catch each corruption; any one of them suffices.
EXPECTED_RULES: dict[str, tuple[str, ...]] = {
    "missing_required": ("required_params",),
    "unknown_param": ("unknown_params",),
    "date_to_string": ("date_string_artifacts", "unknown_params", "call_name_exists"),
    "wrong_type": ("param_values",),
    "enum_violation": ("param_values",),
    "unknown_function": ("call_name_exists",),
    "hallucinated_value": ("hallucinated_values",),
    "drop_tool_response": ("tool_response_follows", "role_order"),
    "extra_result": ("tool_response_follows",),
    "response_name_mismatch": ("call_response_names",),
    "tampered_result": ("execution",),
    "truncated_response": ("response_length",),
    "empty_response": ("response_length",),
    "invalid_chars": ("invalid_chars",),
    "broken_schema": ("tool_schema",),
    "role_swap": ("role_order",),
    "call_when_none_applies": ("task_consistency", "param_values", "hallucinated_values"),
    "misreported_number": ("answer_grounding",),
    "wrong_date": ("answer_grounding",),
    "invented_entity": ("answer_grounding",),
}


def pool_executor(pool: Iterable[Any]) -> Callable[[Call], Any]:
    """An executor for :func:`corrupt_samples` from a pool of ``ApiRecord`` s: runs a call with
    :func:`funrl_lib.synth.api_pool.execute` (raises for an unknown name or arguments the API rejects)."""
    from ..api_pool import execute

    by_name = {api.tool.name: api for api in pool}
    return lambda call: execute(by_name[call.name], call.arguments)


def _refresh_results(before: Sample, after: Sample, executor: Callable[[Call], Any]) -> None:
    """Re-run the calls a corruption changed and write their results into the tool turn that answers them: an LLM
    tool agent simulates output for the call it is shown, so a wrong argument does not also leave a stale result."""
    for i, m in enumerate(after.messages):
        if not m.calls or i + 1 >= len(after.messages) or after.messages[i + 1].role != "tool":
            continue
        old = before.messages[i].calls if i < len(before.messages) else None
        results = after.messages[i + 1].results
        for k, call in enumerate(m.calls):
            if old is not None and k < len(old) and old[k] == call or results is None or k >= len(results):
                continue
            try:
                results[k] = {"name": call.name, "results": executor(call)}
            except Exception:  # an API that rejects the call: leave the output; the rule layer reports the call
                pass


def corrupt_samples(samples: Iterable[Sample], rate: float, seed: int = 0, kinds: Iterable[str] | None = None,
                    executor: Callable[[Call], Any] | None = None) -> list[tuple[Sample, str | None]]:
    """Corrupt about ``rate`` of the samples, each with one corruption chosen by seed among ``kinds`` (default: all)
    that applies to it. Returns ``(sample, corruption name or None)`` in input order; ids are kept.

    ``executor`` (e.g. :func:`pool_executor`): re-run each call whose arguments a corruption changed and put its real
    output in the tool turn, as an LLM tool agent would. Without it a hallucinated argument also leaves a tool
    output the API would not give, and the rule layer's ``execution`` check rejects the sample before the model
    layer's ``hallucinated_values`` sees it."""
    names = list(kinds or CORRUPTIONS)
    unknown = [n for n in names if n not in CORRUPTIONS]
    if unknown:
        raise ValueError(f"unknown corruption(s) {', '.join(unknown)}; expected some of {', '.join(CORRUPTIONS)}")
    rng = random.Random(f"corrupt:{seed}")
    out: list[tuple[Sample, str | None]] = []
    for sample in samples:
        if rng.random() >= rate:
            out.append((sample, None))
            continue
        for name in rng.sample(names, len(names)):
            bad = CORRUPTIONS[name](sample, rng)
            if bad is not None:
                if executor is not None and name in _ARGUMENT_CORRUPTIONS:
                    _refresh_results(sample, bad, executor)
                bad.meta = {**bad.meta, "corruption": name}
                out.append((bad, name))
                break
        else:
            out.append((sample, None))
    return out
