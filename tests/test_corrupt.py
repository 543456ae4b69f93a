"""Injected defects against the verifier on generated dialogs: each kind is caught by the rule meant for it, and
clean dialogs pass (the measurement notebook 03 reports at full size)."""

from collections import Counter, defaultdict

import pytest

from funrl_lib.synth.api_pool import build_pool
from funrl_lib.synth.corrupt import CORRUPTIONS, EXPECTED_RULES, corrupt_samples, date_to_string, pool_executor
from funrl_lib.synth.dialogs import generate_dialogs
from funrl_lib.synth.verify import VerifyContext, verify_sample


@pytest.fixture(scope="module")
def world():
    pool = build_pool(400, seed=5, progress=False)
    return pool, generate_dialogs(pool, 900, seed=5, progress=False)


def test_every_defect_is_caught_for_the_right_reason_and_clean_dialogs_pass(world):
    pool, dialogs = world
    noisy = corrupt_samples(dialogs, 0.6, seed=1, executor=pool_executor(pool))
    ctx = VerifyContext(pool=pool)
    injected, caught, rejected, false_pos = Counter(), Counter(), Counter(), []
    for sample, kind in noisy:
        v = verify_sample(sample, ctx)
        if kind is None:
            if not v.kept:
                false_pos.append((sample.id, v.failed))
            continue
        injected[kind] += 1
        rejected[kind] += not v.kept
        caught[kind] += bool(set(v.failed) & set(EXPECTED_RULES[kind]))
    assert not false_pos
    assert set(injected) == set(CORRUPTIONS)  # every kind applied at least once at this size
    # a semantic defect of an answer is missed when its wrong value happens to be another value of the dialog
    semantic = {k for k in CORRUPTIONS if EXPECTED_RULES[k] == ("answer_grounding",)}
    assert semantic == {"misreported_number", "wrong_date", "invented_entity"}
    assert {k: rejected[k] for k in injected if k not in semantic} == \
        {k: injected[k] for k in injected if k not in semantic}  # nothing else injected slips through
    for kind in injected:  # and for the expected reason (a fabricated value may break a pattern first)
        assert caught[kind] >= (0.85 if kind == "hallucinated_value" else 0.9 if kind in semantic else 1.0) \
            * injected[kind], kind


def test_corruptions_keep_ids_and_are_deterministic(world):
    _, dialogs = world
    a = corrupt_samples(dialogs[:200], 0.5, seed=2)
    b = corrupt_samples(dialogs[:200], 0.5, seed=2)
    assert [(s.to_dict(), k) for s, k in a] == [(s.to_dict(), k) for s, k in b]
    assert [s.id for s, _ in a] == [s.id for s in dialogs[:200]]
    assert all(s.meta.get("corruption") == k for s, k in a if k)
    assert all(s is d for (s, k), d in zip(a, dialogs[:200]) if k is None)  # clean ones untouched


def test_date_to_string_reproduces_the_released_damage_or_declines(world):
    _, dialogs = world
    import random
    outcomes = defaultdict(int)
    for d in dialogs[:300]:
        bad = date_to_string(d, random.Random(0))
        called = {c.name for c in d.calls()}
        if bad is None:  # nothing named "date" in what the dialog calls
            assert "date" not in str([t for t in d.tool_sources() if t["name"] in called]) + str(d.calls())
            outcomes["declined"] += 1
            continue
        outcomes["damaged"] += 1
        assert bad.to_dict() != d.to_dict()
        damaged_tools = [t for t in bad.tool_sources() if t["name"] in {c.name for c in bad.calls()}]
        assert "date" not in str(damaged_tools) + str(bad.calls())  # every "date" went, as in the released data
        if "date" in str([t for t in d.tool_sources() if t["name"] in called]):
            assert "string" in str(damaged_tools)
    assert outcomes["damaged"] and outcomes["declined"]


def test_unknown_corruption_name_is_refused(world):
    with pytest.raises(ValueError, match="unknown corruption"):
        corrupt_samples(world[1][:3], 1.0, kinds=["nope"])
