"""Ending a JSON-mode generation as soon as its JSON value is complete (the ``hf`` backend's ``json_mode``).

A local model asked for JSON often writes the object and then keeps going (an explanation, a second copy, a
repeated closing fence) until ``max_tokens``; in a batch every row then waits for the longest one. The OpenAI
backend sends ``response_format`` and the server stops at the end of the object; :class:`HFBackend
<funrl_lib.backends.HFBackend>` has no constrained decoding, so instead it watches each row's text and ends the row
when the reply *starts* with a JSON object or array (after whitespace or a ```` ``` ````/```` ```json ```` fence
line) and that value has just closed and parses. A reply that starts with prose is never cut (the model may still
put its JSON later; :func:`funrl_lib.backends.extract_json` finds it), and brackets inside strings do not count.

:class:`JsonEndScanner` is the pure-Python state machine (one per row, fed text piece by piece);
:func:`json_stopping_criteria` wraps it as a ``transformers`` ``StoppingCriteria``.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["JsonEndScanner", "json_stopping_criteria"]

_FENCES = ("", "```", "```json", "```JSON")
# A reply whose JSON has not closed after this many characters is scanned no further (bounded work per row).
MAX_SCAN_CHARS = 200_000


class JsonEndScanner:
    """Fed a reply's text in pieces (:meth:`feed`); :attr:`done` turns true at the piece where the leading JSON
    object or array closed (balanced brackets outside strings, and ``json.loads`` accepts it), and :attr:`end` is the
    character offset just past it. :attr:`gave_up`: the reply did not start with JSON, so it will never be cut."""

    def __init__(self) -> None:
        self.text = ""
        self.start: int | None = None
        self.end: int | None = None
        self.gave_up = False
        self._depth = 0
        self._in_string = False
        self._escape = False
        self._pos = 0

    @property
    def done(self) -> bool:
        return self.end is not None

    def feed(self, piece: str) -> bool:
        """Add ``piece``; returns :attr:`done`."""
        if self.done or self.gave_up:
            return self.done
        self.text += piece
        if len(self.text) > MAX_SCAN_CHARS:
            self.gave_up = True
            return False
        text = self.text
        while self._pos < len(text):
            c = text[self._pos]
            self._pos += 1
            if self.start is None:
                if c in "{[":
                    if text[:self._pos - 1].strip() not in _FENCES:
                        self.gave_up = True
                        return False
                    self.start, self._depth = self._pos - 1, 1
                elif not (c.isspace() or c in "`jsonJSON"):
                    self.gave_up = True
                    return False
                continue
            if self._in_string:
                if self._escape:
                    self._escape = False
                elif c == "\\":
                    self._escape = True
                elif c == '"':
                    self._in_string = False
                continue
            if c == '"':
                self._in_string = True
            elif c in "{[":
                self._depth += 1
            elif c in "}]":
                self._depth -= 1
                if self._depth == 0:
                    try:
                        json.loads(text[self.start:self._pos])
                    except (ValueError, RecursionError):
                        self.gave_up = True  # balanced but not JSON: leave this reply to run its course
                        return False
                    self.end = self._pos
                    return True
        return False


def json_stopping_criteria(tokenizer: Any, prompt_length: int, batch_size: int) -> Any:
    """A ``transformers.StoppingCriteria`` that ends each row of a left-padded batch (prompts ``prompt_length``
    tokens long) when its reply's leading JSON value is complete. ``.scanners[i].stopped_at`` (new tokens generated
    when row ``i`` was ended, or ``None``) tells the caller where the reply ends."""
    import torch
    from transformers import StoppingCriteria

    class _JsonEnd(StoppingCriteria):
        def __init__(self) -> None:
            self.scanners = [JsonEndScanner() for _ in range(batch_size)]
            for s in self.scanners:
                s.stopped_at = None  # type: ignore[attr-defined]
            self._seen = [0] * batch_size

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            done = []
            for i, (row, scanner) in enumerate(zip(input_ids, self.scanners)):
                if not scanner.done and not scanner.gave_up:
                    new = row[prompt_length + self._seen[i]:].tolist()
                    for t in new:
                        self._seen[i] += 1
                        if scanner.feed(tokenizer.decode([t])):
                            scanner.stopped_at = self._seen[i]  # type: ignore[attr-defined]
                            break
                done.append(scanner.done)
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return _JsonEnd()
