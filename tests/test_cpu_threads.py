"""Training on the CPU uses the cores other processes leave idle (funrl_lib.train.models.cpu_threads)."""

import os

import pytest
import torch

from funrl_lib.train import models
from funrl_lib.train.config import load_config


@pytest.fixture
def fresh(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setattr(models, "_THREADS", [])
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    yield monkeypatch
    torch.set_num_threads(before)


def test_the_config_value_wins(fresh):
    fresh.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert models.cpu_threads(load_config(None, ["cpu_threads=1"])) == 1
    assert torch.get_num_threads() == 1


@pytest.mark.parametrize("load, expected", [(0.0, 4), (1.2, 3), (2.6, 1), (9.0, 1)])
def test_by_default_the_idle_cores_at_the_first_stage(fresh, load, expected):
    fresh.setattr(os, "getloadavg", lambda: (load, load, load))
    cfg = load_config(None, [])
    assert cfg.cpu_threads is None
    assert models.cpu_threads(cfg) == expected == torch.get_num_threads()
    # later stages of the same process keep the choice (their own load would count against them)
    fresh.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert models.cpu_threads(cfg) == expected
