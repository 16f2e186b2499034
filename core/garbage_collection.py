import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """No cyclic collection while a batch (a CSV import, a processing batch) runs.

    A batch makes and drops millions of small objects that reference counting frees; the collector's full
    passes over them freed nothing and were over half of an import's Python time (W5). The first
    collection after the batch finds any cycles.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
