"""The API pool: ToolACE's Tool Self-Evolution Synthesis (TSS), programmatic by default, LLM-driven on request.

ToolACE (ICLR 2025, arXiv 2409.00920v2 §2.1) grows an *API context tree* of functionalities (speciation), gives every
new API a domain, a diversity level and a sampled subtree of that tree (adaptation), and has an LLM write the API from
the subtree plus one example API from a buffer while applying *diversity indicators*: new parameters, constraints,
mutated types, updated results (evolution). This package does the same thing in two ways:

* **programmatic** (default, no model): the tree is shipped as reviewable data (``data/api_tree/<domain>.yaml``,
  leaves written as ``verb phrase (slot, ?optional_slot) -> returned, fields``), parameters come from a shared
  slot vocabulary (``data/api_tree/slots.yaml`` plus suffix rules such as ``*_id``, ``*_date``), and evolution steps
  are tree-and-slot-aware edits of the definition. Every API also gets a deterministic executor spec (``impl``):
  :func:`execute` validates a call and returns results derived from a stable hash, so dialogs get real tool outputs
  and dependent calls work (an id one API returns is accepted by the API that takes that slot).
* **LLM** (``backend=`` an LLM backend of :mod:`funrl_lib.backends`): the same adaptation and the same
  indicators go into :data:`PROMPTS`; replies are parsed and validated, malformed ones retried, then quarantined.

Determinism: API ``i`` is a function of ``(seed, i)`` and of the APIs before it (the example buffer and dedup), all
randomness comes from :class:`random.Random` seeded with SHA-256 of those, so the same seed gives the same bytes and
an interrupted ``out=`` file resumes to exactly the file an uninterrupted run writes.

The rooms, lowest first (each imports only the ones above it):

* :mod:`.base`: the tree folder, :class:`PoolError` / :class:`ExecutionError`, the bounds on a record;
* :mod:`.pattern_values`: values generated from regular expressions;
* :mod:`.slots`, :mod:`.slot_file`: the slot vocabulary and its file;
* :mod:`.tree`: the API context tree (speciation's data, adaptation's subtree sampling);
* :mod:`.records`: :class:`ApiRecord`, signatures, :func:`load_pool`, :func:`load_pool_lenient`;
* :mod:`.drafts`, :mod:`.evolution`, :mod:`.adaptation`: an API's first definition, the diversity indicators, the
  per-API plan and the build state;
* :mod:`.llm`, :mod:`.speciation`, :mod:`.build`: the LLM path (prompts, evolution; the LLM growing the tree) and
  :func:`build_pool`;
* :mod:`.checks`, :mod:`.sampling`, :mod:`.phrasing`, :mod:`.execution`: calls against the pool (validation, argument
  sampling, user requests, deterministic execution);
* :mod:`.stats`: :func:`pool_stats`.

``funrl pool`` is :mod:`funrl_lib.cli.synth`.
"""

from __future__ import annotations

from .base import MAX_LIST_SIZE, MAX_SCHEMA_DEPTH, SLOTS_FILE, TREE_DIR, ExecutionError, PoolError
from .build import build_pool
from .checks import result_issues, validate_arguments
from .evolution import EVOLUTION_KINDS
from .execution import execute, execute_again
from .llm import PROMPTS
from .pattern_values import MAX_PATTERN_LENGTH, gen_from_pattern
from .phrasing import mentioned_values, phrase_request
from .records import ApiRecord, load_pool, load_pool_lenient, signature
from .sampling import sample_arguments
from .slot_file import load_slots
from .slots import SlotSpec, SlotVocabulary
from .speciation import SpeciationConfig, grow_tree, speciate, tree_path
from .stats import pool_stats
from .tree import ApiTree, Domain, Leaf, ReturnField, load_tree, parse_leaf

__all__ = [
    "ApiRecord", "ApiTree", "Domain", "ExecutionError", "Leaf", "PROMPTS", "PoolError", "SlotSpec", "SlotVocabulary",
    "SpeciationConfig", "TREE_DIR", "build_pool", "execute", "execute_again", "grow_tree", "load_pool",
    "load_pool_lenient", "load_slots", "load_tree", "mentioned_values", "parse_leaf", "phrase_request", "pool_stats",
    "result_issues", "sample_arguments", "signature", "speciate", "tree_path", "validate_arguments",
]
