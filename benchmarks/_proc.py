"""What the process benchmarks share: run a whole command as a user would (a fresh process, its startup included),
measure its wall time, CPU time (user + system, from the kernel's accounting of that child alone) and peak RSS; run
the commands being compared interleaved (A B C, A B C, ...) so that a change in the machine's load hits each of
them alike; report min / median / max; say which machine, and how loaded, the numbers come from.

Python is run with its bytecode cache on (in a private ``PYTHONPYCACHEPREFIX``) and one warm-up run per command,
as an installed ``funrl`` runs: compiling the sources on every start (``PYTHONDONTWRITEBYTECODE=1``) would measure
the compiler.
"""

from __future__ import annotations

import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
_PYCACHE = Path(tempfile.gettempdir()) / f"funrl-bench-pycache-{os.getuid() if hasattr(os, 'getuid') else 0}"


def bench_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment every measured command gets: bytecode cache on (private folder), no progress colour."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(_PYCACHE)
    env.setdefault("OMP_NUM_THREADS", "1")
    env.update(extra or {})
    return env


@dataclass
class Run:
    wall: float
    cpu: float
    maxrss_mib: float
    returncode: int
    stdout: str = ""
    stderr: str = ""


def run(argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: str | os.PathLike | None = None,
        check: bool = True) -> Run:
    """Run ``argv`` once: wall seconds, CPU seconds (user + system of that child, from ``wait4``) and its peak RSS
    (``ru_maxrss``). Output goes to temporary files, not pipes, so nothing here runs while the child does."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdout=out, stderr=err, env=dict(env or bench_env()), cwd=cwd, text=True)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    rss_mib = ru.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} exited {proc.returncode}:\n{stderr[-3000:]}")
    return Run(wall, ru.ru_utime + ru.ru_stime, rss_mib, proc.returncode, stdout, stderr)


@dataclass
class Series:
    """Repeated measurements of one command."""

    name: str
    runs: list[Run] = field(default_factory=list)

    def values(self, what: str) -> list[float]:
        return [getattr(r, what) for r in self.runs]

    def mmm(self, what: str) -> tuple[float, float, float]:
        v = self.values(what)
        return min(v), statistics.median(v), max(v)


def interleaved(commands: Mapping[str, Callable[[int], Run]], repeats: int, *, warmup: bool = True
                ) -> dict[str, Series]:
    """Run each command ``repeats`` times, interleaved: round r runs every command once, in an order that rotates
    with r (so no command always runs first or last). ``commands[name](r)`` runs round r of it. One unmeasured
    warm-up round first (bytecode caches, the page cache)."""
    names = list(commands)
    if warmup:
        for name in names:
            commands[name](-1)
    series = {name: Series(name) for name in names}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            series[name].runs.append(commands[name](r))
    return series


def machine() -> str:
    """The machine and its load right now (`uptime`), for the head of a benchmark's output."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        up = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        up = "load: " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{cpu}, {os.cpu_count()} logical cores, Python {platform.python_version()}, {platform.system()} "
            f"{platform.release()}\nuptime: {up}")


def fmt_mmm(v: tuple[float, float, float], spec: str = ".2f") -> str:
    lo, mid, hi = v
    return f"{mid:{spec}} ({lo:{spec}} / {hi:{spec}})"


def funrl_argv(*args: str, src: str | os.PathLike | None = None) -> list[str]:
    """``python -m funrl_lib ARGS``: this checkout's, or (``src``) the funrl_lib found in folder ``src`` first (an
    older tree to compare with: ``git archive REV funrl_lib data | tar -x -C DIR``)."""
    if src is None:
        return [PYTHON, "-m", "funrl_lib", *args]
    code = f"import sys; sys.path.insert(0, {str(src)!r}); from funrl_lib.cli import main; sys.exit(main())"
    return [PYTHON, "-c", code, *args]
