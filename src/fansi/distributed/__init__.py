"""Scale out on Ray: batches and evals over a cluster, one store, nothing lost.

    driver (fansi run / fansi eval --ray)              worker actors (one model each)
    ─────────────────────────────────────              ──────────────────────────────
    Store (SQLite, the one writer)  ◄── writes ───     run_stored(problem) on a RelayStore
    Receiver: create run, records, calls, status       Lookup: a miss asks the driver first
    answers Ask(key) from the call cache  ─ reply ──►  CachedBackend → Lookup → the model

Problems (or eval items) are the unit of work. Each runs on a Ray actor that
holds its model for its whole life (a GGUF loaded once, or a pool of
``openai:`` servers) and runs the engine's own code on a scratch store whose
writes stream back to the driver as they are made (a Ray streaming generator).
So the store stays single-writer, a killed worker costs only its calls in
flight, and a retried or resumed problem replays its finished calls.

- :mod:`~fansi.distributed.relay`: the messages, the worker's relay store and
  the driver's receiver.
- :mod:`~fansi.distributed.worker`: the actor.
- :mod:`~fansi.distributed.pool`: connecting to Ray; the pool of actors,
  retries and replacement.
- :mod:`~fansi.distributed.endpoints`: several servers of one model as one backend.
- :mod:`~fansi.distributed.batch`: ``fansi run --ray``.
- :mod:`~fansi.distributed.evals`: ``fansi eval --ray``.

Ray is the optional extra ``fansi[ray]``; nothing here imports it until a
cluster is used.
"""
