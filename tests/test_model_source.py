"""Where a model comes from (funrl_lib.model_source): local folders and adapters as they are, missing paths and
offline Hub ids with messages that say what to do (in every loader and on the command line), and GGUF files converted
once by transformers' own GGUF loader. The GGUF is a real one, written here from the tiny Qwen2 (tests/gguf_tiny.py):
nothing is downloaded."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("gguf")

from gguf_tiny import write_tiny_gguf  # noqa: E402

from funrl_lib.model_source import (STAMP, ModelNotFound, ResolvedModel, end_of_turn_token,  # noqa: E402
                                    fix_end_of_turn, load_causal_lm, resolve_model)
from funrl_lib.train.config import load_config  # noqa: E402

HUB_ID = "Qwen/Qwen2.5-Coder-7B-Instruct"
IM_END, ENDOFTEXT = "<|im_end|>", "<|endoftext|>"


@pytest.fixture(scope="module")
def tiny(tiny_chatml):
    """The tiny Qwen2 (random, a few thousand parameters) and its ChatML tokenizer: eos <|im_end|>, pad
    <|endoftext|> (tests/conftest.py)."""
    return tiny_chatml


@pytest.fixture(scope="module")
def tiny_dir(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "tiny"
    tiny.tokenizer.save_pretrained(out)
    tiny.model.save_pretrained(out)
    return out


def gguf_of(tiny, folder: Path, name: str = "tiny.gguf", **kw) -> Path:
    """The tiny model as a GGUF file in ``folder`` (declaring eos <|endoftext|>, as Qwen2.5's GGUFs do)."""
    return write_tiny_gguf(tiny.model, tiny.tokenizer, folder / name, **kw)


def peft_config(tmp_path, *sets):
    return load_config(None, ["model.backend=peft", "device=cpu", f"output_dir={tmp_path / 'run'}", *sets])


# ---------------------------------------------------------------------------------------------------------------
# Folders, adapters, missing paths
# ---------------------------------------------------------------------------------------------------------------

def test_a_local_folder_is_used_as_is(tiny_dir):
    assert resolve_model(str(tiny_dir)) == ResolvedModel(str(tiny_dir), "folder", str(tiny_dir))
    assert resolve_model(tiny_dir).kind == "folder"  # a Path too


def test_an_adapter_folder_loads_on_its_base_model(tiny, tiny_dir, tmp_path):
    from peft import LoraConfig, get_peft_model

    adapter = tmp_path / "adapter"
    peft = get_peft_model(copy.deepcopy(tiny.model), LoraConfig(r=2, target_modules=["q_proj"], init_lora_weights=False))
    peft.save_pretrained(adapter)
    config = json.loads((adapter / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = str(tiny_dir)
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    assert resolve_model(adapter) == ResolvedModel(str(adapter), "adapter", str(adapter))

    model, tokenizer = load_causal_lm(adapter, dtype=torch.float32, merge_adapter=True)
    assert type(model).__name__ == "Qwen2ForCausalLM"  # merged: no PEFT wrapper left
    assert tokenizer.eos_token == IM_END and tokenizer.chat_template == tiny.tokenizer.chat_template  # the base's
    ids = torch.tensor([[3, 50, 7, 120]])
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, peft(ids).logits, atol=1e-5)


def test_a_folder_without_a_model_names_what_is_missing(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(ModelNotFound, match=r"is a folder but holds no model: no config.json \(a transformers model"
                                            r"\), no adapter_config.json \(a LoRA adapter\) and no .gguf file"):
        resolve_model(tmp_path)
    (tmp_path / "a.gguf").write_bytes(b"GGUF")
    (tmp_path / "b.gguf").write_bytes(b"GGUF")
    with pytest.raises(ModelNotFound, match=r"several .gguf files \(name one with model.gguf_file\)"):
        resolve_model(tmp_path)


@pytest.mark.parametrize("spec", ["./x", "/a/b", "a/b/c", "../nowhere/model", "~/no-such-funrl-model/x"])
def test_a_missing_path_does_not_exist(spec, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelNotFound, match=rf"model path {spec} does not exist"):
        resolve_model(spec)


def test_missing_or_wrong_files(tmp_path):
    with pytest.raises(ModelNotFound, match=r"GGUF file .*missing.gguf does not exist"):
        resolve_model(tmp_path / "missing.gguf")
    with pytest.raises(ModelNotFound, match=r"GGUF file .*other.gguf does not exist"):
        resolve_model(tmp_path, gguf_file="other.gguf")
    (tmp_path / "weights.bin").write_bytes(b"\0")
    with pytest.raises(ModelNotFound, match=r"is a file but not a GGUF file"):
        resolve_model(tmp_path / "weights.bin")


@pytest.mark.parametrize("spec", [HUB_ID, "gpt2"])
def test_anything_else_is_a_hub_id_and_is_not_fetched_by_resolving(spec):
    assert resolve_model(spec) == ResolvedModel(spec, "hub", spec)


# ---------------------------------------------------------------------------------------------------------------
# A Hub id without network: every loader says what to do
# ---------------------------------------------------------------------------------------------------------------

@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """HF_HUB_OFFLINE=1 and an empty HF_HOME. huggingface_hub reads both when it is imported, so its constants are
    set too (it may have been imported by an earlier test)."""
    from huggingface_hub import constants

    home = tmp_path / "hf-home"
    home.mkdir()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
    return home


def assert_says_what_to_do(message: str, spec: str = HUB_ID) -> None:
    assert f"model {spec!r} is not a local folder or file, so it is read as a Hugging Face Hub id" in message
    assert "needs network access" in message
    assert f"huggingface-cli download {spec} --local-dir DIR" in message and "model.name_or_path: DIR" in message
    assert "point at a GGUF file" in message and "model.gguf_file" in message


def test_load_causal_lm_offline(offline_hub):
    with pytest.raises(ModelNotFound) as e:
        load_causal_lm(HUB_ID)
    assert_says_what_to_do(str(e.value))


def test_load_causal_lm_adapter_on_an_offline_hub_base(offline_hub, tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": HUB_ID, "r": 8}))
    with pytest.raises(ModelNotFound) as e:
        load_causal_lm(adapter)
    assert_says_what_to_do(str(e.value))


def test_load_policy_offline(offline_hub, tmp_path):
    from funrl_lib.train.models import load_policy

    with pytest.raises(ModelNotFound) as e:
        load_policy(peft_config(tmp_path, f"model.name_or_path={HUB_ID}"))
    assert_says_what_to_do(str(e.value))


def test_bfcl_generate_offline(offline_hub, tmp_path, capsys):
    from funrl_lib.bfcl.generate import GenerateError, HFGenerator, generate
    from funrl_lib.cli import main

    with pytest.raises(GenerateError) as e:
        HFGenerator.from_pretrained(HUB_ID, device="cpu")
    assert_says_what_to_do(str(e.value))
    with pytest.raises(GenerateError) as e:
        generate(HUB_ID, categories="simple_python", limit=1, out=tmp_path / "results", progress=False)
    assert_says_what_to_do(str(e.value))
    with pytest.raises(GenerateError, match=r"model path ./nope does not exist"):
        HFGenerator.from_pretrained("./nope", device="cpu")

    code = main(["bfcl", "generate", "--model", HUB_ID, "--backend", "hf", "--categories", "simple_python",
                 "--limit", "1", "--out", str(tmp_path / "results"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("funrl: error: ") and "Traceback" not in err
    assert_says_what_to_do(err)


def test_synthesis_hf_backend_offline(offline_hub):
    from funrl_lib.synth.backends import HFBackend

    with pytest.raises(ModelNotFound) as e:
        HFBackend(HUB_ID, device="cpu")._load()
    assert_says_what_to_do(str(e.value))


@pytest.mark.slow
def test_cli_train_with_an_offline_hub_id_exits_2_without_a_traceback(tmp_path):
    config = tmp_path / "hub.yaml"
    config.write_text(f"name: hub\noutput_dir: {tmp_path / 'run'}\ndevice: cpu\nmodel:\n  backend: peft\n"
                      f"  name_or_path: {HUB_ID}\ngrpo:\n  init: base\n")
    env = {k: v for k, v in os.environ.items() if k not in ("FUNRL_DEBUG", "HF_HUB_CACHE", "TRANSFORMERS_CACHE")}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf-home"))
    out = subprocess.run([sys.executable, "-m", "funrl_lib", "train", "--config", str(config)], capture_output=True,
                         text=True, cwd=tmp_path, env=env, timeout=300)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("funrl train: error: model 'Qwen/")
    assert_says_what_to_do(out.stderr)
    assert "(FUNRL_DEBUG=1 shows the traceback)" in out.stderr


# ---------------------------------------------------------------------------------------------------------------
# GGUF: converted once, equal to the model it was written from
# ---------------------------------------------------------------------------------------------------------------

def test_gguf_is_converted_once_beside_the_file(tiny, tmp_path):
    gguf = gguf_of(tiny, tmp_path)
    said: list[str] = []
    resolved = resolve_model(gguf, log=said.append)
    out = tmp_path / "tiny.hf"
    assert resolved == ResolvedModel(str(out), "gguf", str(gguf))
    assert len(said) == 2 and said[0].startswith(f"converting {gguf} to safetensors in {out}")
    assert (out / "config.json").exists() and (out / "model.safetensors").exists()
    assert (out / "tokenizer.json").exists() and not (tmp_path / "tiny.hf.tmp").exists()
    stamp = json.loads((out / STAMP).read_text())
    st = gguf.stat()
    assert (stamp["gguf"], stamp["size"], stamp["mtime_ns"]) == (str(gguf.resolve()), st.st_size, st.st_mtime_ns)
    weights_mtime = (out / "model.safetensors").stat().st_mtime_ns
    assert "quantization_config" not in json.loads((out / "config.json").read_text())

    # again: the copy is up to date, nothing is converted (not even transformers' GGUF loader is called)
    said.clear()
    assert resolve_model(str(gguf), log=said.append) == resolved
    assert resolve_model(tmp_path, gguf_file="tiny.gguf", log=said.append) == resolved  # from_pretrained's spelling
    assert resolve_model(tmp_path, gguf_file=str(gguf), log=said.append) == resolved    # an absolute gguf_file
    assert said == [] and (out / "model.safetensors").stat().st_mtime_ns == weights_mtime

    # a new modification time: converted again, and the stamp follows
    os.utime(gguf, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    assert resolve_model(gguf, log=said.append) == resolved
    assert len(said) == 2 and said[0].startswith("converting")
    assert json.loads((out / STAMP).read_text())["mtime_ns"] == st.st_mtime_ns + 5_000_000_000

    # convert=False names the folder without converting
    said.clear()
    os.utime(gguf, ns=(st.st_atime_ns, st.st_mtime_ns + 9_000_000_000))
    assert resolve_model(gguf, convert=False, log=said.append) == resolved and said == []


def test_a_folder_with_one_gguf_resolves_to_it(tiny, tmp_path):
    gguf = gguf_of(tiny, tmp_path / "m", name="model.gguf")
    resolved = resolve_model(tmp_path / "m", log=lambda m: None)
    assert resolved == ResolvedModel(str(tmp_path / "m" / "model.hf"), "gguf", str(gguf))
    # the converted folder beside it holds a config.json but no .gguf: the folder still resolves to the file
    assert resolve_model(tmp_path / "m", log=lambda m: None) == resolved
    # ... and the converted folder itself is an ordinary model folder
    assert resolve_model(tmp_path / "m" / "model.hf").kind == "folder"


def test_an_unwritable_folder_converts_into_the_cache(tiny, tmp_path, monkeypatch):
    from funrl_lib import model_source

    gguf = gguf_of(tiny, tmp_path / "ro")
    monkeypatch.setenv("FUNRL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(model_source, "_writable", lambda folder: False)
    resolved = resolve_model(gguf, log=lambda m: None)
    path = Path(resolved.path)
    assert path.parent == tmp_path / "cache" / "models" and path.name.startswith("tiny-") and path.suffix == ".hf"
    assert (path / STAMP).exists() and not (tmp_path / "ro" / "tiny.hf").exists()


@pytest.mark.parametrize("write_output", [False, True], ids=["tied", "output.weight"])
def test_converted_model_computes_what_the_original_does(tiny, tmp_path, write_output):
    from transformers import AutoModelForCausalLM

    gguf = gguf_of(tiny, tmp_path, write_output=write_output)
    model = AutoModelForCausalLM.from_pretrained(resolve_model(gguf, log=lambda m: None).path, dtype=torch.float32)
    assert model.dtype == torch.float32 and model.config.tie_word_embeddings is (not write_output)
    c, o = model.config, tiny.model.config
    for key in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                "num_key_value_heads", "max_position_embeddings"):
        assert getattr(c, key) == getattr(o, key), key
    ids = torch.randint(0, o.vocab_size, (2, 24), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, got = tiny.model(ids).logits, model(ids).logits
    assert expected.abs().max() > 1  # a model that computes something, not zeros
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_converted_tokenizer_ends_turns_at_im_end(tiny, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model(gguf_of(tiny, tmp_path), log=lambda m: None).path  # the file declares eos <|endoftext|>
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    t = tiny.tokenizer
    assert tokenizer.eos_token == IM_END and tokenizer.pad_token == ENDOFTEXT
    assert model.generation_config.eos_token_id == [t.convert_tokens_to_ids(IM_END), t.convert_tokens_to_ids(ENDOFTEXT)]
    assert model.generation_config.pad_token_id == t.convert_tokens_to_ids(ENDOFTEXT)
    for token in ("<|im_start|>", IM_END, ENDOFTEXT):  # the same single tokens
        assert tokenizer.convert_tokens_to_ids(token) == t.convert_tokens_to_ids(token)
    messages = [{"role": "user", "content": "call f with a=1 please"}]
    assert tokenizer.chat_template == t.chat_template
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == t.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = tokenizer(text)["input_ids"]
    assert tokenizer.decode(ids) == text and ids.count(tokenizer.convert_tokens_to_ids("<|im_start|>")) == 2


def test_load_causal_lm_reads_a_gguf(tiny, tmp_path):
    model, tokenizer = load_causal_lm(gguf_of(tiny, tmp_path), dtype=torch.float32, log=lambda m: None)
    assert tokenizer.eos_token == IM_END and IM_END in tokenizer.chat_template
    out = model.generate(**tokenizer("<|im_start|>user\nhi<|im_end|>\n", return_tensors="pt"), max_new_tokens=3,
                         do_sample=False)
    assert out.shape[1] >= 1


@pytest.mark.parametrize("how", ["gguf_file", "name_or_path"])
def test_load_policy_reads_a_gguf_from_the_config(tiny, tmp_path, how):
    from funrl_lib.train.models import base_model_path, load_policy

    gguf = gguf_of(tiny, tmp_path / "models")
    sets = ([f"model.name_or_path={gguf.parent}", "model.gguf_file=tiny.gguf"] if how == "gguf_file"
            else [f"model.name_or_path={gguf}"])
    cfg = peft_config(tmp_path, *sets, "model.lora.r=4")
    assert base_model_path(cfg) == str(gguf.parent / "tiny.hf")
    policy = load_policy(cfg)
    assert policy.backend == "peft" and policy.peft_config.r == 4
    assert type(policy.model).__name__ == "Qwen2ForCausalLM" and policy.model.dtype == torch.float32
    assert policy.tokenizer.eos_token == IM_END and policy.tokenizer.padding_side == "left"
    ids = [policy.tokenizer.convert_tokens_to_ids(t) for t in (IM_END, ENDOFTEXT)]
    assert policy.model.generation_config.eos_token_id == ids
    assert json.loads((gguf.parent / "tiny.hf" / STAMP).read_text())["size"] == gguf.stat().st_size


# ---------------------------------------------------------------------------------------------------------------
# The end-of-turn fix
# ---------------------------------------------------------------------------------------------------------------

def test_fix_end_of_turn(tiny):
    from transformers import GenerationConfig

    tokenizer = copy.deepcopy(tiny.tokenizer)  # ChatML template (turns end with <|im_end|>)
    tokenizer.eos_token = ENDOFTEXT            # ... but eos <|endoftext|>, as in Qwen2.5's GGUF files
    tokenizer.pad_token = None
    im_end, eot = (tokenizer.convert_tokens_to_ids(t) for t in (IM_END, ENDOFTEXT))
    model = SimpleNamespace(generation_config=GenerationConfig(eos_token_id=eot))
    assert end_of_turn_token(tokenizer) == IM_END

    assert fix_end_of_turn(model, tokenizer) is True
    assert tokenizer.eos_token == IM_END and tokenizer.eos_token_id == im_end
    assert tokenizer.pad_token == ENDOFTEXT  # the old eos pads
    assert model.generation_config.eos_token_id == [im_end, eot] and model.generation_config.pad_token_id == eot
    assert fix_end_of_turn(model, tokenizer) is False  # already fixed
    assert model.generation_config.eos_token_id == [im_end, eot]

    # a pad token already there is kept; no model (a tokenizer alone) is fine
    other = copy.deepcopy(tiny.tokenizer)
    other.eos_token = ENDOFTEXT
    other.pad_token = "<|im_start|>"
    assert fix_end_of_turn(None, other) is True and other.eos_token == IM_END and other.pad_token == "<|im_start|>"


def test_no_end_of_turn_fix_without_a_usable_token(tiny):
    tokenizer = copy.deepcopy(tiny.tokenizer)
    tokenizer.eos_token = ENDOFTEXT
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] + '<|eot_id|>' }}{% endfor %}"  # not in vocab
    assert end_of_turn_token(tokenizer) is None and fix_end_of_turn(None, tokenizer) is False
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    assert fix_end_of_turn(None, tokenizer) is False and tokenizer.eos_token == ENDOFTEXT
    tokenizer.chat_template = None
    assert end_of_turn_token(tokenizer) is None
