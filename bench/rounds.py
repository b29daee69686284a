"""Comparisons on a shared machine: each variant once a round, interleaved, several rounds, and
figures written as their median with the spread over the rounds."""

from __future__ import annotations

import statistics
from collections.abc import Iterator, Sequence
from typing import TypeVar

from processes import Use

Variant = TypeVar("Variant")


def interleaved(variants: Sequence[Variant], rounds: int) -> Iterator[tuple[int, Variant]]:
    """(round, variant), each variant once a round, the order rotated each round: neither a
    busy minute of the machine nor going first falls on one variant alone."""
    for index in range(rounds):
        shift = index % len(variants)
        for variant in (*variants[shift:], *variants[:shift]):
            yield index + 1, variant


def spread(values: Sequence[float], digits: int = 0) -> str:
    """`median (lowest-highest)` of one figure over the rounds."""
    if len(values) == 1:
        return f"{values[0]:,.{digits}f}"
    return (f"{statistics.median(values):,.{digits}f} "
            f"({min(values):,.{digits}f}–{max(values):,.{digits}f})")  # fmt: skip


def cores(use: Use) -> str:
    """Where the window's CPU went, in cores of the machine's two."""
    processes = " + ".join(f"{c:.2f}" for c in use.process_cores if c >= 0.01)
    service = f"{use.server_cores:.2f}" + (f" ({processes})" if "+" in processes else "")
    return (f"service {service}, client {use.client_cores:.2f}, MariaDB {use.database_cores:.2f}, "
            f"whole machine {use.machine_cores:.2f}")  # fmt: skip


def per_turn(cores: float, seconds: float, turns: int) -> float:
    """CPU milliseconds a turn: what a process spent for each, however busy the machine was."""
    return cores * seconds / turns * 1000 if turns else float("nan")


def loads(uses: Sequence[Use]) -> str:
    """The machine's load average (1 minute) over the rounds."""
    values = [use.load for use in uses]
    return f"{min(values):.1f}–{max(values):.1f}"
