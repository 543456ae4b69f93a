"""Generating BFCL v4 agentic results (``funrl bfcl generate --categories memory_kv,...``), where it can run.

Agentic entries run through the same prompting loop as multi-turn (:func:`funrl_lib.bfcl.multi_turn.run_entry`,
BFCL's ``inference_multi_turn_prompting``) on BFCL's own backends from the installed bfcl-eval wheel:

``memory_kv``, ``memory_rec_sum`` — **offline**.
    BFCL's ``MemoryAPI_kv`` (BM25 retrieval: ``rank-bm25``, pinned in requirements-bfcl.txt) and
    ``MemoryAPI_rec_sum``. As BFCL does it: per scenario, the warm-up dialogues (``memory_prereq_conversation/``,
    ids ``memory_<backend>_prereq_<n>-<scenario>-<k>``) run first, in order, each starting from the memory the
    previous one left and flushing it to ``<model>/agentic/memory/<backend>/memory_snapshot/`` (their replies go to
    ``BFCL_v4_memory_<backend>_prereq_result.json``, which BFCL does not score); then each question starts from the
    scenario's final memory, with BFCL's memory instructions (scenario persona and the core memory's content) and its
    answer-format instruction in the system message. A scenario whose warm-up is incomplete (an interrupted run) is
    warmed up again from its first dialogue before its questions run.
``memory_vector`` — **needs an embedding model**.
    BFCL's ``MemoryAPI_vector`` loads ``SentenceTransformer("all-MiniLM-L6-v2")`` (and ``faiss``) when imported;
    ``--embedding-model PATH`` names a local sentence-transformers folder used in its place (nothing is downloaded).
    Without the path, or without ``sentence-transformers`` / ``faiss-cpu`` installed, the category is not generated
    and a line says why.
``web_search_base``, ``web_search_no_snippet`` — **need network access and a SerpAPI key**.
    BFCL's ``WebSearchAPI`` searches through SerpAPI (``SERPAPI_API_KEY``) and fetches pages (``requests``,
    ``beautifulsoup4``, ``html2text``, ``google-search-results``). Without the key or those modules the category is
    not generated and a line says why.

A category that cannot run is never written as zeros: it is listed under ``not_generated`` in the folder's
``generation_config.json`` with the reason, ``funrl bfcl generate`` prints it, and ``funrl bfcl evaluate`` repeats it
beside the board's Overall (which, as on the leaderboard, counts a category not run as 0).
Model output is data: calls run only on BFCL's simulated backends, through the same guard as multi-turn.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .agentic import (AGENTIC_CATEGORIES, BACKEND_CLASS, MEMORY_CATEGORIES, MEMORY_SCENARIOS, WEB_SEARCH_CATEGORIES,
                      AgenticEntry, result_group)
from .data import VERSION_PREFIX, BFCLDataError, _read_jsonl, find_data_dir
from .multi_turn import MAXIMUM_STEP_LIMIT, MultiTurnEntry, _bfcl, run_entry

__all__ = ["AgenticRun", "cannot_generate", "memory_prereqs", "prereq_path", "run_agentic_entry", "warm_up_memory"]

WEB_SEARCH_MODULES = ("requests", "bs4", "html2text", "serpapi")
WEB_SEARCH_PACKAGES = "requests beautifulsoup4 html2text google-search-results"
BFCL_ENCODER_NAME = "all-MiniLM-L6-v2"  # what BFCL's memory_vector module loads at import


@dataclass
class AgenticRun:
    """Settings of one agentic generation: the model's result folder (``<out>/<model_name>``, where BFCL keeps the
    memory snapshots) and the embedding model for ``memory_vector``."""

    model_dir: Path
    embedding_model: str | None = None
    max_steps: int = MAXIMUM_STEP_LIMIT
    data_dir: Path | None = None
    _docs: dict[str, list[dict]] = field(default_factory=dict)


def _missing(modules: tuple[str, ...]) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m) is None]


def cannot_generate(category: str, *, embedding_model: str | os.PathLike | None = None,
                    environ: dict[str, str] | None = None) -> str | None:
    """Why ``category`` cannot be generated here (one line), or None when it can."""
    environ = os.environ if environ is None else environ
    if category not in AGENTIC_CATEGORIES:
        return None
    if category in WEB_SEARCH_CATEGORIES:
        if not environ.get("SERPAPI_API_KEY"):
            return (f"{category}: not generated: web search runs BFCL's own backend, which searches through SerpAPI "
                    "and fetches web pages: it needs network access and the user's SERPAPI_API_KEY (not set)")
        missing = _missing(WEB_SEARCH_MODULES)
        if missing:
            return (f"{category}: not generated: BFCL's web-search backend needs {', '.join(missing)} (pip install "
                    f"{WEB_SEARCH_PACKAGES}), and network access")
        return None
    if category == "memory_kv" and _missing(("rank_bm25",)):
        return ("memory_kv: not generated: BFCL's key-value memory backend needs rank-bm25 (pip install --no-deps -r "
                "requirements-bfcl.txt)")
    if category == "memory_vector":
        if not embedding_model:
            return ("memory_vector: not generated: the vector memory backend needs an embedding model (BFCL uses "
                    f"sentence-transformers {BFCL_ENCODER_NAME}); pass --embedding-model PATH, a local "
                    "sentence-transformers model folder")
        if not Path(embedding_model).expanduser().is_dir():
            return f"memory_vector: not generated: --embedding-model {embedding_model}: not a folder"
        missing = _missing(("sentence_transformers", "faiss"))
        if missing:
            return (f"memory_vector: not generated: BFCL's vector memory backend needs {', '.join(missing)} "
                    "(pip install sentence-transformers faiss-cpu)")
    return None


def _load_vector_backend(embedding_model: str | os.PathLike) -> None:
    """Import BFCL's memory_vector module with ``--embedding-model`` in place of the encoder it loads by Hub name."""
    bfcl = _bfcl()
    module_name = bfcl.class_modules["MemoryAPI_vector"]
    if module_name in sys.modules:
        return
    import sentence_transformers

    original = sentence_transformers.SentenceTransformer
    path = str(Path(embedding_model).expanduser())

    class _LocalEncoder(original):  # type: ignore[misc, valid-type]
        def __init__(self, model_name_or_path: Any = None, *args: Any, **kwargs: Any):
            if model_name_or_path == BFCL_ENCODER_NAME:
                model_name_or_path = path
            super().__init__(model_name_or_path, *args, **kwargs)

    sentence_transformers.SentenceTransformer = _LocalEncoder
    try:
        importlib.import_module(module_name)
    finally:
        sentence_transformers.SentenceTransformer = original


def _docs(run: AgenticRun, class_name: str) -> list[dict]:
    if class_name not in run._docs:
        data = find_data_dir(run.data_dir)
        run._docs[class_name] = _read_jsonl(data / "multi_turn_func_doc" / _bfcl().func_doc_files[class_name])
    return copy.deepcopy(run._docs[class_name])


def _defaults() -> Any:
    try:
        from bfcl_eval.constants import default_prompts
    except ImportError as e:  # the wheel is needed for the backends anyway
        raise BFCLDataError(f"agentic generation runs on BFCL's own backends and prompts ({e})") from None
    return default_prompts


def _initial_config(run: AgenticRun, category: str, entry_id: str, scenario: str | None) -> dict:
    class_name = BACKEND_CLASS[category]
    if category in MEMORY_CATEGORIES:
        test_category = entry_id.rsplit("_", 1)[0]  # memory_kv or memory_kv_prereq
        return {class_name: {"model_result_dir": Path(run.model_dir), "scenario": scenario, "test_id": entry_id,
                             "test_category": test_category}}
    return {class_name: {"show_snippet": "no_snippet" not in entry_id}}


def _memory_prepare(category: str, scenario: str, question: list[list[dict]]) -> Callable[[dict], list]:
    """BFCL's ``add_memory_instruction_system_prompt``, once the backend (and its core memory) exists."""
    prompts = _defaults()

    def prepare(instances: dict[str, Any]) -> list[list[dict]]:
        (memory,) = instances.values()
        template = (prompts.MEMORY_BACKEND_INSTRUCTION_UNIFIED if "rec_sum" in category
                    else prompts.MEMORY_BACKEND_INSTRUCTION_CORE_ARCHIVAL)
        system = template.format(scenario_setting=prompts.MEMORY_AGENT_SETTINGS[scenario],
                                 memory_content=memory._dump_core_memory_to_context())
        turns = copy.deepcopy(question)
        first = turns[0]
        if first and first[0]["role"] == "system":
            first[0]["content"] = system + "\n\n" + first[0]["content"]
        else:
            first.insert(0, {"role": "system", "content": system})
        return turns

    return prepare


def _flush(instances: dict[str, Any]) -> None:
    (memory,) = instances.values()
    memory._flush_memory_to_local_file()


def _prepare_backend(run: AgenticRun, category: str) -> None:
    if category == "memory_vector":
        _load_vector_backend(run.embedding_model)  # type: ignore[arg-type]


def run_agentic_entry(entry: AgenticEntry, chat: Callable[[list[dict]], str], run: AgenticRun) -> list[list[str]]:
    """One question, as BFCL runs it: BFCL's answer-format instruction first in the system message (and, for memory,
    the memory instructions before it), the scenario's final warm-up memory loaded. Returns BFCL's result
    ``[[step reply, ...]]``."""
    _prepare_backend(run, entry.category)
    class_name = BACKEND_CLASS[entry.category]
    question = copy.deepcopy(entry.question)
    question[0].insert(0, {"role": "system", "content": _defaults().ADDITIONAL_SYSTEM_PROMPT_FOR_AGENTIC_RESPONSE_FORMAT})
    mt = MultiTurnEntry(id=entry.id, category=entry.category, question=question, functions=_docs(run, class_name),
                        missed_function={}, initial_config=_initial_config(run, entry.category, entry.id,
                                                                           entry.scenario),
                        involved_classes=[class_name], ground_truth=[[]], raw=entry.raw)
    prepare = (_memory_prepare(entry.category, entry.scenario, question) if entry.category in MEMORY_CATEGORIES
               else None)
    return run_entry(mt, chat, max_steps=run.max_steps, prepare=prepare)


# ---------------------------------------------------------------------------------------------------------------
# Memory warm-up dialogues
# ---------------------------------------------------------------------------------------------------------------

def memory_prereqs(category: str, data_dir: str | os.PathLike | None = None) -> dict[str, list[dict]]:
    """``{scenario: [warm-up entries in order]}`` with BFCL's ids (``memory_kv_prereq_0-customer-0``)."""
    data = find_data_dir(data_dir)
    out: dict[str, list[dict]] = {}
    for scenario in MEMORY_SCENARIOS:
        rows = _read_jsonl(data / "memory_prereq_conversation" / f"memory_{scenario}.json")
        out[scenario] = [dict(r, id=r["id"].replace("memory", category)) for r in rows]
    return out


def prereq_path(model_dir: Path, category: str) -> Path:
    return Path(model_dir) / result_group(category) / f"{VERSION_PREFIX}_{category}_prereq_result.json"


def _snapshot_file(model_dir: Path, category: str, scenario: str) -> Path:
    return Path(model_dir) / result_group(category) / "memory_snapshot" / f"{scenario}_final.json"


def warm_up_memory(category: str, chat_factory: Callable[[], Any], run: AgenticRun,
                   scenarios: list[str] | None = None, log: Callable[[str], None] = print) -> dict[str, int]:
    """Run the warm-up dialogues of each scenario (all of them, in order) unless a complete warm-up is on disk (every
    dialogue in the prereq result file and the scenario's final snapshot present); an incomplete one is redone from
    its first dialogue. Returns ``{scenario: dialogues run}``."""
    _prepare_backend(run, category)
    path = prereq_path(run.model_dir, category)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows: dict[str, str] = {}
    if path.exists():
        # not io.read_records: each good line is kept as text, to be written back verbatim
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                row = json.loads(line)
                rows[row["id"]] = line
            except (ValueError, KeyError, TypeError):
                continue
    done: dict[str, int] = {}
    class_name = BACKEND_CLASS[category]
    for scenario, dialogues in memory_prereqs(category, run.data_dir).items():
        if scenarios is not None and scenario not in scenarios:
            continue
        ids = [d["id"] for d in dialogues]
        if all(i in rows for i in ids) and _snapshot_file(run.model_dir, category, scenario).exists():
            done[scenario] = 0
            continue
        log(f"{category}: warming up the {scenario} memory ({len(dialogues)} dialogues, BFCL's prerequisite "
            "conversations)")
        for i in ids:
            rows.pop(i, None)
        for dialogue in dialogues:
            chat = chat_factory()
            start = time.perf_counter()
            mt = MultiTurnEntry(id=dialogue["id"], category=category, question=dialogue["question"],
                                functions=_docs(run, class_name), missed_function={},
                                initial_config=_initial_config(run, category, dialogue["id"], scenario),
                                involved_classes=[class_name], ground_truth=[[] for _ in dialogue["question"]],
                                raw=dialogue)
            result = run_entry(mt, chat, max_steps=run.max_steps,
                               prepare=_memory_prepare(category, scenario, dialogue["question"]), finish=_flush)
            rows[dialogue["id"]] = json.dumps({"id": dialogue["id"], "result": result,
                                               "input_token_count": getattr(chat, "input_tokens", 0),
                                               "output_token_count": getattr(chat, "output_tokens", 0),
                                               "latency": round(time.perf_counter() - start, 4)},
                                              ensure_ascii=False)
            path.write_text("".join(r + "\n" for r in rows.values()), encoding="utf-8")
        done[scenario] = len(dialogues)
    return done
