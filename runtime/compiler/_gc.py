"""The cyclic garbage collector, paused while a workspace compiles.

Compiling allocates a few hundred thousand objects that nearly all stay alive (the Plan, its
parsed documents, compiled templates and expressions). Each collection on the way walks them
and frees almost nothing; the full ones walk the whole growing heap — about a fifth of a
500-flow compile. Paused, reference counting still frees everything acyclic, and at the end the
new objects go straight to the oldest generation (gc.freeze then gc.unfreeze: two list splices,
no walk), where they would have ended up anyway: later full collections see them as they
would have, the young and middle collections never walk them. The few cycles the compile left
behind are freed by the next full collection.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_resume = False


@contextmanager
def collector_paused() -> Iterator[None]:
    """Nested and concurrent uses share one pause; the collector is enabled again (if it was)
    when the last one ends."""
    global _depth, _resume
    with _lock:
        if _depth == 0:
            _resume = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _resume:
                _age_new_objects()
                gc.enable()


def _age_new_objects() -> None:
    if gc.get_freeze_count():
        # someone froze objects on purpose (a pre-fork server): unfreeze would undo that, so
        # walk the new objects once instead
        gc.collect(0)
        return
    gc.freeze()
    gc.unfreeze()
