"""`chatservice serve` under cProfile: `python bench/profiled_serve.py OUT.prof` serves with the
usual `CHATSERVICE_*` settings, starts profiling on SIGUSR1 (after the warm-up, so start-up
does not show) and writes the profile when SIGTERM stops it.

The timer is the process's CPU time: with wall time, the time a greenlet (SQLAlchemy's asyncio
bridge) spends switched out while the loop waits for the database would be charged to whatever
function that greenlet was running.
"""

from __future__ import annotations

import cProfile
import signal
import sys
import time

from chatservice.entrypoints.cli import main

if __name__ == "__main__":
    profile = cProfile.Profile(time.process_time)
    signal.signal(signal.SIGUSR1, lambda _signal, _frame: profile.enable())
    try:
        main(["serve"])
    finally:
        profile.disable()
        profile.dump_stats(sys.argv[1])
