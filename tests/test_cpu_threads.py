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
    fresh.setattr(models, "busy_cores", lambda: 0.0)
    assert models.cpu_threads(load_config(None, ["cpu_threads=1"])) == 1
    assert torch.get_num_threads() == 1


@pytest.mark.parametrize("busy, expected", [(0.0, 4), (1.2, 3), (2.6, 1), (9.0, 1)])
def test_by_default_the_idle_cores_at_the_first_stage(fresh, busy, expected):
    fresh.setattr(models, "busy_cores", lambda: busy)
    cfg = load_config(None, [])
    assert cfg.cpu_threads is None
    assert models.cpu_threads(cfg) == expected == torch.get_num_threads()
    # later stages of the same process keep the choice (their own load would count against them)
    fresh.setattr(models, "busy_cores", lambda: 0.0)
    assert models.cpu_threads(cfg) == expected


def _stat(user, idle, iowait=0):
    # /proc/stat's first line: cpu user nice system idle iowait irq softirq steal guest guest_nice
    return f"cpu  {user} 0 0 {idle} {iowait} 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"


def test_busy_cores_is_the_non_idle_share_over_the_window_times_the_cores(tmp_path, monkeypatch):
    stat = tmp_path / "stat"
    reads = iter([_stat(1000, 5000, 100), _stat(1150, 5140, 110)])  # 150 busy, 150 idle+iowait: half busy

    def sleep(_):
        stat.write_text(next(reads))

    stat.write_text(next(reads))
    monkeypatch.setattr(models.time, "sleep", sleep)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert models.busy_cores(stat_path=str(stat)) == pytest.approx(1.0)
    # the load average counts this process's own earlier work; it is only the fallback without /proc/stat
    monkeypatch.setattr(os, "getloadavg", lambda: (1.7, 0.0, 0.0))
    assert models.busy_cores(stat_path=str(tmp_path / "missing")) == 1.7

