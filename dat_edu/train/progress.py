"""Progress of one epoch: a tqdm bar when tqdm is installed, plain lines otherwise.

tqdm belongs to the course extra (``pip install dat_edu[course]``); a core install trains the same
and prints a line every few seconds instead of a bar.
"""

from __future__ import annotations

import sys
import time

__all__ = ["EpochProgress", "write"]

try:
    from tqdm.auto import tqdm as _tqdm
except ImportError:  # core install without the course extra
    _tqdm = None


def write(message: str) -> None:
    """Print a line without breaking a running bar."""
    if _tqdm is not None:
        _tqdm.write(message)
    else:
        print(message, flush=True)


class EpochProgress:
    """``total`` steps of one epoch; ``step(stats)`` after each, ``close()`` at the end.

    ``stats`` (a dict of short strings, e.g. loss, accuracy, images/s) is shown on the bar, or in
    a plain line at most every :attr:`INTERVAL` seconds when tqdm is missing. Nothing at all when
    ``enabled`` is False.
    """

    INTERVAL = 10.0  # seconds between two plain progress lines

    def __init__(self, total: int, desc: str, enabled: bool) -> None:
        self.total, self.desc, self.enabled = total, desc, enabled
        self.done = 0
        self._last = time.perf_counter()
        self._bar = None
        if enabled and _tqdm is not None:
            self._bar = _tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True,
                              mininterval=0.1 if sys.stderr.isatty() else 5.0)  # logs: fewer redraws

    def step(self, stats: dict | None = None) -> None:
        self.done += 1
        if not self.enabled:
            return
        if self._bar is not None:
            if stats:
                self._bar.set_postfix(stats, refresh=False)
            self._bar.update(1)
            return
        now = time.perf_counter()
        if stats and now - self._last >= self.INTERVAL and self.done < self.total:
            self._last = now
            shown = "  ".join(f"{k} {v}" for k, v in stats.items())
            print(f"{self.desc}: step {self.done}/{self.total}  {shown}", flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
