"""`funrl bfcl generate`: result files in BFCL's layout from a tiny local model (built here, nothing downloaded) and
from the loopback OpenAI server; the exact BFCL prompt reaches the model; resume after a torn line; stratified
selection; the round trip through `funrl bfcl evaluate`; think stripping; the multi-turn plug-in contract; --prompt fc
results in a `<model>-FC` folder (BFCL's convention) that evaluate decodes FC style."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from funrl_lib.bfcl.data import load_category
from funrl_lib.bfcl.checker import gold_calls
from funrl_lib.bfcl.generate import (ERROR_PREFIX, GenerateError, Generator, Reply, build_messages, fc_model_name,
                                     generate, openai_tools, prepare_result_file, resolve_categories, select_ids)
from funrl_lib.bfcl.prompts import BFCL_SYSTEM_PROMPT, with_bfcl_system_prompt
from funrl_lib.calls import render_calls
from funrl_lib.cli import main
from funrl_lib.prompts import FUNRL_SYSTEM

from loopback_server import LoopbackServer, status

CATEGORIES = ("simple_python", "live_simple", "irrelevance")
GROUP = {"simple_python": "non_live", "live_simple": "live", "irrelevance": "non_live"}


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    """A tiny Qwen2 + ChatML tokenizer saved like any model directory. The tokenizer learns from BFCL's own prompt
    text, so prompts are a few hundred tokens, not thousands of bytes."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from funrl_lib.train.tiny import tiny_qwen2, tiny_tokenizer

    texts = [BFCL_SYSTEM_PROMPT, FUNRL_SYSTEM]
    for category in CATEGORIES:
        for entry in list(load_category(category).values())[:20]:
            texts.append(json.dumps(entry.raw_functions, indent=4) + json.dumps(entry.question))
    tokenizer = tiny_tokenizer(texts * 3, vocab_size=800)
    model = tiny_qwen2(tokenizer, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, max_position_embeddings=16384)
    out = tmp_path_factory.mktemp("models") / "tiny-bfcl"
    tokenizer.save_pretrained(out)
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def generated(tiny_dir, tmp_path_factory):
    """One CLI run: three entries of three categories (shared by the layout and round-trip tests)."""
    out = tmp_path_factory.mktemp("results")
    code = main(["bfcl", "generate", "--model", str(tiny_dir), "--backend", "hf", "--categories", ",".join(CATEGORIES),
                 "--limit", "3", "--max-new-tokens", "8", "--batch-size", "2", "--out", str(out), "--no-progress"])
    assert code == 0
    return out


@pytest.fixture
def clean_env(monkeypatch):
    for var in ("FUNRL_OPENAI_BASE_URL", "OPENAI_BASE_URL", "FUNRL_OPENAI_MODEL", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)


def spy_prompts(monkeypatch) -> list[str]:
    """Record every prompt text the HF generator hands to the batch step."""
    from funrl_lib.synth.backends import HFBackend

    seen: list[str] = []
    original = HFBackend._generate

    def recording(self, model, tokenizer, prompts, *args):
        seen.extend(prompts)
        return original(self, model, tokenizer, prompts, *args)

    monkeypatch.setattr(HFBackend, "_generate", recording)
    return seen


class Canned(Generator):
    """A generator without a model: replies from a function of the messages."""

    name = "canned"
    renders = False

    def __init__(self, reply=lambda messages: "[f(a=1)]", **kw):
        super().__init__(**kw)
        self.reply, self.batches = reply, []

    def generate(self, prompts):
        self.batches.append(len(prompts))
        return [Reply(self.reply(p.messages), 10, 3) for p in prompts]


# ---------------------------------------------------------------------------------------------------------------------


def test_files_land_at_bfcl_paths_with_the_requested_ids(generated, tiny_dir):
    model_dir = generated / tiny_dir.name
    for category in CATEGORIES:
        path = model_dir / GROUP[category] / f"BFCL_v4_{category}_result.json"
        rows = read_rows(path)
        assert [r["id"] for r in rows] == list(load_category(category))[:3]  # dataset order once finished
        for r in rows:
            assert set(r) >= {"id", "result", "input_token_count", "output_token_count", "latency"}
            assert isinstance(r["result"], str) and r["input_token_count"] > 50 and 1 <= r["output_token_count"] <= 8
            assert r["latency"] >= 0
    config = json.loads((model_dir / "generation_config.json").read_text())
    assert config["model"] == str(tiny_dir) and config["backend"] == "hf" and config["prompt"] == "bfcl"
    assert config["categories"] == list(CATEGORIES) and config["limit"] == 3 and config["temperature"] == 0.001
    assert config["max_new_tokens"] == 8 and config["data_version"].startswith("bfcl-eval==")
    assert config["backend_details"]["greedy"] is True and config["strip_think"] is False


def test_bfcl_prompt_is_bfcls_system_prompt_rendered_by_the_chat_template(tiny_dir, tmp_path, monkeypatch):
    from transformers import AutoTokenizer

    seen = spy_prompts(monkeypatch)
    generate(str(tiny_dir), categories="live_simple", limit=2, max_new_tokens=4, out=tmp_path, progress=False)
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    entries = list(load_category("live_simple").values())[:2]
    expected = [tokenizer.apply_chat_template(with_bfcl_system_prompt(e.question[0], e.raw_functions, "live_simple"),
                                              tokenize=False, add_generation_prompt=True) for e in entries]
    assert sorted(seen) == sorted(expected)
    assert all(p.startswith("<|im_start|>system\nYou are an expert in composing functions.You are given")
               and p.endswith("<|im_start|>assistant\n") for p in seen)


def test_funrl_and_fc_prompts(tiny_dir, tmp_path, monkeypatch):
    entry = load_category("simple_python")["simple_python_0"]
    messages, tools = build_messages(entry, "funrl")
    assert tools is None and messages[0]["role"] == "system" and messages[1:] == entry.question[0]
    assert messages[0]["content"].startswith(FUNRL_SYSTEM.split("{functions}")[0])
    assert "Note that the provided function is in Python 3 syntax." in messages[0]["content"]
    messages, tools = build_messages(entry, "fc")
    assert messages == entry.question[0]
    assert tools == openai_tools(entry.raw_functions)
    assert tools[0]["type"] == "function" and tools[0]["function"]["parameters"]["type"] == "object"
    assert "x-bfcl-type" not in json.dumps(tools)
    # the tiny ChatML template ignores tools=: fc is refused rather than silently sending no tools
    with pytest.raises(GenerateError, match="ignores tools"):
        generate(str(tiny_dir), categories="simple_python", limit=1, prompt="fc", max_new_tokens=2, out=tmp_path,
                 progress=False)
    with pytest.raises(GenerateError, match="--prompt fc is not available with the openai backend"):
        generate("served", backend="openai", categories="simple_python", prompt="fc", out=tmp_path)
    # a template that renders tools gets them
    from transformers import AutoTokenizer

    tok_dir = tmp_path / "fc-model"
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    tokenizer.chat_template = ("{% if tools %}<|im_start|>system\n<tools>{{ tools | tojson }}</tools><|im_end|>\n"
                               "{% endif %}" + tokenizer.chat_template)
    tokenizer.save_pretrained(tok_dir)
    for f in ("config.json", "model.safetensors", "generation_config.json"):
        if (tiny_dir / f).exists():
            (tok_dir / f).write_bytes((tiny_dir / f).read_bytes())
    seen = spy_prompts(monkeypatch)
    report = generate(str(tok_dir), categories="simple_python", limit=1, prompt="fc", max_new_tokens=2,
                      out=tmp_path / "fc", progress=False)
    assert len(seen) == 1 and '"name": "calculate_triangle_area"' in seen[0] and '"type": "object"' in seen[0]
    # BFCL's convention: the default folder name of an fc run ends in -FC, so evaluate decodes it FC style
    assert report["model_name"] == "fc-model-FC"
    assert (tmp_path / "fc" / "fc-model-FC" / "non_live" / "BFCL_v4_simple_python_result.json").exists()


class CannedFC(Canned):
    """A generator without a model that renders prompts itself (so --prompt fc is allowed) and answers every
    question with the gold answer as a Hermes <tool_call> block, after a think block."""

    renders = True

    def __init__(self, **kw):
        super().__init__(**kw)
        self.tools_seen = []

    def render(self, messages, tools=None):
        return json.dumps({"messages": messages, "tools": tools})

    def generate(self, prompts):
        self.tools_seen += [p.tools for p in prompts]
        replies = []
        for p in prompts:
            question = p.messages[-1]["content"]
            entry = next(e for e in load_category("simple_python").values() if e.question[0][-1]["content"] == question)
            replies.append(Reply("<think>\nuse the tool\n</think>\n\n"
                                 + render_calls(gold_calls(entry.possible_answer), "qwen_fc"), 10, 3))
        return replies


def test_fc_results_go_to_an_fc_folder_and_are_scored_fc_style(tmp_path, capsys):
    said = []
    generator = CannedFC()
    report = generate(generator, model_name="tiny", categories="simple_python", limit=3, prompt="fc", out=tmp_path,
                      progress=False, log=said.append)
    assert report["model_name"] == "tiny-FC" and report["dir"] == tmp_path / "tiny-FC"
    assert any("results go to 'tiny-FC'" in m for m in said)
    assert all(tools and tools[0]["type"] == "function" for tools in generator.tools_seen)
    config = json.loads((tmp_path / "tiny-FC" / "generation_config.json").read_text())
    assert config["model_name"] == "tiny-FC" and config["prompt"] == "fc"
    rows = read_rows(tmp_path / "tiny-FC" / "non_live" / "BFCL_v4_simple_python_result.json")
    assert len(rows) == 3 and all(r["result"].startswith("<think>") and "<tool_call>\n{" in r["result"] for r in rows)
    # a name that already ends in -FC is kept, and the run resumes there (nothing left to do)
    said.clear()
    again = generate(CannedFC(), model_name="tiny-FC", categories="simple_python", limit=3, prompt="fc", out=tmp_path,
                     progress=False, log=said.append)
    assert again["model_name"] == "tiny-FC" and again["categories"]["simple_python"]["generated"] == 0 and not said
    # the other prompts refuse an -FC name: evaluate would decode their results FC style
    for prompt in ("bfcl", "funrl"):
        with pytest.raises(GenerateError, match="ends in '-FC'"):
            generate(Canned(), model_name="tiny-FC", categories="simple_python", limit=1, prompt=prompt, out=tmp_path,
                     progress=False)
    assert fc_model_name("Qwen_Qwen2.5-Coder-0.5B-Instruct", "fc") == "Qwen_Qwen2.5-Coder-0.5B-Instruct-FC"
    assert fc_model_name("Qwen_Qwen2.5-Coder-0.5B-Instruct", "bfcl") == "Qwen_Qwen2.5-Coder-0.5B-Instruct"
    # evaluate: FC decoding chosen by the folder name alone; the raw think + <tool_call> replies are all correct
    assert main(["bfcl", "evaluate", "--results", str(tmp_path), "--out", str(tmp_path / "eval")]) == 0
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    row = summary["categories"]["simple_python"]
    assert (row["correct"], row["total"], row["decoding"]) == (3, 3, "fc")


def test_resume_after_a_torn_line_generates_only_what_is_missing(tiny_dir, tmp_path, monkeypatch):
    args = dict(categories="simple_python", limit=4, max_new_tokens=4, out=tmp_path, progress=False)
    report = generate(str(tiny_dir), **args)
    path = report["categories"]["simple_python"]["path"]
    rows = read_rows(path)
    assert len(rows) == 4
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    path.write_text("".join(lines[:3]) + lines[3][: len(lines[3]) // 2])  # crash mid-write of the last line
    seen = spy_prompts(monkeypatch)
    report = generate(str(tiny_dir), **args)
    stats = report["categories"]["simple_python"]
    assert (stats["already_done"], stats["generated"]) == (3, 1) and len(seen) == 1
    assert any("not a complete JSON line" in n for n in report["notes"])
    ids = [r["id"] for r in read_rows(path)]
    assert ids == [f"simple_python_{i}" for i in range(4)]
    # nothing left: the model is not even loaded
    seen.clear()
    report = generate(str(tiny_dir), **args)
    assert report["categories"]["simple_python"]["generated"] == 0 and seen == []
    assert [r["id"] for r in read_rows(path)] == ids


def test_stratified_limit_is_deterministic_and_spreads_over_the_category(tmp_path):
    ids = list(load_category("simple_python"))
    n = len(ids)
    picked = select_ids(ids, 5, stratified=True, seed=0, category="simple_python")
    assert picked == select_ids(ids, 5, stratified=True, seed=0, category="simple_python")
    assert picked != select_ids(ids, 5, stratified=True, seed=1, category="simple_python")
    positions = [ids.index(i) for i in picked]
    assert positions == sorted(positions)
    assert all(k * n // 5 <= p < (k + 1) * n // 5 for k, p in enumerate(positions))  # one per fifth of the file
    assert select_ids(ids, 5) == ids[:5] and select_ids(ids, n + 10, stratified=True) == ids
    with pytest.raises(GenerateError, match="--stratified needs --limit"):
        select_ids(ids, None, stratified=True)
    # generate writes exactly those ids
    report = generate(Canned(), model_name="canned", categories="simple_python", limit=5, stratified=True,
                      out=tmp_path, progress=False)
    assert [r["id"] for r in read_rows(report["categories"]["simple_python"]["path"])] == picked


def test_round_trip_through_evaluate(generated, tmp_path, capsys):
    assert main(["bfcl", "evaluate", "--results", str(generated), "--out", str(tmp_path / "eval")]) == 0
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert sorted(summary["categories"]) == sorted(CATEGORIES)
    assert all(r["total"] == 3 and not r["complete"] for r in summary["categories"].values())
    assert summary["problems"] == []


def test_unknown_and_unsupported_categories_are_clear_errors(tmp_path, capsys):
    base = ["bfcl", "generate", "--model", str(tmp_path / "no-model"), "--out", str(tmp_path)]
    assert main(base + ["--categories", "simple_python,simple_pyhton"]) == 2
    err = capsys.readouterr().err
    assert "unknown BFCL category 'simple_pyhton'" in err and "live_simple" in err
    assert resolve_categories("simple_java,memory_kv,format_sensitivity") == ["simple_java", "memory_kv",
                                                                               "format_sensitivity"]
    assert not any(tmp_path.rglob("*.json"))  # refused before anything is written
    assert resolve_categories("live,irrelevance") == ["live_simple", "live_multiple", "live_parallel",
                                                      "live_parallel_multiple", "live_irrelevance", "live_relevance",
                                                      "irrelevance"]


def test_openai_backend_against_the_loopback_server(tmp_path, clean_env):
    with LoopbackServer() as server:
        server.script(status(400, "prompt too long"))  # the first request fails for good (4xx is not retried)
        args = dict(backend="openai", base_url=server.base_url, categories="simple_python,irrelevance", limit=2,
                    max_new_tokens=16, out=tmp_path, progress=False, concurrency=4)
        report = generate("org/served-model", **args)
        assert report["model_name"] == "org_served-model"
        failed = sum(s["failed"] for s in report["categories"].values())
        assert failed == 1 and server.calls == 4
        body = server.received[1].body
        assert body["model"] == "org/served-model" and body["max_tokens"] == 16 and body["temperature"] == 0.001
        entry_ids = {"simple_python": ["simple_python_0", "simple_python_1"],
                     "irrelevance": ["irrelevance_0", "irrelevance_1"]}
        sent = [r.body["messages"] for r in server.received]
        for category, ids in entry_ids.items():
            for entry_id in ids:
                entry = load_category(category)[entry_id]
                assert with_bfcl_system_prompt(entry.question[0], entry.raw_functions, category) in sent
        path = tmp_path / "org_served-model" / "non_live" / "BFCL_v4_simple_python_result.json"
        errors = [r for c in entry_ids for r in read_rows(report["categories"][c]["path"])
                  if r["result"].startswith(ERROR_PREFIX)]
        assert len(errors) == 1 and "prompt too long" in errors[0]["result"]
        # a re-run retries the failed entry only
        report = generate("org/served-model", **args)
        assert server.calls == 5 and sum(s["generated"] for s in report["categories"].values()) == 1
    for category, ids in entry_ids.items():
        rows = read_rows(report["categories"][category]["path"])
        assert [r["id"] for r in rows] == ids
        assert all(r["result"].startswith("echo ") and r["output_token_count"] > 0 for r in rows)
    assert path.exists()


def test_think_blocks_are_kept_raw_and_stripped_when_asked(tmp_path):
    think = "<think>the user wants the area</think>\n[f(a=1)]"
    for prompt, strip, expected in (("funrl", None, "[f(a=1)]"), ("bfcl", None, think), ("bfcl", True, "[f(a=1)]")):
        out = tmp_path / f"{prompt}-{strip}"
        report = generate(Canned(lambda m: think), model_name="m", categories="simple_python", limit=1,
                          prompt=prompt, strip_think=strip, out=out, progress=False)
        [row] = read_rows(report["categories"]["simple_python"]["path"])
        assert row["result"] == expected and row["result_raw"] == think
    report = generate(Canned(), model_name="m", categories="simple_python", limit=1, out=tmp_path / "plain",
                      progress=False)
    [row] = read_rows(report["categories"]["simple_python"]["path"])
    assert row == {"id": "simple_python_0", "result": "[f(a=1)]", "input_token_count": 10, "output_token_count": 3,
                   "latency": row["latency"]}


def test_a_folder_keeps_one_set_of_generation_settings(tmp_path):
    generate(Canned(), model_name="m", categories="simple_python", limit=1, out=tmp_path, progress=False)
    with pytest.raises(GenerateError, match="generated with temperature=0.001, not 0.7"):
        generate(Canned(temperature=0.7), model_name="m", categories="simple_python", limit=1, temperature=0.7,
                 out=tmp_path, progress=False)
    report = generate(Canned(), model_name="m", categories="irrelevance", limit=1, out=tmp_path, progress=False)
    assert json.loads(report["config"].read_text())["categories"] == ["simple_python", "irrelevance"]


def test_prepare_result_file_drops_bad_and_failed_lines(tmp_path):
    path = tmp_path / "BFCL_v4_simple_python_result.json"
    path.write_text("\n".join([json.dumps({"id": "a", "result": "x"}), "[1, 2]",
                               json.dumps({"id": "b", "result": ERROR_PREFIX + "HTTP 500"}),
                               json.dumps({"id": "a", "result": "again"}), json.dumps({"id": "c", "result": "z"}),
                               '{"id": "d", "res']))
    done, notes = prepare_result_file(path)
    assert done == {"a", "c"} and len(notes) == 4
    assert [r["id"] for r in read_rows(path)] == ["a", "c"] and path.read_text().endswith("\n")


def test_multi_turn_categories_plug_into_the_multi_turn_module(tmp_path, monkeypatch, clean_env):
    fake = types.ModuleType("funrl_lib.bfcl.multi_turn")
    conversations = {f"multi_turn_base_{i}": {"id": f"multi_turn_base_{i}", "turns": ["ls", "cd"]} for i in range(5)}
    fake.load_multi_turn = lambda category, data_dir: dict(conversations)

    def run_entry(entry, chat, max_steps=20):
        history = [{"role": "system", "content": "sys"}]
        out = []
        for turn in entry["turns"]:
            history.append({"role": "user", "content": f"{entry['id']} {turn}"})
            reply = chat(history)
            history.append({"role": "assistant", "content": reply})
            out.append([reply])
        return out

    fake.run_entry = run_entry
    monkeypatch.setitem(sys.modules, "funrl_lib.bfcl.multi_turn", fake)
    with LoopbackServer() as server:
        report = generate("loopback", backend="openai", base_url=server.base_url, categories="multi_turn_base",
                          limit=2, out=tmp_path, progress=False)
        assert server.calls == 4
    path = tmp_path / "loopback" / "multi_turn" / "BFCL_v4_multi_turn_base_result.json"
    assert report["categories"]["multi_turn_base"]["path"] == path
    rows = read_rows(path)
    assert [r["id"] for r in rows] == ["multi_turn_base_0", "multi_turn_base_1"]
    assert all(len(r["result"]) == 2 and r["result"][1][0].startswith("echo ") and r["input_token_count"] > 0
               for r in rows)
    with pytest.raises(GenerateError, match="multi-turn generation uses BFCL's prompting mode"):
        generate("loopback", backend="openai", categories="multi_turn_base", prompt="funrl", out=tmp_path)
    monkeypatch.setitem(sys.modules, "funrl_lib.bfcl.multi_turn", types.ModuleType("funrl_lib.bfcl.multi_turn"))
    with pytest.raises(GenerateError, match="multi-turn generation is not available: .*load_multi_turn"):
        generate("loopback", backend="openai", categories="multi_turn_base", out=tmp_path)


def test_a_lora_adapter_directory_loads_on_its_base(tiny_dir, tmp_path):
    peft = pytest.importorskip("peft")
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_dir)
    adapted = peft.get_peft_model(base, peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                        task_type="CAUSAL_LM"))
    adapter_dir = tmp_path / "adapter"
    adapted.save_pretrained(adapter_dir)
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(tiny_dir)
    report = generate(str(adapter_dir), categories="irrelevance", limit=1, max_new_tokens=3, out=tmp_path / "res",
                      progress=False)
    assert report["model_name"] == "adapter"
    [row] = read_rows(report["categories"]["irrelevance"]["path"])
    assert row["id"] == "irrelevance_0" and 1 <= row["output_token_count"] <= 3
    details = json.loads(report["config"].read_text())["backend_details"]
    assert details["adapter_base"] == str(tiny_dir)
