"""SQLAlchemy's `greenlet_spawn`: a synchronous function run in one greenlet, its database I/O
awaited on the event loop.

Private API: `sqlalchemy.util.greenlet_spawn` is what SQLAlchemy's asyncio extension
(`AsyncConnection.run_sync` included) is built on, but it is not in SQLAlchemy's documented API,
so any release may change it. The service relies on it to run a whole transaction, from taking a
pooled connection to giving it back, in one greenlet (`transactions.py`): the public asyncio layer
spawns a greenlet per step, which cost measurably more per turn (bench/analysis.md).

Checked against SQLAlchemy 2.1.9, where its signature is
`greenlet_spawn(fn, *args, _require_await=False, **kwargs)`. pyproject.toml pins
`sqlalchemy<2.2`; before raising the pin, check that signature and run the repository's contract
tests on the new release.
"""

from __future__ import annotations

from sqlalchemy.util import greenlet_spawn

__all__ = ["greenlet_spawn"]
