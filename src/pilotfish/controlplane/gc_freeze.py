"""Python's full garbage collections kept short: what survives a long one is frozen.

At 1,000 services / 2,000 proxies the control plane holds ~750 MB of long-lived objects
(translated parts, published snapshots). CPython runs a full collection when the objects that
survived its young collections reach a quarter of those alive after the last full one, and a
full collection walks every tracked object: 0.25–2.5 s at that size (BENCHMARKS.md), landing in
whichever change allocates at that moment (in process, 3 targeted changes of 20 took 0.3–0.4 s
of CPU instead of 0.1 s).

`install()` registers a `gc.callbacks` hook: after a full collection that took
`LONG_COLLECTION_S` or more, everything that survived it is moved to the permanent generation
(`gc.freeze`), so later full collections walk only what was allocated since (a few thousand
objects per change) and stay short. Nothing unreachable is frozen: the collection has just freed
every unreachable cycle. Frozen objects are still freed by reference counting when the last
reference goes (the push contexts and snapshots a change replaces are: measured, a change leaves
no cycle of them, `tests/controlplane/test_gc_freeze.py`); only a reference cycle among frozen
objects that becomes garbage later stays, which is why a short collection (a small heap) freezes
nothing. The idle-time full collections tried before (reverted, cbec817) moved the pause to
where a lone request arrived; this removes the pause instead. `collect` runs one a moment after
each change (`ControlPlane.release_idle`): with the heap frozen it walks only what that change
allocated, which a later change would otherwise pay for.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from typing import Any, TypeVar

LONG_COLLECTION_S = 0.02
"""A full collection this long (~100,000 objects walked) freezes what survived it."""
WAIT_STEP_S = 0.25  # `when_out`
T = TypeVar("T")


class FreezeAfterLongCollections:
    """The `gc.callbacks` hook (`install`); counts the freezes it made."""

    def __init__(self, threshold_s: float = LONG_COLLECTION_S) -> None:
        self.threshold_s = threshold_s
        self.started = 0.0
        self.freezes = 0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self.started = time.perf_counter()
        elif phase == "stop" and time.perf_counter() - self.started >= self.threshold_s:
            gc.freeze()  # between collections: the generation lists are complete
            self.freezes += 1


def install(threshold_s: float = LONG_COLLECTION_S) -> FreezeAfterLongCollections:
    """Register the hook once for the process (the one already registered is returned)."""
    for hook in gc.callbacks:
        if isinstance(hook, FreezeAfterLongCollections):
            return hook
    hook = FreezeAfterLongCollections(threshold_s)
    gc.callbacks.append(hook)
    return hook


def collect() -> None:
    """A full collection now, at a quiet moment chosen by the caller (`ControlPlane.
    release_idle`): what the last change allocated is walked (and frozen, if that took
    `LONG_COLLECTION_S`, by the hook when installed) here instead of in a later change, and
    every generation's count starts from zero again. The heap frozen before is not walked,
    so this costs what the change allocated, not what the control plane holds (the idle-time
    collections reverted in cbec817 walked everything: 0.25-1 s)."""
    gc.collect()


_paused = False  # `pause` turned automatic collections off; `resume` turns them on again


def pause() -> None:
    """No automatic collection from now until `resume` (the API: while a change is translated
    and its pushes go out; `ControlPlane.release_idle` resumes after its collection). A
    change allocates far more than it leaves as garbage (its collections free next to
    nothing), yet the young collections it triggers promote what it keeps, and a full
    collection of all that (~100 ms CPU at 1,000 services / 2,000 proxies, after a mesh-wide
    change) can land inside the next small change; the idle collection walks it once
    instead. Called again before `resume` came (changes back to back, no idle moment), it
    collects first: garbage cycles never wait longer than one change."""
    global _paused
    if _paused:
        gc.collect()
    _paused = True
    gc.disable()


def hold() -> bool:
    """`pause` without its collection when already paused (a connect burst: each proxy
    connecting calls it, in the generation thread); True if this call paused collections (the
    caller then arranges the idle collection that resumes them, as after a change). The
    storm's objects nearly all survive (a storm of 2,000 proxies collected ~10,000 objects),
    yet each was walked by a young, a middle and a full collection before it was frozen: ~1.4 s
    of its ~9 s of CPU (BENCHMARKS.md); the idle collection walks them once."""
    global _paused
    if _paused:
        return False
    _paused = True
    gc.disable()
    return True


def quiet_while(
    call: Callable[..., T], loop: asyncio.AbstractEventLoop, then: Callable[[], None]
) -> Callable[..., T]:
    """`call` (the xDS server's snapshot generator, which runs in its generation thread as
    each proxy connects) holding automatic collections off (`hold`) until `then` (the API's
    idle collection, `Api.release_later`), scheduled on `loop` by the call that paused them."""

    def held(*args: Any) -> T:
        if hold():
            loop.call_soon_threadsafe(then)
        return call(*args)

    return held


def resume() -> None:
    """Automatic collections on again, if `pause` turned them off."""
    global _paused
    if _paused:
        _paused = False
        gc.enable()


def paused() -> bool:
    return _paused


def when_out(waiting: Callable[[], int], then: Callable[[], None], tries: int = 40) -> None:
    """`then()` (the idle collection: 0.2-0.5 s of CPU after a mesh-wide change at 1,000
    services / 2,000 proxies, holding the event loop) once `waiting()` (proxies yet to ACK the
    change) is 0, looked at every `WAIT_STEP_S` on the running loop, or after `tries` looks
    (10 s: a loaded machine's 2,000 ACKs took 3-14 s after a mesh-wide translation)."""
    if waiting() and tries > 0:
        asyncio.get_running_loop().call_later(WAIT_STEP_S, when_out, waiting, then, tries - 1)
    else:
        then()


def uninstall(hook: FreezeAfterLongCollections) -> None:
    """Remove the hook (tests); what it froze stays frozen until `gc.unfreeze()`."""
    if hook in gc.callbacks:
        gc.callbacks.remove(hook)
