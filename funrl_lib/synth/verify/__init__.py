"""Dual-Layer Verification (ToolACE §2.3, App. B Table 4), APIGen-style execution, lexical sanity, FunRL's filter.

Every check is a named function ``rule_<name>(sample, ctx) -> list[str]`` (empty: pass; each string a reason that
names the turn, the call and the parameter), registered in :data:`RULES` with its layer:

* **rule layer** (ToolACE Table 4, plus what the released data shows it missed): ``tool_schema``, ``dialog_fields``,
  ``call_parses``, ``call_name_exists``, ``required_params``, ``unknown_params``, ``param_values``,
  ``response_length``, ``invalid_chars``, ``date_string_artifacts``, ``call_response_names``, ``role_order``,
  ``tool_response_follows``, ``system_format``, ``execution``.
* **model layer** (ToolACE's three "expert agents"): ``hallucinated_values``, ``task_consistency``,
  ``tool_response_consistency``. With an LLM backend each is one judge prompt (:data:`JUDGE_PROMPTS`, the judge
  answers ``{"pass": bool, "reason": str}``); offline (no backend, or the programmatic one) each is a deterministic
  implementation of the same question, documented on its function.
  ``answer_grounding`` (the consistency expert's question "does the final answer report what the tools said?", value
  by value: every number, date, identifier and name of a summary found in the dialog before it) has no judge of its
  own: it runs in both modes, before the judges (whose ``task_consistency`` prompt asks the same in words).

As in ToolACE, the model layer only looks at samples that passed the rule layer (so its pass rate is "over
rule-passers", comparable with the paper's 67.9% / 91.1% / 61.8%). :func:`funrl_filter` adds FunRL's two-stage
filter (arXiv 2508.05118v4 §5.1): an LLM evaluates each reference answer and regenerates wrong ones (at most
``max_regenerations`` times), then an AST stage drops references whose call/no-call shape contradicts the task.

Turn numbers in reasons are 0-based indices into ``sample.messages``; ``call k`` is the k-th call of that turn.

Why execution and lexical rules on top of ToolACE's list: ToolACE never executes a call and its rules did not catch
the ``date``→``string`` corruption of its own released data (rules: ToolACE, arXiv 2409.00920v2 §2.3 and App. B
Table 4; the corruption is visible in the HF dataset ``Team-ACE/ToolACE``). Where a programmatic implementation
exists (an API pool record), every call is run and every recorded tool output is compared with what the
implementation returns, as APIGen's execution stage does.

Speed: each distinct tool definition of an input is read once (the samples of a file share their tools:
:class:`~funrl_lib.tools.ToolTable`) and validated and scanned once (kept with the tool), every rule of a sample
shares one view of it, the lexical scans screen whole texts with one C-level search before looking closer, and a call
that this process already executed (dialog generation just did) is not generated again, so offline verification keeps
up with the programmatic generators (each report records the run's samples/s).

Nothing here evaluates model output: calls are decoded with ``ast``/``json`` only (:mod:`funrl_lib.calls`).

Layout (one module per part, this package re-exports the public names):

* :mod:`.context`: :class:`VerifyContext`, the rule registry :data:`RULES` and its layers;
  :mod:`.view`: the per-sample view (parsed tools, strings) every rule shares; :mod:`.common`: small helpers.
* rule layer (ToolACE §2.3 rule checker): :mod:`.rules_content` (definitions, fields, calls, argument values from
  :mod:`.values`, response length, characters and date->string artifacts from :mod:`.lexical`),
  :mod:`.rules_dialog` (dialog structure, system-prompt format), :mod:`.execution` (APIGen's execution stage).
* model layer (ToolACE §2.3 model checker): :mod:`.model` (deterministic, with :mod:`.grounding` and
  :mod:`.words`), :mod:`.answers` (the values of final answers), :mod:`.judges` (LLM judges); :mod:`.verdicts` runs
  both layers on a sample.
* :mod:`.funrl`: FunRL's two-stage filter; :mod:`.report`: counts and pass rates; :mod:`.runner`:
  :func:`verify_file` (streaming, resumable, quarantining unreadable records); ``funrl verify`` is
  :mod:`funrl_lib.cli.samples`.
"""

# The rule modules register their rules in RULES as they are imported: this order is RULES' order (the order of
# reports and of ``--rules`` help), so it must stay rule layer first, then execution, then the model layer.
from .context import CALL_TYPES, LAYERS, RULES, TOOLACE_REFERENCE, Rule, VerifyContext
from .rules_content import (rule_call_name_exists, rule_call_parses, rule_date_string_artifacts, rule_dialog_fields,
                            rule_invalid_chars, rule_param_values, rule_required_params, rule_response_length,
                            rule_tool_schema, rule_unknown_params)
from .rules_dialog import rule_call_response_names, rule_role_order, rule_system_format, rule_tool_response_follows
from .execution import rule_execution
from .model import rule_hallucinated_values, rule_task_consistency, rule_tool_response_consistency
from .answers import rule_answer_grounding
from .judges import JUDGE_PROMPTS, render_for_judge
from .verdicts import SampleVerdict, averify, verify_sample
from .funrl import FUNRL_PROMPTS, FilterOutcome, afunrl_filter, funrl_filter
from .report import Report
from .runner import verify_file

__all__ = [
    "FUNRL_PROMPTS", "FilterOutcome", "JUDGE_PROMPTS", "LAYERS", "RULES", "Report", "Rule", "TOOLACE_REFERENCE",
    "SampleVerdict", "VerifyContext", "afunrl_filter", "averify", "funrl_filter", "verify_file", "verify_sample",
]
