import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_paused = 0  # blocks inside cyclic_gc_paused now, in any thread
_resume = False  # whether the collector was on when the first of them began


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """No cyclic collection while a batch (a CSV import, a processing batch) or a report page runs: its full passes
    over millions of objects that reference counting frees were over half of an import's Python time (W5), and a
    page's thousands of rows, alive for the request, were promoted on every pass until a full one took a request's
    time again (W4's p95). Usable as a decorator; counted, so that threads (gthread workers) that overlap turn the
    collector back on only when the last of them is done."""
    global _paused, _resume
    with _lock:
        if _paused == 0:
            _resume = gc.isenabled()
            gc.disable()
        _paused += 1
    try:
        yield
    finally:
        with _lock:
            _paused -= 1
            if _paused == 0 and _resume:
                gc.enable()
