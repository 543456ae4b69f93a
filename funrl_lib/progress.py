"""Progress bars in log files: whole lines, a few of them, instead of carriage-return redraws.

A tqdm bar redraws itself with ``"\\r"`` many times a second. On a terminal that is one line that changes; in a log
file (``funrl demo > demo.log 2>&1``, CI) every redraw stays, and a demo's log grew to 166 KB, most of it bars. When
standard error is not a terminal, :func:`line_progress` makes every tqdm bar in the process write **whole lines**
(each ending in ``"\\n"``, no ``"\\r"``): at most one per ``interval`` seconds per bar (default 30,
``FUNRL_PROGRESS_INTERVAL``), plus the bar's final state when it closes. It changes the drawing methods of
``tqdm.std.tqdm`` itself, so it covers funrl's own bars and the ones transformers, TRL, datasets and
huggingface_hub draw (all of them subclass it, through ``tqdm.auto``), whether they were imported before or after.

It also sets ``TQDM_MININTERVAL`` (unless already set) to the interval: tqdm ≥ 4.66 reads ``TQDM_*`` variables as
the defaults of its arguments when it is first imported, so bars in a process that imports tqdm later, and in child
processes, redraw no more often than the lines are written. On a terminal nothing changes.

``funrl``'s ``main()`` switches it on for every command.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

__all__ = ["DEFAULT_INTERVAL", "INTERVAL_ENV", "line_progress", "progress_interval"]

INTERVAL_ENV = "FUNRL_PROGRESS_INTERVAL"
DEFAULT_INTERVAL = 30.0


def progress_interval() -> float:
    """Seconds between two lines of one bar: ``$FUNRL_PROGRESS_INTERVAL`` if it is a number ≥ 0, else 30."""
    try:
        value = float(os.environ.get(INTERVAL_ENV, DEFAULT_INTERVAL))
    except ValueError:
        return DEFAULT_INTERVAL
    return value if value >= 0 else DEFAULT_INTERVAL


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def line_progress(stream: TextIO | None = None, interval: float | None = None) -> bool:
    """If ``stream`` (default ``sys.stderr``) is not a terminal, make every tqdm bar of this process write whole,
    throttled lines (see the module's docstring); returns whether it did. Calling it again only changes the
    interval."""
    if _is_terminal(sys.stderr if stream is None else stream):
        return False
    interval = progress_interval() if interval is None else float(interval)
    os.environ.setdefault("TQDM_MININTERVAL", f"{interval:g}")
    from tqdm import std

    cls = std.tqdm
    if getattr(cls, "_funrl_line_interval", None) is None:
        cls._funrl_tqdm_close = cls.close
        cls.display = _display
        cls.clear = _clear
        cls.close = _close
    cls._funrl_line_interval = interval
    return True


def _write_line(bar: Any, line: str) -> None:
    bar._funrl_last_line = line
    bar._funrl_last_t = time.monotonic()
    try:
        bar.fp.write(line.rstrip() + "\n")
        getattr(bar.fp, "flush", lambda: None)()
    except ValueError:  # the stream was closed under the bar
        pass


def _display(self: Any, msg: str | None = None, pos: int | None = None) -> bool:
    """A line with the bar's state if ``interval`` seconds have passed since its last line (or since it started);
    clearing (an empty ``msg``) writes nothing."""
    if msg is not None and not msg.strip():
        return False  # nothing to take back in a log; False also keeps tqdm's close() from writing "\r"
    last = getattr(self, "_funrl_last_t", None)
    if last is None:
        last = self._funrl_last_t = time.monotonic()  # the bar's first draw, at its start: wait an interval
    if time.monotonic() - last >= type(self)._funrl_line_interval:
        _write_line(self, str(self) if msg is None else msg)
    return True


def _clear(self: Any, nolock: bool = False) -> None:
    """Nothing to clear: lines already written stay."""


class _Discard:
    def write(self, s: str) -> int:
        return len(s)

    def flush(self) -> None:
        pass


def _close(self: Any) -> None:
    """The bar's final state as one line (for a bar tqdm would leave on screen), then tqdm's own bookkeeping with
    its writes discarded (they are ``"\\r"``, a redraw, and ``"\\n"``)."""
    if not getattr(self, "disable", True) and hasattr(self, "last_print_t") and getattr(self, "sp", None):
        leave = abs(self.pos) == 0 if self.leave is None else self.leave
        if leave and self.last_print_t >= self.start_t + self.delay:  # tqdm's test: was it ever displayed
            self._ema_dt = lambda: None  # the overall rate in the final line, as tqdm's close() shows it
            line = str(self)
            if line != getattr(self, "_funrl_last_line", None):
                _write_line(self, line)
    fp = getattr(self, "fp", None)
    self.fp = _Discard()
    try:
        type(self)._funrl_tqdm_close(self)
    finally:
        if fp is not None:
            self.fp = fp
