"""The UI's own scrape of every proxy's 15090, used when no Prometheus runs: a round every
`interval` seconds while somebody has looked at the UI in the last `idle_after` seconds (the
first look scrapes at once, and again a second later, so rates appear quickly).

All the work of a round happens in the background: fetching, parsing (in a worker thread), and
`prepare(history)` (in a worker thread too: the UI computes the answers asked recently) on a
new `History` that requests do not see until it is ready; then it replaces `history`."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp

from pilotfish.ui.series import History, Parser, Scrape, Target


class Scraper:
    def __init__(
        self,
        targets: Callable[[], Sequence[Target]],
        interval: float = 5.0,
        idle_after: float = 600.0,
        timeout: float = 3.0,
        prepare: Callable[[History], Any] | None = None,
    ) -> None:
        self.targets = targets
        self.prepare = prepare
        self.interval = interval
        self.idle_after = idle_after
        self.timeout = timeout
        self.history = History()
        self.parser = Parser()
        self._last_look = 0.0
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._first = asyncio.Event()

    async def look(self) -> History:
        """Called for every UI request: keeps the scraping alive; waits for the first round."""
        self._last_look = time.monotonic()
        if self._task is None or self._task.done():
            self._first = asyncio.Event()
            self._task = asyncio.create_task(self._run())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first.wait(), self.timeout + 1)
        return self.history

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                trust_env=False, timeout=aiohttp.ClientTimeout(total=self.timeout)
            )
        rounds = 0
        while time.monotonic() - self._last_look < self.idle_after:
            await self.add(await self.scrape_once())
            self._first.set()
            rounds += 1
            await asyncio.sleep(1.0 if rounds == 1 else self.interval)

    async def add(self, scrape: Scrape) -> None:
        """Show a new round once `prepare` has computed on it."""
        new = self.history.extended(scrape)
        if self.prepare is not None:
            await asyncio.to_thread(self.prepare, new)
        previous, self.history = self.history, new
        if previous.scrapes and previous.scrapes[-1] is not scrape:
            previous.scrapes[-1].memo.clear()  # queries only ever end at the newest scrape

    async def scrape_once(self) -> Scrape:
        targets = list(self.targets())
        started = time.time()
        texts = await asyncio.gather(*(self._fetch(t) for t in targets))
        # Parsing a round of a large mesh takes a while: a worker thread keeps the control
        # plane's event loop (xDS, API) answering meanwhile.
        parsed = await asyncio.to_thread(
            lambda: [None if text is None else self.parser.parse(text) for text in texts]
        )
        scrape = Scrape(at=started)
        for target, samples in zip(targets, parsed, strict=True):
            if samples is not None:
                scrape.by_target[target.instance] = samples
        return scrape

    async def _fetch(self, target: Target) -> str | None:
        assert self._session is not None
        try:
            async with self._session.get(target.url) as resp:
                if resp.status != 200:
                    return None
                return await resp.text()
        except (aiohttp.ClientError, TimeoutError, OSError):
            return None
