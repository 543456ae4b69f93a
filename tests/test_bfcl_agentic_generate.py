"""Agentic generation (funrl_lib.bfcl.agentic_generate): memory_kv and memory_rec_sum run offline on BFCL's own
backends with its warm-up dialogues, the memory a warm-up stored reaches the question's system prompt as BFCL builds
it, results land in BFCL's layout and `funrl bfcl evaluate` scores them; categories that cannot run here (web search
offline, memory_vector without an embedding model) are skipped with a clear line and never become zeros silently."""

from __future__ import annotations

import copy
import json

import pytest

from funrl_lib.bfcl.agentic import load_agentic
from funrl_lib.bfcl.agentic_generate import cannot_generate, memory_prereqs, prereq_path
from funrl_lib.bfcl.evaluate import evaluate_results
from funrl_lib.bfcl.generate import Generator, Reply, generate
from funrl_lib.cli import main

ANSWER = "{'answer': 'Michael', 'context': 'from memory'}"


class MemoryModel(Generator):
    """Stores the user's name during the warm-up, looks it up and answers during the questions."""

    name = "canned"
    renders = False

    def __init__(self, store_call: str, lookup_call: str, **kw):
        super().__init__(**kw)
        self.store_call, self.lookup_call = store_call, lookup_call
        self.conversations: list[list[dict]] = []

    def reply(self, messages: list[dict]) -> str:
        self.conversations.append(messages)
        last = messages[-1]["content"]
        if last.startswith("[{'role': 'tool'"):  # execution results came back
            return ANSWER if "answer" in messages[0]["content"] else "Noted."
        return self.lookup_call if "answer" in messages[0]["content"] else self.store_call

    def generate(self, prompts):
        return [Reply(self.reply(p.messages), 10, 3) for p in prompts]


def test_what_cannot_run_here_says_why():
    assert cannot_generate("memory_kv") is None and cannot_generate("memory_rec_sum") is None
    assert "SERPAPI_API_KEY" in cannot_generate("web_search_base", environ={})
    assert "network access" in cannot_generate("web_search_no_snippet", environ={})
    keyed = cannot_generate("web_search_base", environ={"SERPAPI_API_KEY": "k"})
    assert keyed is None or "pip install" in keyed
    assert "--embedding-model PATH" in cannot_generate("memory_vector")
    assert "not a folder" in cannot_generate("memory_vector", embedding_model="/no/such/model")


def test_warm_up_dialogues_are_bfcls():
    prereqs = memory_prereqs("memory_kv")
    assert list(prereqs) == ["student", "customer", "finance", "healthcare", "notetaker"]
    assert prereqs["customer"][0]["id"] == "memory_kv_prereq_0-customer-0"
    assert all(len(d["question"]) >= 1 for dialogues in prereqs.values() for d in dialogues)


@pytest.mark.parametrize("category,store,lookup", [
    ("memory_kv", "[core_memory_add(key='first_name', value='Michael')]", "[core_memory_retrieve_all()]"),
    ("memory_rec_sum", "[memory_append(text='The user is called Michael.')]", "[memory_retrieve()]"),
])
def test_memory_generation_offline_then_evaluate(tmp_path, bfcl_utils, category, store, lookup):
    handler_utils, bfcl_utils_mod = bfcl_utils
    model = MemoryModel(store, lookup)
    report = generate(model, categories=f"{category},memory_vector,web_search_base", out=tmp_path, limit=2,
                      model_name="m", progress=False, log=lambda m: None)
    # the two categories that cannot run here: skipped with their reasons, recorded, no file written
    assert set(report["not_generated"]) == {"memory_vector", "web_search_base"}
    config = json.loads((tmp_path / "m" / "generation_config.json").read_text())
    assert set(config["not_generated"]) == {"memory_vector", "web_search_base"}
    assert not list((tmp_path / "m").rglob("BFCL_v4_web_search_base_result.json"))
    backend = category[len("memory_"):]
    folder = tmp_path / "m" / "agentic" / "memory" / backend
    assert report["categories"][category]["generated"] == 2
    # BFCL's warm-up: the customer scenario's dialogues ran first, memory flushed to BFCL's snapshot files
    warm = [json.loads(line) for line in prereq_path(tmp_path / "m", category).read_text().splitlines()]
    assert [w["id"] for w in warm] == [d["id"] for d in memory_prereqs(category)["customer"]]
    assert (folder / "memory_snapshot" / "customer_final.json").exists()
    assert "Michael" in (folder / "memory_snapshot" / "customer_final.json").read_text()
    # the questions: BFCL's system message (its prompt, memory instructions with the stored memory, answer format)
    rows = [json.loads(line) for line in (folder / f"BFCL_v4_{category}_result.json").read_text().splitlines()]
    assert [r["id"] for r in rows] == list(load_agentic(category))[:2]
    assert rows[0]["result"] == [[lookup, ANSWER]]
    question_prompts = [c for c in model.conversations if "'answer'" in c[0]["content"] and len(c) == 2]
    entry = load_agentic(category)[rows[0]["id"]]
    system = question_prompts[0][0]["content"]
    assert "Michael" in system  # the warm-up memory, shown as BFCL shows the core memory
    # BFCL's own construction of the same system message, from the same memory content
    from bfcl_eval.constants import default_prompts as dp
    question = copy.deepcopy(entry.question)
    question[0].insert(0, {"role": "system", "content": dp.ADDITIONAL_SYSTEM_PROMPT_FOR_AGENTIC_RESPONSE_FORMAT})
    template = dp.MEMORY_BACKEND_INSTRUCTION_UNIFIED if backend == "rec_sum" else \
        dp.MEMORY_BACKEND_INSTRUCTION_CORE_ARCHIVAL
    memory_text = system.split("from previous interactions:\n", 1)[1].split("\n\n", 1)[0]
    question[0][0]["content"] = (template.format(scenario_setting=dp.MEMORY_AGENT_SETTINGS["customer"],
                                                 memory_content=memory_text) + "\n\n" + question[0][0]["content"])
    docs = [json.loads(line) for line in open(bfcl_utils_mod.MULTI_TURN_FUNC_DOC_PATH / f"memory_{backend}.json")]
    docs = bfcl_utils_mod._func_doc_language_specific_pre_processing(docs, category)
    theirs = handler_utils.system_prompt_pre_processing_chat_model(question[0], docs, entry.id)
    assert question_prompts[0][:2] == theirs[:2]

    # evaluate: the first question asks for the first name (Michael); the run's missing categories are said
    summary, _ = evaluate_results(tmp_path / "m")
    assert summary["categories"][category]["correct"] >= 1 and summary["categories"][category]["total"] == 2
    assert any("memory_vector: not generated" in n for n in summary["notes"])
    assert any("web_search_base: not generated" in n and "SERPAPI_API_KEY" in n for n in summary["notes"])

    # resumed: nothing left, the warm-up is not redone
    before = len(model.conversations)
    again = generate(model, categories=category, out=tmp_path, limit=2, model_name="m", progress=False,
                     log=lambda m: None)
    assert again["categories"][category]["already_done"] == 2 and len(model.conversations) == before


def test_cli_prints_not_generated(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SERPAPI_API_KEY", raising=False)
    code = main(["bfcl", "generate", "--model", str(tmp_path / "no-model"), "--categories", "web_search,memory_vector",
                 "--out", str(tmp_path), "--model-name", "m", "--no-progress"])
    out = capsys.readouterr()
    assert code == 0
    assert "web_search_base          NOT GENERATED:" in out.out and "SERPAPI_API_KEY" in out.out
    assert "memory_vector            NOT GENERATED:" in out.out and "--embedding-model" in out.out
