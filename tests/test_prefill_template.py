"""prefill_generation_prompt: a ChatML template whose generation prompt opens the think block, in both ways a
template source writes the header's newline (Qwen2.5's escaped ``\\n``, the tiny model's raw newline)."""

from __future__ import annotations

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funrl_lib.prompts import prefill_generation_prompt
from funrl_lib.train.tiny import CHATML_TEMPLATE

# The tail of Qwen2.5-Instruct's chat template as its tokenizer ships it (the newline is the escape \n).
QWEN25_STYLE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n    {{- '<|im_start|>assistant\\n' }}\n{%- endif %}\n"
)
# as on the command line: --set 'model.generation_prefix="<think>\n"' (YAML double quotes keep the newline)
PREFIX_SET = 'model.generation_prefix="<think>\\n"'
MESSAGES = [{"role": "system", "content": "tools"}, {"role": "user", "content": "weather in Paris?"}]


def render(template: str, generation: bool) -> str:
    return jinja2.Environment().from_string(template).render(messages=MESSAGES, add_generation_prompt=generation)


@pytest.mark.parametrize("template", [QWEN25_STYLE, CHATML_TEMPLATE], ids=["escaped-newline", "raw-newline"])
def test_generation_prompt_opens_the_think_block_and_nothing_else_changes(template):
    patched = prefill_generation_prompt(template)
    assert render(template, True).endswith("<|im_start|>assistant\n")
    assert render(patched, True) == render(template, True) + "<think>\n"
    assert render(patched, False) == render(template, False)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab<>/'\"\\\n {}%#")), max_size=20))
def test_any_prefix_is_written_as_a_literal(prefix):
    for template in (QWEN25_STYLE, CHATML_TEMPLATE):
        assert render(prefill_generation_prompt(template, prefix), True) == render(template, True) + prefix


def test_no_prefix_leaves_the_template_alone_and_a_non_chatml_template_is_refused():
    assert prefill_generation_prompt(QWEN25_STYLE, "") == QWEN25_STYLE
    with pytest.raises(ValueError, match="generation prompt"):
        prefill_generation_prompt("{% for m in messages %}{{ m.content }}{% endfor %}")


def test_a_template_that_already_has_the_prefix_is_kept_and_another_prefix_is_refused():
    once = prefill_generation_prompt(QWEN25_STYLE)
    assert prefill_generation_prompt(once) == once
    with pytest.raises(ValueError, match="already ends with"):
        prefill_generation_prompt(once, "<reasoning>\n")


def test_the_recipe_field_needs_think_prefilled():
    from funrl_lib.train.config import load_config
    with pytest.raises(ValueError, match="think_prefilled"):
        load_config(None, [PREFIX_SET])
    cfg = load_config(None, [PREFIX_SET, "egpo.think_prefilled=true"])
    assert cfg.model.generation_prefix == "<think>\n"


def test_load_policy_puts_the_prefix_into_the_tokenizer_the_trainer_uses(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("peft")
    from funrl_lib.train.config import load_config
    from funrl_lib.train.models import load_policy
    from funrl_lib.train.tiny import render_chatml, tiny_qwen2, tiny_tokenizer

    texts = [render_chatml([{"role": "user", "content": "call f"}, {"role": "assistant", "content": "ok"}])] * 20
    tok = tiny_tokenizer(texts, vocab_size=300)
    folder = tmp_path / "model"
    tok.save_pretrained(folder)
    tiny_qwen2(tok, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
               num_key_value_heads=1, max_position_embeddings=256).save_pretrained(folder)
    sets = ["model.backend=peft", "device=cpu", f"model.name_or_path={folder}", f"output_dir={tmp_path / 'run'}"]
    plain = load_policy(load_config(None, sets)).tokenizer
    policy = load_policy(load_config(None, [*sets, PREFIX_SET, "egpo.think_prefilled=true"]))
    msgs = [{"role": "user", "content": "call f"}]
    before = plain.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    after = policy.tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    assert after == before + "<think>\n"
    policy.tokenizer.save_pretrained(tmp_path / "saved")  # what a checkpoint keeps, and evaluation reloads
    from transformers import AutoTokenizer
    again = AutoTokenizer.from_pretrained(tmp_path / "saved")
    assert again.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True) == after
