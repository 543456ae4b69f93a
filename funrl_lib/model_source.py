"""Where a model comes from: a Hub id, a local folder, or a GGUF file, resolved to a folder transformers loads fast.

``resolve_model(spec, gguf_file=None)`` is the one place every stage (``funrl sft/train``, ``funrl bfcl generate
--backend hf``, the ``hf`` synthesis backend, the notebooks) turns a model name into something to load:

* **a local folder** (``config.json`` inside, or a LoRA adapter folder with ``adapter_config.json``) is used as is;
* **a GGUF file** (``spec`` ending in ``.gguf``, or ``spec`` a folder and ``gguf_file`` the file name in it, as in
  ``from_pretrained(DIR, gguf_file=...)``) is converted **once** with transformers' GGUF loader (needs ``gguf``):
  de-quantized to float32 and saved as safetensors in ``<stem>.hf/`` beside the file (or, when that folder cannot be
  written, under ``$FUNRL_CACHE``, default ``~/.cache/funrl/models``). A ``converted.json`` stamp records the file's
  size and modification time; a changed file is converted again. Later loads read the safetensors copy in seconds;
* **anything else** is a Hub id, passed to ``from_pretrained`` unchanged. When the Hub cannot be reached (no network,
  ``HF_HUB_OFFLINE=1``) and nothing is cached, :class:`ModelNotFound` says what to do: download it where there is
  network access, or point ``model.name_or_path`` at a local copy or a GGUF file.

Two traps of GGUF chat models are fixed in the converted copy (both seen with Qwen2.5-Coder-0.5B-Instruct's GGUF):
the tokenizer's ``eos`` is ``<|endoftext|>`` while the chat template ends each assistant turn with ``<|im_end|>``, so
generation would run on to the length limit; the copy's tokenizer ends turns with the template's end-of-turn token and
its ``generation_config.eos_token_id`` lists both. And ``save_pretrained`` refuses a GGUF-loaded model until its
quantizer and ``quantization_config`` are dropped (the weights are plain float32 by then).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ModelNotFound", "ResolvedModel", "cache_root", "convert_gguf", "end_of_turn_token", "fix_end_of_turn",
           "hub_error", "load_causal_lm", "resolve_model"]

STAMP = "converted.json"


class ModelNotFound(FileNotFoundError):
    """The model named in a config or on the command line cannot be found; the message says what to do."""


@dataclass(frozen=True)
class ResolvedModel:
    path: str
    """What ``from_pretrained`` gets: a local folder or a Hub id."""
    kind: str
    """``folder``, ``adapter``, ``gguf`` (a converted copy) or ``hub``."""
    source: str
    """What the user named (the GGUF file, the folder, the id)."""


def cache_root() -> Path:
    return Path(os.environ.get("FUNRL_CACHE") or Path.home() / ".cache" / "funrl") / "models"


def _gguf_path(spec: str, gguf_file: str | None) -> Path | None:
    if gguf_file:
        g = Path(gguf_file).expanduser()
        if not g.is_absolute() and Path(spec).expanduser().is_dir():
            g = Path(spec).expanduser() / g
        return g
    if spec.lower().endswith(".gguf"):
        return Path(spec).expanduser()
    return None


def _stamp_of(gguf: Path) -> dict[str, Any]:
    st = gguf.stat()
    return {"gguf": str(gguf.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".funrl-write-probe"
        probe.write_text("")
        probe.unlink()
        return True
    except OSError:
        return False


def converted_dir(gguf: Path) -> Path:
    """Where the safetensors copy of ``gguf`` lives: ``<stem>.hf/`` beside it if that can be written, else in the
    cache (named by the file's stem and a digest of its absolute path)."""
    beside = gguf.with_name(gguf.stem + ".hf")
    if beside.exists() or _writable(gguf.parent):
        return beside
    import hashlib
    digest = hashlib.sha256(str(gguf.resolve()).encode()).hexdigest()[:12]
    return cache_root() / f"{gguf.stem}-{digest}.hf"


def end_of_turn_token(tokenizer: Any) -> str | None:
    """The token the chat template closes an assistant turn with (``<|im_end|>`` for ChatML templates such as
    Qwen's), if the template renders one and the vocabulary has it as a single token; else None."""
    template = getattr(tokenizer, "chat_template", None)
    if not isinstance(template, str):
        return None
    for token in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>"):
        if token in template:
            ids = tokenizer.convert_tokens_to_ids(token)
            if isinstance(ids, int) and ids != getattr(tokenizer, "unk_token_id", None):
                return token
    return None


def fix_end_of_turn(model: Any, tokenizer: Any) -> bool:
    """Make generation stop at the chat template's end-of-turn token: the tokenizer's ``eos`` becomes that token (a
    pad token is kept or set to the old eos) and ``generation_config.eos_token_id`` lists both. True if changed."""
    eot = end_of_turn_token(tokenizer)
    if eot is None or tokenizer.eos_token == eot:
        return False
    old = tokenizer.eos_token
    if tokenizer.pad_token is None and old is not None:
        tokenizer.pad_token = old
    tokenizer.eos_token = eot
    if model is not None and getattr(model, "generation_config", None) is not None:
        ids = [tokenizer.convert_tokens_to_ids(eot)]
        if old is not None:
            ids.append(tokenizer.convert_tokens_to_ids(old))
        model.generation_config.eos_token_id = ids
        if model.generation_config.pad_token_id is None:
            model.generation_config.pad_token_id = tokenizer.pad_token_id
    return True


def convert_gguf(gguf: str | os.PathLike, out: str | os.PathLike | None = None, *, log: Any = None) -> Path:
    """Convert a GGUF file to a float32 safetensors folder (model + tokenizer + chat template) once; returns it.
    An up-to-date copy (same file size and modification time) is reused."""
    gguf = Path(gguf).expanduser()
    if not gguf.is_file():
        raise ModelNotFound(f"GGUF file {gguf} does not exist (for Qwen2.5-Coder-0.5B-Instruct, fetch it first; "
                            f"see the README, 'A real model')")
    out = Path(out) if out else converted_dir(gguf)
    stamp = _stamp_of(gguf)
    stamp_file = out / STAMP
    if stamp_file.exists():
        try:
            if {k: v for k, v in json.loads(stamp_file.read_text()).items() if k in stamp} == stamp:
                return out
        except ValueError:
            pass
    try:
        import gguf as _gguf  # noqa: F401  (transformers' loader needs it; say so before a long import)
    except ImportError:
        raise ModelNotFound(f"{gguf}: reading GGUF files needs the gguf package: pip install gguf "
                            "(pinned in requirements.txt)") from None
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    say = log or (lambda m: print(m, file=sys.stderr))
    say(f"converting {gguf} to safetensors in {out} (once; 1-3 min on a small CPU)")
    start = time.time()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    model.hf_quantizer = None  # save_pretrained refuses a quantized model; the weights are float32 now
    for holder in (model.config, getattr(model, "generation_config", None)):
        if holder is not None and hasattr(holder, "quantization_config"):
            delattr(holder, "quantization_config")
    if hasattr(model, "is_quantized"):
        try:
            model.is_quantized = False
        except AttributeError:
            pass
    fix_end_of_turn(model, tokenizer)
    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    (tmp / STAMP).write_text(json.dumps({**stamp, "seconds": round(time.time() - start, 1)}, indent=1) + "\n")
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    say(f"converted in {time.time() - start:.0f} s: {out}")
    return out


def hub_error(spec: str, err: BaseException | None = None) -> ModelNotFound:
    """The :class:`ModelNotFound` for a Hub id that could not be loaded (``err``: what the loader raised), saying what
    to do instead; every loader that takes a model spec raises this one."""
    why = f" ({type(err).__name__}: {str(err).splitlines()[0][:200]})" if err else ""
    return ModelNotFound(
        f"model {spec!r} is not a local folder or file, so it is read as a Hugging Face Hub id, and it could not be "
        f"loaded{why}. A Hub id needs network access (or a copy in the Hub cache). Either download it where there is "
        f"network (`huggingface-cli download {spec} --local-dir DIR`) and set model.name_or_path: DIR (--model DIR), "
        "or point at a GGUF file (model.name_or_path: FILE.gguf, or model.gguf_file)")


def resolve_model(spec: str | os.PathLike, gguf_file: str | None = None, *, convert: bool = True,
                  log: Any = None) -> ResolvedModel:
    """What to hand ``from_pretrained`` for ``spec`` (see the module docstring). A GGUF is converted here unless
    ``convert`` is False (then its would-be folder is returned)."""
    spec = str(spec)
    gguf = _gguf_path(spec, gguf_file)
    if gguf is not None:
        if not gguf.is_file():
            raise ModelNotFound(f"GGUF file {gguf} does not exist")
        path = convert_gguf(gguf, log=log) if convert else converted_dir(gguf)
        return ResolvedModel(str(path), "gguf", str(gguf))
    p = Path(spec).expanduser()
    if p.is_dir():
        if (p / "adapter_config.json").exists():
            return ResolvedModel(str(p), "adapter", spec)
        if (p / "config.json").exists():
            return ResolvedModel(str(p), "folder", spec)
        ggufs = sorted(p.glob("*.gguf"))
        if len(ggufs) == 1:
            return resolve_model(ggufs[0], convert=convert, log=log)
        raise ModelNotFound(f"{p} is a folder but holds no model: no config.json (a transformers model), no "
                            f"adapter_config.json (a LoRA adapter) and {'several' if ggufs else 'no'} .gguf file"
                            f"{'s (name one with model.gguf_file)' if ggufs else ''}")
    if p.exists():
        raise ModelNotFound(f"{p} is a file but not a GGUF file (.gguf); give a model folder, a GGUF file or a Hub id")
    # A Hub id is "name" or "org/name"; anything else that does not exist is a missing path.
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1 or "\\" in spec:
        raise ModelNotFound(f"model path {spec} does not exist")
    return ResolvedModel(spec, "hub", spec)


def load_causal_lm(spec: str | os.PathLike, *, gguf_file: str | None = None, dtype: Any = "auto",
                   device: str | None = None, merge_adapter: bool = False, log: Any = None,
                   **kwargs: Any) -> tuple[Any, Any]:
    """(model, tokenizer) for any model spec: folder, adapter folder (on its base model; merged if asked), GGUF or
    Hub id, with the end-of-turn fix applied. Errors that mean "not found" become :class:`ModelNotFound`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    resolved = resolve_model(spec, gguf_file, log=log)
    tok_source = resolved.path
    try:
        if resolved.kind == "adapter":
            from peft import PeftModel
            base = json.loads((Path(resolved.path) / "adapter_config.json").read_text()).get("base_model_name_or_path")
            if not base:
                raise ModelNotFound(f"{resolved.path}/adapter_config.json names no base_model_name_or_path")
            base_resolved = resolve_model(base, log=log)
            base_path = base_resolved.path
            try:
                model = AutoModelForCausalLM.from_pretrained(base_path, dtype=dtype, **kwargs)
            except OSError as e:  # an adapter on a Hub base that cannot be reached: the same advice
                if base_resolved.kind == "hub" and not isinstance(e, ModelNotFound):
                    raise hub_error(base_path, e) from None
                raise
            model = PeftModel.from_pretrained(model, resolved.path)
            if merge_adapter:
                model = model.merge_and_unload()
            if not (Path(resolved.path) / "tokenizer_config.json").exists():
                tok_source = base_path
        else:
            model = AutoModelForCausalLM.from_pretrained(resolved.path, dtype=dtype, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(tok_source)
    except OSError as e:
        if resolved.kind == "hub":
            raise hub_error(resolved.path, e) from None
        raise
    fix_end_of_turn(model, tokenizer)
    if device:
        model = model.to(device)
    return model, tokenizer
