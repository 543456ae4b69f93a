"""``funrl bfcl generate``: run a model on BFCL v4 questions and write result files in BFCL's own layout.

    funrl bfcl generate --model PATH_OR_NAME --backend hf|vllm|openai --categories CAT[,CAT...] --out DIR
                        [--limit N [--stratified] [--seed S]] [--prompt bfcl|funrl|fc] [--batch-size B]
                        [--max-new-tokens T] [--temperature 0.001] [--model-name NAME] [--strip-think | --no-strip-think]
                        [--base-url URL] [--concurrency C] [--dtype auto|bfloat16|float16|float32] [--data-dir DIR]

Written (what ``bfcl generate`` writes, so ``funrl bfcl evaluate`` and BFCL's own evaluator read it unchanged):

``DIR/<model_name>/<group>/BFCL_v4_<category>_result.json``
    JSON Lines, one ``{"id", "result", "input_token_count", "output_token_count", "latency"}`` per entry; ``<group>``
    is ``non_live``, ``live`` or ``multi_turn``; ``<model_name>`` defaults to the model directory's name (a hub id or
    served name with ``/`` turned into ``_``, as BFCL names its folders), with ``-FC`` appended for ``--prompt fc``
    (below). ``latency`` is the wall time of the batch that produced the line divided by the batch size, so the lines
    of a run add up to its generation time.
``DIR/<model_name>/generation_config.json``
    The settings (model, backend, prompt, temperature, max_new_tokens, think stripping, categories, limit, seed,
    data version). A later run into the same folder with different generation settings is refused: one folder, one
    way of generating, or the scores would mix two models.

**Resumable.** Lines are appended and flushed batch by batch; re-running the same command skips ids already in the
file. A torn last line (a crash mid-write), unreadable lines, repeated ids and ``"Error during inference: ..."``
lines (a request that failed at an OpenAI-compatible server, written as BFCL writes them) are dropped from the file
first, so they are generated again. A finished category's file is rewritten in dataset order.

**Prompts** (``--prompt``):

``bfcl`` (default)
    BFCL's prompting mode exactly: :func:`funrl_lib.bfcl.prompts.with_bfcl_system_prompt` on the question, rendered
    by the model's chat template with ``add_generation_prompt=True`` (the ``openai`` backend sends the messages and
    the server renders them). This is how BFCL scores "(Prompt)" models.
``funrl``
    The FunRL think-then-call system prompt (:func:`funrl_lib.prompts.funrl_system_prompt`, the prompt the RL stages
    train with) in place of BFCL's, with the same function docs BFCL shows (language hint appended); an existing
    system message is kept after it, as BFCL does with its own.
``fc``
    The model's own tool format: the question with ``tools=`` (OpenAI-style schemas converted from the BFCL function
    docs) given to its chat template. The text is stored raw. Following BFCL's convention (its function-calling
    models are registered as ``<model>-FC``), the result folder is named ``<model_name>-FC``: ``-FC`` is appended to
    the default name and to a ``--model-name`` that lacks it, and ``funrl bfcl evaluate`` decodes a ``-FC`` folder FC
    style, as BFCL's ``QwenFCHandler`` decodes Hermes/Qwen ``<tool_call>\\n{...}\\n</tool_call>`` replies
    (:mod:`funrl_lib.bfcl.checker`). Conversely a ``--model-name`` ending in ``-FC`` is refused with the other prompts
    (it would be scored FC style). Needs a template that renders ``tools`` (refused otherwise) and the ``hf`` or
    ``vllm`` backend.

**Think blocks.** BFCL scores the raw text. When a reply starts with ``<think>``, the line also gets
``"result_raw"`` (the raw text), and ``result`` holds the answer after ``</think>`` if think stripping is on:
``--strip-think`` / ``--no-strip-think``, default on for ``--prompt funrl`` (that prompt asks the model to think
first) and off otherwise. Multi-turn conversations get the stripped answer back in their history when it is on.

**Backends.** ``hf``: transformers, batched with left padding (:class:`funrl_lib.backends.HFBackend`'s batch
generation), greedy when ``temperature <= 0.01`` (BFCL's default 0.001 is meant as greedy) else sampled, on CUDA when
present; a LoRA adapter directory (``adapter_config.json``) is loaded on its base model and merged. ``vllm``:
``vllm.LLM`` (GPU; LoRA through ``LoRARequest``). ``openai``: any OpenAI-compatible chat endpoint through
:class:`~funrl_lib.backends.OpenAIBackend` (``--base-url`` or ``FUNRL_OPENAI_BASE_URL`` / ``OPENAI_BASE_URL``;
the key only from ``OPENAI_API_KEY``; ``--model`` is the served model name; its response cache is off, the result
file is the record).

**Categories.** The Python single-turn ones (:data:`funrl_lib.bfcl.data.SUPPORTED_CATEGORIES`), ``simple_java``
and ``simple_javascript`` (their prompts carry BFCL's Java/JavaScript doc rewriting: every parameter typed ``string``
and described "in string representation"; :func:`funrl_lib.bfcl.prompts.bfcl_function_docs`), group names
(``single_turn`` = ``all_single_turn``: the Python single-turn set; ``non_live``: BFCL's non-live group incl.
Java/JavaScript; ``non_python``: Java and JavaScript; ``live``, ``multi_turn``, ``memory``, ``web_search``,
``agentic``, ``all``), ``format_sensitivity`` (BFCL's 200 entries x 26 system-prompt configurations, each asked
with its configuration's prompt; ``--prompt bfcl`` only, as BFCL runs it for prompt models; scored by ``funrl bfcl
evaluate`` with the official max-delta summary; :mod:`funrl_lib.bfcl.format_sensitivity`), the agentic categories (:mod:`funrl_lib.bfcl.agentic_generate`: memory_kv and memory_rec_sum
offline with BFCL's warm-up dialogues, memory_vector with ``--embedding-model PATH``, web search only with network
access and ``SERPAPI_API_KEY``; a category that cannot run is skipped with a line saying why, and recorded as
``not_generated`` in generation_config.json), and the four multi-turn categories, which :mod:`funrl_lib.bfcl.multi_turn` runs (``load_multi_turn(category, data_dir)`` and
``run_entry(entry, chat, max_steps)``; ``chat`` is :func:`make_chat` over the same backend). Multi-turn entries are
generated one conversation at a time with BFCL's prompting mode (the module builds the messages).

``--limit N`` takes the first N entries of each category; with ``--stratified`` N entries spread over the whole
category instead: one drawn (seeded by ``--seed`` and the category) from each of N equal consecutive slices, kept in
file order, so the same command always picks the same ids.

Model output is data: it is written, never evaluated or executed.
"""

from __future__ import annotations

import abc
import importlib
import json
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .. import __version__
from ..calls import strip_think
from ..prompts import funrl_system_prompt
from ..tools import ToolDef
from .data import (CATEGORY_GROUP, JAVA_JS_CATEGORIES, OTHER_CATEGORIES, SUPPORTED_CATEGORIES, VERSION_PREFIX,
                   BFCLEntry, bfcl_data_version, find_data_dir, load_category)
from .agentic import AGENTIC_CATEGORIES, MEMORY_CATEGORIES, WEB_SEARCH_CATEGORIES, result_group
from .format_sensitivity import CATEGORY as FS_CATEGORY
from .format_sensitivity import FormatSensitivityEntry, format_messages, load_format_sensitivity
from .multi_turn import MULTI_TURN_CATEGORIES
from .prompts import bfcl_function_docs, with_bfcl_system_prompt, with_system
from .score import FC_SUFFIX, is_fc_model_name

__all__ = ["BACKENDS", "ERROR_PREFIX", "GROUPS", "MULTI_TURN_CATEGORIES", "PROMPTS", "Chat", "GenerateError",
           "Generator", "HFGenerator", "InferenceError", "OpenAIGenerator", "Prompt", "Reply", "VLLMGenerator",
           "build_messages", "default_model_name", "fc_model_name", "generate", "make_chat", "make_generator",
           "openai_tools", "prepare_result_file", "resolve_categories", "result_path", "select_ids"]

PROMPTS = ("bfcl", "funrl", "fc")
BACKENDS = ("hf", "vllm", "openai")
GROUPS: dict[str, tuple[str, ...]] = {
    # funrl's Python single-turn set (what the study and demo evaluate; BFCL's own "single_turn" adds Java/JS)
    "single_turn": SUPPORTED_CATEGORIES,
    "all_single_turn": SUPPORTED_CATEGORIES,
    "non_live": tuple(c for c in SUPPORTED_CATEGORIES if CATEGORY_GROUP[c] == "non_live")[:1] + JAVA_JS_CATEGORIES
    + tuple(c for c in SUPPORTED_CATEGORIES if CATEGORY_GROUP[c] == "non_live")[1:],
    "non_python": JAVA_JS_CATEGORIES,
    "live": tuple(c for c in SUPPORTED_CATEGORIES if CATEGORY_GROUP[c] == "live"),
    "multi_turn": MULTI_TURN_CATEGORIES,
    "memory": MEMORY_CATEGORIES,
    "web_search": WEB_SEARCH_CATEGORIES,
    "agentic": AGENTIC_CATEGORIES,
    "all": SUPPORTED_CATEGORIES + JAVA_JS_CATEGORIES + MULTI_TURN_CATEGORIES + AGENTIC_CATEGORIES,
}
GREEDY_AT_OR_BELOW = 0.01  # BFCL's default temperature 0.001 means "greedy"; local backends decode greedily then
ERROR_PREFIX = "Error during inference: "  # what BFCL writes as the result of a failed request
DEFAULT_BATCH = {"hf": 8, "vllm": 256, "openai": 32}
CONFIG_NAME = "generation_config.json"
# Settings that change what is generated: a folder holds results of one value of each.
SETTINGS_FIXED_PER_FOLDER = ("model", "backend", "prompt", "temperature", "max_new_tokens", "strip_think")


class GenerateError(ValueError):
    """Arguments or files that make generation impossible; the message says which and why."""


class InferenceError(RuntimeError):
    """A request that failed at the backend after its retries (OpenAI-compatible servers); recorded as BFCL does."""


# ---------------------------------------------------------------------------------------------------------------------
# Categories and entries


def resolve_categories(spec: str | Sequence[str]) -> list[str]:
    """Category names (comma-separated or a list; group names expand), deduplicated in order. Unknown names and
    categories generation cannot run are errors naming them."""
    names = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s and s.strip()]
    if not names:
        raise GenerateError("no categories given")
    out: list[str] = []
    for name in names:
        if name in GROUPS:
            expanded: Sequence[str] = GROUPS[name]
        elif (name in SUPPORTED_CATEGORIES or name in JAVA_JS_CATEGORIES or name in MULTI_TURN_CATEGORIES
              or name in AGENTIC_CATEGORIES or name == FS_CATEGORY):
            expanded = (name,)
        elif name in OTHER_CATEGORIES:
            raise GenerateError(f"category {name!r} is not generated by funrl bfcl generate")
        else:
            raise GenerateError(f"unknown BFCL category {name!r}; expected one of: "
                                f"{', '.join(SUPPORTED_CATEGORIES + JAVA_JS_CATEGORIES + MULTI_TURN_CATEGORIES)}, "
                                f"{', '.join(AGENTIC_CATEGORIES)}, {FS_CATEGORY}, "
                                f"or a group: {', '.join(GROUPS)}")
        out += [c for c in expanded if c not in out]
    return out


def select_ids(ids: Sequence[str], limit: int | None = None, *, stratified: bool = False, seed: int = 0,
               category: str = "") -> list[str]:
    """The ids to generate: all, the first ``limit``, or (``stratified``) one id drawn from each of ``limit`` equal
    consecutive slices of the category, with an RNG seeded by ``(seed, category)``, in file order. Deterministic:
    ``random.Random`` seeded with a string does not depend on ``PYTHONHASHSEED``."""
    ids = list(ids)
    if limit is None:
        if stratified:
            raise GenerateError("--stratified needs --limit N (how many entries per category)")
        return ids
    if limit < 1:
        raise GenerateError(f"--limit must be at least 1, not {limit}")
    n = len(ids)
    if limit >= n:
        return ids
    if not stratified:
        return ids[:limit]
    rng = random.Random(f"funrl-bfcl-generate:{seed}:{category}")
    return [ids[rng.randrange(i * n // limit, (i + 1) * n // limit)] for i in range(limit)]


def result_path(out: str | os.PathLike, model_name: str, category: str) -> Path:
    """``out/<model_name>/<group>/BFCL_v4_<category>_result.json`` (BFCL's layout; agentic: ``agentic/``,
    memory: ``agentic/memory/<backend>/``)."""
    group = ("multi_turn" if category in MULTI_TURN_CATEGORIES else result_group(category)
             if category in AGENTIC_CATEGORIES else FS_CATEGORY if category == FS_CATEGORY
             else CATEGORY_GROUP[category])
    return Path(out) / model_name / group / f"{VERSION_PREFIX}_{category}_result.json"


def fc_model_name(name: str, prompt: str, *, given: bool = False, log: Callable[[str], None] | None = None) -> str:
    """The result folder name under BFCL's convention: ``--prompt fc`` results go to a folder ending in ``-FC`` (added
    when missing; said through ``log`` when the name was ``given`` by the user), so ``funrl bfcl evaluate`` decodes
    them FC style; any other prompt must not use such a name (:class:`GenerateError`)."""
    if prompt == "fc":
        if is_fc_model_name(name):
            return name
        if given and log is not None:
            log(f"--prompt fc: results go to {name + FC_SUFFIX!r} (BFCL's convention: FC models are named "
                f"'<model>{FC_SUFFIX}', and funrl bfcl evaluate decodes such folders FC style)")
        return name + FC_SUFFIX
    if is_fc_model_name(name):
        raise GenerateError(f"result folder {name!r} ends in {FC_SUFFIX!r}, which marks FC results (BFCL's convention: "
                            f"funrl bfcl evaluate would decode them FC style), but --prompt is {prompt}; use --prompt "
                            f"fc, or pass a --model-name without {FC_SUFFIX!r}")
    return name


def default_model_name(model: str | os.PathLike) -> str:
    """The result folder name for ``model``: a local directory's own name (``outputs/run/final`` -> ``final``), else
    the hub id or served name with ``/`` as ``_`` (``Qwen/Qwen2.5-7B-Instruct`` -> ``Qwen_Qwen2.5-7B-Instruct``,
    BFCL's spelling)."""
    path = Path(model).expanduser()
    name = path.resolve().name if path.exists() else str(model).strip().strip("/")
    name = name.replace("/", "_").replace("\\", "_")
    if not name or name in (".", ".."):
        raise GenerateError(f"cannot derive a result folder name from --model {str(model)!r}; pass --model-name")
    return name


# ---------------------------------------------------------------------------------------------------------------------
# Prompts


def _drop_markers(node: Any) -> Any:
    """An OpenAI tool schema without funrl's round-trip ``x-bfcl-type`` markers (a model should not see them); a
    parameter of BFCL type ``any`` becomes ``string``, as BFCL's own conversion (``GORILLA_TO_OPENAPI``) does."""
    if isinstance(node, list):
        return [_drop_markers(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _drop_markers(v) for k, v in node.items() if k != "x-bfcl-type"}
    if node.get("x-bfcl-type") == "any" and "type" not in node:
        out = {"type": "string", **out}
    return out


def openai_tools(functions: Sequence[dict], category: str = "simple_python") -> list[dict]:
    """BFCL function docs (with BFCL's language hint) as OpenAI ``{"type": "function", "function": {...}}`` tools
    with JSON Schema type names. Names keep their dots: the model is asked to use them as they are."""
    return [_drop_markers(ToolDef.from_dict(doc, where=f"function[{i}]").to_openai())
            for i, doc in enumerate(bfcl_function_docs(functions, category))]


def build_messages(entry: BFCLEntry, prompt: str = "bfcl") -> tuple[list[dict], list[dict] | None]:
    """(messages, tools) for one single-turn entry: see the module docstring for the three prompts. A
    format-sensitivity entry gets its configuration's BFCL prompt (``bfcl`` only)."""
    if isinstance(entry, FormatSensitivityEntry):
        if prompt != "bfcl":
            raise GenerateError(f"{FS_CATEGORY} measures BFCL's own prompt variations (prompt models): --prompt bfcl")
        return format_messages(entry), None
    question = entry.question[0] if entry.question else []
    if prompt == "bfcl":
        return with_bfcl_system_prompt(question, entry.raw_functions, entry.category), None
    if prompt == "funrl":
        docs = bfcl_function_docs(entry.raw_functions, entry.category)
        return with_system(question, funrl_system_prompt(docs)), None
    if prompt == "fc":
        return [dict(m) for m in question], openai_tools(entry.raw_functions, entry.category)
    raise GenerateError(f"unknown --prompt {prompt!r}; expected one of: {', '.join(PROMPTS)}")


# ---------------------------------------------------------------------------------------------------------------------
# Generators: one interface over the three backends


@dataclass
class Prompt:
    """One conversation to answer: its messages, the tools (``fc``) and, for backends that render locally, the
    text the model sees."""

    messages: list[dict]
    tools: list[dict] | None = None
    text: str | None = None


@dataclass
class Reply:
    """One generated reply, or the backend's reason for having none (``text=None``)."""

    text: str | None
    input_tokens: int = 0
    output_tokens: int = 0
    error: str | None = None


class Generator(abc.ABC):
    """A backend that answers batches of :class:`Prompt`: ``prompt(messages, tools)`` prepares one (rendering it with
    the chat template where the backend works on text), ``generate(prompts)`` answers a batch, in order."""

    name = "generator"
    renders = True  # False: the messages are sent as they are and the server renders them

    def __init__(self, *, temperature: float = 0.001, max_new_tokens: int = 1024, seed: int = 0):
        if max_new_tokens < 1:
            raise GenerateError(f"--max-new-tokens must be at least 1, not {max_new_tokens}")
        if temperature < 0:
            raise GenerateError(f"--temperature must be >= 0, not {temperature}")
        self.temperature, self.max_new_tokens, self.seed = float(temperature), int(max_new_tokens), int(seed)
        self._tools_checked = False

    @property
    def greedy(self) -> bool:
        return self.temperature <= GREEDY_AT_OR_BELOW

    def render(self, messages: list[dict], tools: list[dict] | None = None) -> str:
        """The prompt text the chat template makes of ``messages`` (and ``tools``), ending with the assistant turn
        opened (``add_generation_prompt=True``)."""
        kwargs: dict[str, Any] = {"tools": tools} if tools else {}
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **kwargs)

    def prompt(self, messages: list[dict], tools: list[dict] | None = None) -> Prompt:
        if not self.renders:
            if tools:
                raise GenerateError(f"--prompt fc is not available with the {self.name} backend (it sends chat "
                                    "messages without tools); use --prompt bfcl or funrl, or the hf/vllm backend")
            return Prompt(messages)
        text = self.render(messages, tools)
        if tools and not self._tools_checked:
            if text == self.render(messages):
                raise GenerateError("--prompt fc: the model's chat template ignores tools= (the prompt is the same "
                                    "with and without them); use a tool-aware template or --prompt bfcl")
            self._tools_checked = True
        return Prompt(messages, tools, text)

    @abc.abstractmethod
    def generate(self, prompts: Sequence[Prompt]) -> list[Reply]:
        ...

    def describe(self) -> dict[str, Any]:
        """What generation_config.json records about the backend beyond the shared settings."""
        return {}


class HFGenerator(Generator):
    """A transformers model and tokenizer (loaded, or from a path with :meth:`from_pretrained`). Batches are
    left-padded and generated by :class:`~funrl_lib.backends.HFBackend`'s batch step (the same code the
    synthesis backend runs), greedy when ``temperature <= 0.01``, else sampled with a seed per batch."""

    name = "hf"

    def __init__(self, model: Any, tokenizer: Any, *, temperature: float = 0.001, max_new_tokens: int = 1024,
                 seed: int = 0, source: str | None = None):
        super().__init__(temperature=temperature, max_new_tokens=max_new_tokens, seed=seed)
        from ..backends import HFBackend

        if not getattr(tokenizer, "chat_template", None):
            raise GenerateError(f"the tokenizer of {source or type(model).__name__} has no chat template; BFCL "
                                "prompts are chat conversations (use an instruct/chat model)")
        self.model, self.tokenizer, self.source = model, tokenizer, source
        self.model.eval()  # torch's Module.eval: inference mode for dropout
        self._backend = HFBackend(model, tokenizer, seed=seed)
        self._batches = 0

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, *, dtype: str = "auto", device: str | None = None,
                        **kwargs: Any) -> "HFGenerator":
        """Load a model directory, hub id or GGUF file (converted once, :mod:`funrl_lib.model_source`), or a LoRA
        adapter directory on its base model (merged for speed)."""
        import torch

        from ..model_source import ModelNotFound, load_causal_lm

        path = str(path)
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        torch_dtype: Any = dtype if dtype == "auto" else getattr(torch, dtype)
        try:
            model, tokenizer = load_causal_lm(path, dtype=torch_dtype, merge_adapter=True)
        except ModelNotFound as e:
            raise GenerateError(str(e)) from None
        return cls(model.to(device), tokenizer, source=path, **kwargs)

    def generate(self, prompts: Sequence[Prompt]) -> list[Reply]:
        texts = [p.text if p.text is not None else self.render(p.messages, p.tools) for p in prompts]
        temperature = 0.0 if self.greedy else self.temperature
        results = self._backend._generate(self.model, self.tokenizer, texts, temperature, self.max_new_tokens,
                                          self.seed, 0, self._batches)
        self._batches += 1
        return [Reply(r.text, r.usage["prompt_tokens"], r.usage["completion_tokens"]) for r in results]

    def describe(self) -> dict[str, Any]:
        return {"device": str(getattr(self.model, "device", "?")), "dtype": str(getattr(self.model, "dtype", "?")),
                "greedy": self.greedy, "adapter_base": _adapter_base(self.source) if self.source else None}


class VLLMGenerator(Generator):
    """``vllm.LLM`` (GPU). The chat template is applied here (as BFCL's OSS handlers do), vLLM generates from the
    text; a LoRA adapter directory runs on its base model through ``LoRARequest``."""

    name = "vllm"

    def __init__(self, llm: Any, tokenizer: Any, *, lora_request: Any = None, temperature: float = 0.001,
                 max_new_tokens: int = 1024, seed: int = 0, source: str | None = None):
        super().__init__(temperature=temperature, max_new_tokens=max_new_tokens, seed=seed)
        from vllm import SamplingParams

        self.llm, self.tokenizer, self.lora_request, self.source = llm, tokenizer, lora_request, source
        self.params = SamplingParams(temperature=0.0 if self.greedy else self.temperature,
                                     max_tokens=self.max_new_tokens, seed=self.seed)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, *, dtype: str = "auto", **kwargs: Any) -> "VLLMGenerator":
        try:
            from vllm import LLM
        except ImportError as e:
            raise GenerateError(f"--backend vllm needs vLLM (pip install vllm, on a GPU machine): {e}") from None
        path = str(path)
        base = _adapter_base(path)
        lora = None
        if base is not None:
            from vllm.lora.request import LoRARequest

            rank = int(json.loads((Path(path) / "adapter_config.json").read_text()).get("r") or 16)
            max_rank = next((r for r in (8, 16, 32, 64, 128, 256, 320, 512) if r >= rank), rank)
            tokenizer_source = path if (Path(path) / "tokenizer_config.json").exists() else base
            llm = LLM(model=base, tokenizer=tokenizer_source, dtype=dtype, seed=kwargs.get("seed", 0),
                      enable_lora=True, max_lora_rank=max_rank)
            lora = LoRARequest("adapter", 1, path)
        else:
            llm = LLM(model=path, dtype=dtype, seed=kwargs.get("seed", 0))
        return cls(llm, llm.get_tokenizer(), lora_request=lora, source=path, **kwargs)

    def generate(self, prompts: Sequence[Prompt]) -> list[Reply]:
        texts = [p.text if p.text is not None else self.render(p.messages, p.tools) for p in prompts]
        outputs = self.llm.generate(texts, self.params, lora_request=self.lora_request, use_tqdm=False)
        return [Reply(o.outputs[0].text, len(o.prompt_token_ids or []), len(o.outputs[0].token_ids))
                for o in outputs]

    def describe(self) -> dict[str, Any]:
        return {"greedy": self.greedy, "lora": self.lora_request is not None}


class OpenAIGenerator(Generator):
    """An OpenAI-compatible chat endpoint through :class:`~funrl_lib.backends.OpenAIBackend` (its retries and
    concurrency). Messages go as they are; the server applies the chat template. A request that still fails after
    the retries gets a :class:`Reply` with the reason (written as BFCL's ``"Error during inference: ..."``)."""

    name = "openai"
    renders = False

    def __init__(self, backend: Any, *, temperature: float = 0.001, max_new_tokens: int = 1024, seed: int = 0):
        super().__init__(temperature=temperature, max_new_tokens=max_new_tokens, seed=seed)
        self.backend = backend

    @classmethod
    def connect(cls, model: str | None, *, base_url: str | None = None, concurrency: int = 8,
                **kwargs: Any) -> "OpenAIGenerator":
        from ..backends import OpenAIBackend

        try:
            backend = OpenAIBackend(base_url, model, concurrency=concurrency, cache=False)
        except ValueError as e:
            raise GenerateError(str(e)) from None
        return cls(backend, **kwargs)

    def generate(self, prompts: Sequence[Prompt]) -> list[Reply]:
        from ..backends import ChatRequest

        requests = [ChatRequest(p.messages, stage="bfcl", temperature=self.temperature,
                                max_tokens=self.max_new_tokens) for p in prompts]
        return [Reply(r.text, r.usage.get("prompt_tokens", 0), r.usage.get("completion_tokens", 0), r.error)
                for r in self.backend.chat(requests)]

    def describe(self) -> dict[str, Any]:
        return {"base_url": self.backend.base_url, "served_model": self.backend.model}


def _adapter_base(path: str | os.PathLike) -> str | None:
    """The base model of a LoRA adapter directory (its ``adapter_config.json``), else None."""
    config = Path(path) / "adapter_config.json"
    if not config.is_file():
        return None
    try:
        base = json.loads(config.read_text(encoding="utf-8")).get("base_model_name_or_path")
    except (OSError, ValueError) as e:
        raise GenerateError(f"{config}: unreadable ({e})") from None
    if not base:
        raise GenerateError(f"{config}: no base_model_name_or_path; cannot tell which model the adapter is for")
    return str(base)


def make_generator(model: Any, backend: str = "hf", *, tokenizer: Any = None, temperature: float = 0.001,
                   max_new_tokens: int = 1024, seed: int = 0, dtype: str = "auto", base_url: str | None = None,
                   concurrency: int = 8) -> Generator:
    """A :class:`Generator` for ``model``: a path / hub id / served name, or (``hf``) a loaded model with its
    ``tokenizer``."""
    if backend not in BACKENDS:
        raise GenerateError(f"unknown --backend {backend!r}; expected one of: {', '.join(BACKENDS)}")
    shared = {"temperature": temperature, "max_new_tokens": max_new_tokens, "seed": seed}
    if not isinstance(model, (str, os.PathLike)):
        if backend != "hf" or tokenizer is None:
            raise GenerateError("a loaded model needs backend='hf' and its tokenizer")
        return HFGenerator(model, tokenizer, **shared)
    try:
        if backend == "hf":
            return HFGenerator.from_pretrained(model, dtype=dtype, **shared)
        if backend == "vllm":
            return VLLMGenerator.from_pretrained(model, dtype=dtype, **shared)
    except OSError as e:  # transformers' "not a local folder and not a valid model identifier", unreadable weights
        raise GenerateError(f"--model {model}: cannot load it: {e}") from None
    return OpenAIGenerator.connect(str(model), base_url=base_url, concurrency=concurrency, **shared)


class Chat:
    """``chat(messages) -> str``: one reply to one conversation (the messages already hold the system prompt), for
    the multi-turn runner. Counts the tokens it spends; a failed request raises :class:`InferenceError`; with
    ``strip`` a leading think block is removed from the reply it returns."""

    def __init__(self, generator: Generator, *, strip: bool = False):
        self.generator, self.strip = generator, strip
        self.input_tokens = self.output_tokens = self.calls = 0

    def __call__(self, messages: list[dict]) -> str:
        [reply] = self.generator.generate([self.generator.prompt([dict(m) for m in messages])])
        self.calls += 1
        if reply.error is not None or reply.text is None:
            raise InferenceError(reply.error or "no reply")
        self.input_tokens += reply.input_tokens
        self.output_tokens += reply.output_tokens
        return strip_think(reply.text) if self.strip else reply.text


def make_chat(generator: Generator, *, strip: bool = False) -> Chat:
    """A :class:`Chat` over any generator (one conversation at a time)."""
    return Chat(generator, strip=strip)


# ---------------------------------------------------------------------------------------------------------------------
# Result files


def _atomic_write(path: Path, lines: Iterable[str]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for line in lines:
            f.write(line + "\n")
    os.replace(tmp, path)


def prepare_result_file(path: str | os.PathLike) -> tuple[set[str], list[str]]:
    """(ids already generated, notes) for a result file about to be appended to. Lines that would make a wrong
    record are removed first (file rewritten atomically): a torn last line, lines that are not ``{"id": str,
    "result": ...}`` objects, repeated ids (the first is kept) and ``Error during inference`` lines (retried).
    A dropped line that is not a record (not UTF-8, not JSON, not such an object; a torn last line is only a cut
    write) is kept in ``<path>.quarantine.jsonl``, funrl's one quarantine convention."""
    from ..io import Quarantine

    path = Path(path)
    if not path.exists():
        return set(), []
    data = path.read_bytes()
    keep, done, notes = [], set(), []
    torn = bool(data) and not data.endswith(b"\n")
    # not io.read_records: the lines kept are written back verbatim, and a torn last line is told from a bad one
    lines = data.split(b"\n")
    with Quarantine(path) as quarantine:
        for lineno, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                why = f"not UTF-8 text ({e.reason} at column {e.start + 1})"
                notes.append(f"{path}:{lineno}: {why}; dropped (quarantined), its entry will be generated again")
                quarantine.add(why, file=path, line=lineno, text=raw.decode("utf-8", "backslashreplace"))
                continue
            try:
                row = json.loads(line)
            except (ValueError, RecursionError) as e:
                notes.append(f"{path}:{lineno}: not a complete JSON line; dropped, its entry will be generated again")
                if not (torn and lineno == len(lines)):
                    quarantine.add(f"not readable JSON ({str(e)[:200] or type(e).__name__})", file=path,
                                   line=lineno, text=line)
                continue
            if not isinstance(row, dict) or not isinstance(row.get("id"), str) or "result" not in row:
                notes.append(f"{path}:{lineno}: not an {{\"id\", \"result\"}} object; dropped")
                quarantine.add('not an {"id", "result"} object', file=path, line=lineno, text=line)
                continue
            if row["id"] in done:
                notes.append(f"{path}:{lineno}: id {row['id']!r} repeated; dropped (the first line is kept)")
                continue
            if isinstance(row["result"], str) and row["result"].startswith(ERROR_PREFIX):
                notes.append(f"{path}:{lineno}: {row['id']} failed before ({row['result'][:120]}); retrying")
                continue
            keep.append(line)
            done.add(row["id"])
    if notes or torn:
        _atomic_write(path, keep)
    return done, notes


def _sort_file(path: Path, order: Sequence[str]) -> None:
    """Rewrite a finished file in dataset order (ids not in the dataset last), if it is not already."""
    if not path.exists():
        return
    # not io.read_records: the lines are reordered and written back verbatim (prepare_result_file vetted them)
    lines = [line for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
    rank = {entry_id: i for i, entry_id in enumerate(order)}
    keyed = [(rank.get(json.loads(line)["id"], len(rank)), i, line) for i, line in enumerate(lines)]
    ordered = [line for _, _, line in sorted(keyed)]
    if ordered != lines:
        _atomic_write(path, ordered)


def _row(entry_id: str, reply: Reply, latency: float, strip: bool) -> dict[str, Any]:
    if reply.error is not None or reply.text is None:
        return {"id": entry_id, "result": ERROR_PREFIX + (reply.error or "no reply"), "input_token_count": 0,
                "output_token_count": 0, "latency": round(latency, 4)}
    row: dict[str, Any] = {"id": entry_id, "result": reply.text}
    if reply.text.lstrip().startswith("<think>"):
        row["result_raw"] = reply.text
        if strip:
            row["result"] = strip_think(reply.text)
    row.update(input_token_count=int(reply.input_tokens), output_token_count=int(reply.output_tokens),
               latency=round(latency, 4))
    return row


def _append(f: Any, rows: Iterable[dict[str, Any]]) -> None:
    for row in rows:
        f.write(json.dumps(row, ensure_ascii=False) + "\n")
    f.flush()
    os.fsync(f.fileno())


def _merge_config(path: Path, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` merged with the folder's earlier one; refused if a generation setting differs."""
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as e:
            raise GenerateError(f"{path}: not valid JSON ({e}); fix or delete it") from None
        for key in SETTINGS_FIXED_PER_FOLDER:
            if key in old and old[key] != config[key]:
                raise GenerateError(f"{path}: this folder was generated with {key}={old[key]!r}, not {config[key]!r}; "
                                    "results of different settings must not mix: pass another --model-name or --out")
        # Same settings: keep what the earlier run recorded (its backend details), note this run's selection.
        config = {**old, **config,
                  "categories": list(dict.fromkeys(old.get("categories", []) + config["categories"]))}
    return config


def _write_config(path: Path, config: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------------------------------------------------
# The run


def _multi_turn_api() -> tuple[Callable[..., dict], Callable[..., Any]]:
    try:
        module = importlib.import_module("funrl_lib.bfcl.multi_turn")
        return module.load_multi_turn, module.run_entry
    except (ImportError, AttributeError) as e:
        raise GenerateError(f"multi-turn generation is not available: {e}") from None


def _progress(total: int, desc: str, enabled: bool) -> Any:
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="entry", disable=not enabled, file=sys.stderr, dynamic_ncols=True)


def generate(model: Any, *, categories: str | Sequence[str], out: str | os.PathLike, backend: str = "hf",
             prompt: str = "bfcl", limit: int | None = None, stratified: bool = False, seed: int = 0,
             batch_size: int | None = None, max_new_tokens: int = 1024, temperature: float = 0.001,
             model_name: str | None = None, data_dir: str | os.PathLike | None = None,
             strip_think: bool | None = None, tokenizer: Any = None, base_url: str | None = None,
             concurrency: int = 8, dtype: str = "auto", max_steps: int = 20, progress: bool = True,
             log: Callable[[str], None] | None = None, embedding_model: str | os.PathLike | None = None,
             ) -> dict[str, Any]:
    """Generate BFCL result files; see the module docstring. ``model``: a path, hub id or served name; a loaded
    transformers model (with ``tokenizer``, backend ``hf``); or a :class:`Generator`. The last two need
    ``model_name``. Returns ``{"model_name", "dir", "config", "categories": {category: {"path", "requested",
    "already_done", "generated", "failed"}}, "notes", "not_generated": {category: reason}}``; the model is loaded
    only if something is left to generate. Agentic categories that cannot run here (web search offline,
    memory_vector without ``embedding_model``; :func:`funrl_lib.bfcl.agentic_generate.cannot_generate`) are skipped
    with their reason (said through ``log``, kept in ``not_generated`` and in generation_config.json)."""
    if prompt not in PROMPTS:
        raise GenerateError(f"unknown --prompt {prompt!r}; expected one of: {', '.join(PROMPTS)}")
    if backend not in BACKENDS:
        raise GenerateError(f"unknown --backend {backend!r}; expected one of: {', '.join(BACKENDS)}")
    given = model if isinstance(model, Generator) else None
    backend = given.name if given is not None else backend
    if prompt == "fc" and backend == "openai":
        raise GenerateError("--prompt fc is not available with the openai backend (it sends chat messages without "
                            "tools); use --prompt bfcl or funrl, or the hf/vllm backend")
    cats = resolve_categories(categories)
    multi = [c for c in cats if c in MULTI_TURN_CATEGORIES or c in AGENTIC_CATEGORIES]
    if multi and prompt != "bfcl":
        raise GenerateError(f"{', '.join(multi)}: multi-turn generation uses BFCL's prompting mode, as does agentic "
                            f"generation (the multi-turn runner builds the messages); --prompt {prompt} is for "
                            f"single-turn categories")
    batch_size = batch_size or DEFAULT_BATCH.get(backend, 8)
    if batch_size < 1:
        raise GenerateError(f"--batch-size must be at least 1, not {batch_size}")
    if max_new_tokens < 1:
        raise GenerateError(f"--max-new-tokens must be at least 1, not {max_new_tokens}")
    strip = (prompt == "funrl") if strip_think is None else bool(strip_think)
    in_memory = given is not None or not isinstance(model, (str, os.PathLike))
    if in_memory and not model_name:
        raise GenerateError("a loaded model or a Generator needs model_name (the result folder name)")
    name = model_name or default_model_name(model)
    if "/" in name or "\\" in name or name in (".", ".."):
        raise GenerateError(f"--model-name {name!r}: must be a single folder name")
    say = log or (lambda message: print(message, file=sys.stderr))
    name = fc_model_name(name, prompt, given=bool(model_name), log=say)
    data = find_data_dir(data_dir)

    config = {"model": name if in_memory else str(model), "model_name": name, "backend": backend, "prompt": prompt,
              "temperature": temperature, "max_new_tokens": max_new_tokens, "strip_think": strip,
              "categories": cats, "limit": limit, "stratified": stratified, "seed": seed, "batch_size": batch_size,
              "data_version": bfcl_data_version(data), "data_dir": str(data), "bfcl_version": VERSION_PREFIX,
              "funrl_version": __version__}
    if embedding_model is not None:
        config["embedding_model"] = str(embedding_model)
    config_path = Path(out) / name / CONFIG_NAME
    config = _merge_config(config_path, config)  # refused before any file is touched if the settings differ

    # What to do, per category, before any model is loaded.
    entries: dict[str, dict[str, Any]] = {}
    plan: dict[str, list[str]] = {}
    report: dict[str, Any] = {"model_name": name, "dir": Path(out) / name, "config": config_path, "categories": {},
                              "notes": [], "not_generated": {}}
    load_multi_turn = run_entry = None
    if multi:
        load_multi_turn, run_entry = _multi_turn_api()
    agentic_run = None
    if any(c in AGENTIC_CATEGORIES for c in cats):
        from .agentic import load_agentic
        from .agentic_generate import AgenticRun, cannot_generate
        agentic_run = AgenticRun(Path(out) / name, embedding_model=embedding_model, max_steps=max_steps,
                                 data_dir=data)
    not_generated = dict(config.get("not_generated") or {})
    for category in cats:
        if category in AGENTIC_CATEGORIES:
            reason = cannot_generate(category, embedding_model=embedding_model)
            if reason:  # said, recorded, never written as results
                say(reason)
                not_generated[category] = reason
                report["not_generated"][category] = reason
                continue
            not_generated.pop(category, None)
            found = load_agentic(category, data)
        elif category == FS_CATEGORY:
            if prompt != "bfcl":
                raise GenerateError(f"{FS_CATEGORY} measures BFCL's own prompt variations (prompt models): "
                                    "--prompt bfcl")
            found = load_format_sensitivity(data)
        else:
            found = (load_multi_turn(category, data) if category in MULTI_TURN_CATEGORIES  # type: ignore[misc]
                     else load_category(category, data))
        entries[category] = dict(found)
        wanted = select_ids(list(found), limit, stratified=stratified, seed=seed, category=category)
        path = result_path(out, name, category)
        done, notes = prepare_result_file(path)
        for note in notes:
            say(note)
        report["notes"] += notes
        plan[category] = [i for i in wanted if i not in done]
        report["categories"][category] = {"path": path, "requested": len(wanted),
                                          "already_done": len(wanted) - len(plan[category]), "generated": 0,
                                          "failed": 0}

    config["not_generated"] = not_generated
    cats = [c for c in cats if c in plan]
    if not any(plan.values()):
        _write_config(config_path, config)
        return report

    generator = given or make_generator(model, backend, tokenizer=tokenizer, temperature=temperature,
                                        max_new_tokens=max_new_tokens, seed=seed, dtype=dtype, base_url=base_url,
                                        concurrency=concurrency)
    _write_config(config_path, {**config, "backend_details": generator.describe()})  # only once the model loaded
    for category in cats:
        todo, stats = plan[category], report["categories"][category]
        path = stats["path"]
        if not todo:
            _sort_file(path, list(entries[category]))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        bar = _progress(len(todo), category, progress)
        try:
            with open(path, "a", encoding="utf-8") as f:
                if category in MULTI_TURN_CATEGORIES or category in AGENTIC_CATEGORIES:
                    if category in AGENTIC_CATEGORIES:
                        from .agentic_generate import run_agentic_entry, warm_up_memory
                        if category.startswith("memory_"):  # BFCL's warm-up dialogues first, per scenario
                            warm_up_memory(category, lambda: make_chat(generator, strip=strip), agentic_run,
                                           sorted({entries[category][i].scenario for i in todo}), log=say)

                        def run_one(entry: Any, chat: Chat) -> Any:
                            return run_agentic_entry(entry, chat, agentic_run)
                    else:
                        def run_one(entry: Any, chat: Chat) -> Any:
                            return run_entry(entry, chat, max_steps=max_steps)  # type: ignore[misc]
                    for entry_id in todo:
                        chat = make_chat(generator, strip=strip)
                        start = time.perf_counter()
                        try:
                            result: Any = run_one(entries[category][entry_id], chat)
                        except InferenceError as e:
                            result = ERROR_PREFIX + str(e)
                            stats["failed"] += 1
                        _append(f, [{"id": entry_id, "result": result, "input_token_count": chat.input_tokens,
                                     "output_token_count": chat.output_tokens,
                                     "latency": round(time.perf_counter() - start, 4)}])
                        stats["generated"] += 1
                        bar.update(1)
                else:
                    prompts = {i: generator.prompt(*build_messages(entries[category][i], prompt)) for i in todo}
                    if generator.renders:  # longest first: similar lengths share a batch, and memory runs out early
                        todo = sorted(todo, key=lambda i: -len(prompts[i].text or ""))
                    for start_at in range(0, len(todo), batch_size):
                        chunk = todo[start_at:start_at + batch_size]
                        start = time.perf_counter()
                        replies = generator.generate([prompts[i] for i in chunk])
                        latency = (time.perf_counter() - start) / len(chunk)
                        rows = [_row(i, r, latency, strip) for i, r in zip(chunk, replies)]
                        _append(f, rows)
                        stats["generated"] += len(rows)
                        stats["failed"] += sum(1 for r in replies if r.error is not None or r.text is None)
                        bar.update(len(chunk))
        finally:
            bar.close()
        _sort_file(path, list(entries[category]))
    return report
