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
