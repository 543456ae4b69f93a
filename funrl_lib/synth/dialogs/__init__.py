"""Dialogs from an API pool: ToolACE's Self-Guided Dialog Generation (SDG) with user, assistant and tool agents.

ToolACE (ICLR 2025, arXiv 2409.00920v2 §2.2) simulates three agents over a few candidate APIs: a **user**
who asks (and answers follow-up questions), an **assistant** who calls APIs, asks for missing information,
summarises tool output or answers without tools, and a **tool** agent that returns results. A complexity evaluator
scores each dialog and the user agent is steered up or down ("self-guided complication"). This package does that in
two ways:

* **programmatic** (default, no model). Each sample is a pure function of ``(pool, seed, index)``:
  the user agent phrases requests with :func:`~funrl_lib.synth.api_pool.phrase_request` (every argument value
  verbatim) wrapped in a style (terse, polite, with context, descriptive); the tool agent is
  :func:`~funrl_lib.synth.api_pool.execute` (real, deterministic results matching the API's return schema; a
  dependent dialog passes a value an earlier call *really returned* into the next call); the assistant agent writes
  ToolACE v1's *formalised thinking* (need a tool? which one and why? each required parameter and where its value
  comes from? optional ones?) into ``Message.think`` and then the calls, a clarifying question, a refusal or a
  summary quoting values from the results.
* **LLM** (``backend=`` a non-programmatic :mod:`~funrl_lib.backends` backend). The programmatic dialog is
  the *plan* (type, candidates, intents, argument values); the agents are prompts (:data:`DIALOG_PROMPTS`): the user
  agent rewrites each user turn (values kept verbatim), the assistant agent decides every assistant turn on its own
  and is asked ``votes`` (3) times; the turn is kept only when all call parts agree (ToolACE's consistency vote),
  else the sample is quarantined with the reason; the tool agent simulates results for APIs without an executor
  (``impl``), real execution is used otherwise. Malformed replies are re-asked (``chat_json``) then quarantined.
  Samples run concurrently (``asyncio.gather``, ``concurrency`` at a time) and are written in index order.

Dialog types (``Sample.type``), the BFCL categories plus ToolACE's non-tool and clarification dialogs:

================= =================================================================================================
single            one call; candidates mix same-subdomain and cross-domain tools
parallel          one turn, the same tool called 2-4 times with different arguments
multiple          one call; every distractor is a similar tool (same subdomain, then domain)
parallel_multiple one turn, 2-3 different tools (a repeat at high complexity)
dependent         call A, then call B with a value A returned (A's return field and B's parameter share a slot)
irrelevance       the request's API is not among the candidates (nor any API sharing a leaf); a refusal in text
clarify           the user leaves out a required value; the assistant asks for it by name; the user answers; a call
multi_turn        2-3 user requests in sequence, each with its call, tool turn and summary
================= =================================================================================================

**Complexity** (:func:`complexity`, in [0, 1]): ToolACE's Fig. 2 finds the evaluator's loss rising with the number
of candidate APIs, the number of calls and query-description dissimilarity, so the programmatic score is
``0.35 * (candidates - 1) / 5 + 0.35 * min(calls, 4) / 4 + 0.3 * (1 - overlap)`` with ``overlap`` the share of the
content words of the called tools' descriptions (all candidates' when nothing is called) that occur in the user
turns. :func:`model_loss` is ToolACE's own measure (Eq. 1): the mean token loss of the assistant turns under a
model, stored in ``meta["loss"]``; with a scoring model (``funrl dialogs --complexity-model``) the bands are steered
by that loss instead (:mod:`.model_guided`). **Bands** (formula): easy < 0.4 <= medium < 0.6 <= hard. Each sample
draws a target band (``complexity_mix``); the generator maps it to knobs (candidate count, call/turn count, request
style), scores the dialog and retries up to :data:`MAX_ATTEMPTS` times, nudging the knobs towards the band; the
closest attempt is kept and ``meta["band"]`` records the target (``meta["complexity"]`` says where it landed). Only
the plans are scored (calls, user turns and candidates fix the score), so tools run once per sample. A dialog
without calls scores at most 0.65; ``irrelevance`` reaches ``hard`` with 6 candidates and a request far from their
descriptions. The weights and band edges are ours (ToolACE gives neither); they put each type's knob range across
the bands.

**Meta** of each sample: ``complexity``, ``band``, ``api_ids`` (the candidates, in ``tools`` order), ``domain``,
``source`` (``"programmatic"`` or the backend's name), ``seed``, ``style`` (of the user agent), ``attempts``, and
per type ``depends`` (``{"from", "field", "to", "param"}``), ``irrelevant_api`` (the API the request was for, left
out of the candidates) or ``missing`` (the parameter the clarify dialog asks for); LLM samples add ``votes``.

**Mix**: each index gets its type (and band) from an exact allocation: counts by largest remainder of
``n * share``, then a seeded shuffle, so the realised mix equals the target up to rounding for any ``n``.

**Determinism and resuming**: all randomness comes from ``random.Random`` seeded with SHA-256 of ``(seed, index,
attempt)``; ids are ``dlg-000000``...; ``out=`` appends one JSON line per sample via
:class:`~funrl_lib.io.JsonlAppender`, so a killed run re-run with the same arguments finishes the file with
no sample lost or duplicated, byte-identical to an uninterrupted run (an existing file of another seed is refused
rather than extended; a programmatic run also regenerates the file's last sample to refuse another pool, ``n`` or
mix). LLM quarantines go to ``<out>.quarantine.jsonl`` and are not retried on
resume; an LLM run resumes byte-identically when its backend answers the same (the response cache).

Speed: the pool is indexed once (tool definitions, subdomain groups, clarify and dependency candidates); a sample
costs a few argument draws, request phrasings and executions in :mod:`~funrl_lib.synth.api_pool` (most of the time)
and no deep copies (``tools`` share the index's :class:`~funrl_lib.tools.ToolDef` objects, read once per API).

The package, one module per part of the method:

====================== ==============================================================================================
:mod:`.mix`            type and band mixes, their exact allocation, seeded randomness
:mod:`.complexity`     the complexity score, bands and band steering; :func:`model_loss` (Eq. 1)
:mod:`.pool_index`     the pool indexed once; candidate tools
:mod:`.text`           the agents' words: user styles, joins, answers; facts for summaries
:mod:`.agents`         the programmatic user, tool and assistant agents
:mod:`.plan`           a planned dialog (scored before any tool runs)
:mod:`.single_request` ``single``, ``multiple``, ``irrelevance``, ``clarify``
:mod:`.multi_call`     ``parallel``, ``parallel_multiple``, ``dependent``, ``multi_turn``
:mod:`.builder`        one sample: plan, score, steer, realise
:mod:`.model_guided`   steering by a model's loss (Eq. 1) instead of the formula: calibrated band edges, resampling
:mod:`.structure`      each type's defining structure (:func:`structure_problem`)
:mod:`.llm_prompts`    the LLM agents' prompts, and how their replies are read
:mod:`.llm_agents`     the LLM agents over the programmatic plan, with the consistency vote
:mod:`.resume`         resumable JSONL output
:mod:`.run`            :func:`generate_dialogs`, :func:`iter_dialogs`, :func:`agenerate_dialogs`
:mod:`.stats`          :class:`DialogStats`, :func:`dialog_stats`, :func:`format_stats`
====================== ==============================================================================================

``funrl dialogs`` is :mod:`funrl_lib.cli.synth`.
"""

from __future__ import annotations

from .complexity import (BAND_RANGES, BANDS, DEFAULT_COMPLEXITY_MIX, MAX_ATTEMPTS, band_of, complexity,
                         complexity_parts, model_loss)
from .llm_prompts import DIALOG_PROMPTS
from .mix import DEFAULT_MIX, allocate, parse_mix
from .model_guided import ModelGuide
from .run import agenerate_dialogs, generate_dialogs, iter_dialogs
from .stats import DialogStats, dialog_stats, format_stats
from .structure import structure_problem

# Not in __all__ but importable from here as before: the other constants, and internals tests and benchmarks use.
from .complexity import (CALLS_CAP, MAX_CANDIDATES, MIN_CANDIDATES, W_CALLS, W_CANDIDATES,  # noqa: F401
                         W_DISSIMILARITY, _loss_segments)
from .llm_prompts import TYPE_DESCRIPTIONS  # noqa: F401
from .pool_index import _PoolIndex, _values_at  # noqa: F401
from .structure import _scalars  # noqa: F401
from .text import STYLES, _render  # noqa: F401

__all__ = [
    "BANDS", "BAND_RANGES", "DEFAULT_COMPLEXITY_MIX", "DEFAULT_MIX", "DIALOG_PROMPTS", "MAX_ATTEMPTS",
    "DialogStats", "ModelGuide", "agenerate_dialogs", "allocate", "band_of", "complexity", "complexity_parts",
    "dialog_stats", "format_stats", "generate_dialogs", "iter_dialogs", "model_loss", "parse_mix", "structure_problem",
]
