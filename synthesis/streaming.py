"""The stages of a synthesis job, overlapped: generate → sandbox → triage → store.

Run one after another, the sandbox would wait while the job generates, triages and
stores, and the job would wait while the sandbox runs; on two cores the Python around the
sandbox would cost as much as the sandbox itself. Here three things happen at once:

- a producer thread runs the generator and sends candidates to the sandbox in small
  batches as they are made (the first ones very small, so the sandbox starts early);
- background threads run those batches in the sandbox (`validate` touches no database);
- the caller's thread takes the finished batches in order, triages each, and stores each
  chunk (several batches) in its own transaction — while Postgres writes, the generator
  runs, since waiting on a socket releases the GIL.

The guarantees of a plain loop hold: chunk k is stored only after chunks 0..k-1; a chunk
the generator did not finish is never stored; once storing (or triaging) a chunk has
failed, nothing later is stored. Only the caller's thread touches the database (`check`,
`triage`, `write`, `store`), so a test's transaction sees every write. The stage functions
are passed in: this module knows nothing of Django.

With `write`, each batch is written as soon as it is triaged, inside a transaction the
caller opens at the chunk's first batch and commits in `store`: when a job's last batch
comes back from the sandbox, only that batch is left to write, not the whole chunk (the
sandbox is idle from then until the job ends). A chunk that fails or that the generator
did not finish is then the caller's to roll back when `run` raises.
"""
from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import count as counter, islice
from typing import Callable, Iterable

from synthesis.pipeline import ChunkReport, merge_reports

# Candidates per chunk: one transaction, one step of progress, the work a redelivered job
# may redo. Small enough that storing one chunk overlaps the next one's sandbox runs.
DEFAULT_CHUNK = 100
RAMP_START = 4  # the first batch of a job; each next one is twice as large, up to the batch size
AHEAD = 8  # batches the generator may run ahead of triage (memory stays bounded)
PRODUCER_GRACE = 10.0  # seconds a failed or cancelled job waits for its generator thread


class ChunkStream:
    """validate(candidates) -> ChunkReport runs in `workers` background threads;
    triage(items) -> (kept, counts) and store(index, report, triage_counts, made) run in
    the caller's thread, in order. `skip` chunks (already stored by an earlier attempt) are
    generated again (generators are deterministic) but not run; `check()` is called before
    each chunk is triaged and may raise to stop (a cancelled job). write(index, report,
    triage_counts), if given, is called with each triaged batch of chunk `index`, in order,
    before the chunk's store."""

    def __init__(self, validate: Callable[[list], ChunkReport], triage: Callable[[list], tuple[list, dict]],
                 store: Callable[[int, ChunkReport, dict, int], None], *, chunk_size: int, batch_size: int,
                 skip: int = 0, check: Callable[[], None] = lambda: None, workers: int = 2,
                 write: Callable[[int, ChunkReport, dict], None] | None = None, total: int | None = None):
        self.validate, self.triage, self.store, self.check, self.write = validate, triage, store, check, write
        self.chunk_size = max(1, chunk_size)
        self.batch_size = max(1, min(batch_size, self.chunk_size))
        self.skip = skip
        self.workers = workers
        self.total = total  # candidates the job asked for, when known: the last batches shrink

    def run(self, candidates: Iterable) -> int:
        """Returns how many candidates the generator made (stored chunks or not)."""
        feed: queue.Queue = queue.Queue(maxsize=AHEAD)
        stop = threading.Event()
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="synthesis-sandbox") as pool:
            producer = threading.Thread(target=self._produce, args=(iter(candidates), pool, feed, stop),
                                        name="synthesis-generate", daemon=True)
            producer.start()
            try:
                return self._consume(feed)
            finally:
                stop.set()
                # Unblock a producer waiting for room and let it stop at its next candidate;
                # one stuck in a slow step (a model call) is left to end on its own.
                deadline = time.monotonic() + PRODUCER_GRACE
                while producer.is_alive() and time.monotonic() < deadline:
                    _drain(feed)
                    producer.join(0.05)
                _drain(feed)

    def _produce(self, candidates, pool: ThreadPoolExecutor, feed: queue.Queue, stop: threading.Event) -> None:
        def put(entry) -> bool:
            while not stop.is_set():
                try:
                    feed.put(entry, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            if entry[0] == "batch":
                entry[2].cancel()
            return False

        made = 0
        try:
            for index in counter():
                size = 0
                while size < self.chunk_size:
                    if stop.is_set():
                        return
                    piece = list(islice(candidates, min(self._batch_size(made + size), self.chunk_size - size)))
                    if not piece:
                        break
                    size += len(piece)
                    if index >= self.skip and not put(("batch", index, pool.submit(self.validate, piece))):
                        return
                made += size
                if size and not put(("chunk", index, made)):
                    return
                if size < self.chunk_size:
                    break
            put(("done", made))
        except BaseException as exc:  # noqa: BLE001 - the caller's thread re-raises it
            put(("error", exc))

    def _consume(self, feed: queue.Queue) -> int:
        index, triaged = None, []
        while True:
            kind, *rest = feed.get()
            if kind == "batch":
                batch_index, batch = rest
                if batch_index != index:
                    self.check()
                    index, triaged = batch_index, []
                report = batch.result()
                kept, counts = self.triage(report.items)
                report.items = kept
                if self.write is not None:
                    self.write(batch_index, report, counts)
                triaged.append((report, counts))
            elif kind == "chunk":
                chunk_index, made = rest
                if chunk_index == index:
                    report = merge_reports([r for r, _ in triaged])
                    triage_counts: dict = {}
                    for _, counts in triaged:
                        for key, value in counts.items():
                            triage_counts[key] = triage_counts.get(key, 0) + value
                    index, triaged = None, []
                    self.store(chunk_index, report, triage_counts, made)
            elif kind == "done":
                return rest[0]
            else:
                # The generator broke. Every chunk it finished came first in the feed and has
                # been stored; the one it was making is dropped.
                raise rest[0]

    def _batch_size(self, made: int) -> int:
        """Small batches first, so the sandbox starts on the first few candidates while a
        generator that is slow to start is still making the rest; and small batches last,
        so that what is left to triage and write once the sandbox has run the job's last
        program (the sandbox idles from then until the next job) is a few items, not 25."""
        size, left = RAMP_START, made
        while size < self.batch_size and left >= size:
            left -= size
            size *= 2
        size = min(size, self.batch_size)
        if self.total is not None:
            size = min(size, max(RAMP_START, (self.total - made) // 2))
        return size


def _drain(feed: queue.Queue) -> None:
    while True:
        try:
            entry = feed.get_nowait()
        except queue.Empty:
            return
        if entry[0] == "batch":
            entry[2].cancel()
