"""Turning the figures of one benchmark run into docs/benchmarks.md and its PNG plots."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from background_turns import background_section
from scale import SECTIONS
from scenarios import Row
from startup import startup_section
from streaming import Streaming


def _ok(met: bool) -> str:
    return "met" if met else "**not met**"


def _find(rows: list[Row], what: str, database: str, connections: int) -> Row:
    return next(r for r in rows if r.what == what and r.database == database
                and r.connections == connections)  # fmt: skip


def write_report(results: dict[str, Any], markdown: Path, plots: Path) -> None:
    plots.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = results["overhead"]
    lines = [
        "# Benchmarks",
        "",
        "Produced by `make bench` (`bench/run.py`) against the real service on the fake model, so",
        "that only the service's own cost shows. Client and server share the machine, so absolute",
        "figures are pessimistic; the ratios, measured side by side in the same run, are the point.",
        "",
        f"Machine: {results['machine']}.",
        "",
        "## 1. Service overhead per turn",
        "",
        "One turn = one message in, the fake model's reply streamed and stored. The bare handlers",
        "parse the same request and answer a reply of the same size with nothing behind them;",
        '"repository only" is the turn\'s SQL (claim, then commit) through the repository, without',
        "HTTP, model or counting. Each connection has its own chat; every chat's window holds",
        "about five exchanges (the service: `context_window` 520, reserve 100), so all read the",
        "same rows. Each line pools three rounds run one after another (every variant once a",
        "round), so the machine's drift over minutes falls on all of them alike.",
        "",
        "| what | database | connections | p50 ms | p99 ms | turns/s | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.what} | {r.database} | {r.connections} | {r.result.p50:.2f} | "
            f"{r.result.percentile(99):.2f} | {r.result.rate:.0f} | {r.result.errors} |"
        )
    http_1 = _find(rows, "chatservice HTTP turn", "MariaDB", 1).result
    http_32 = _find(rows, "chatservice HTTP turn", "MariaDB", 32).result
    sql_32 = _find(rows, "repository only (the turn's SQL)", "MariaDB", 32).result
    bare_1 = _find(rows, "bare Litestar handler", "-", 1).result
    grpc_1 = _find(rows, "chatservice gRPC turn", "MariaDB", 1).result
    bare_grpc_1 = _find(rows, "bare grpclib handler", "-", 1).result
    lines += [
        "",
        "| target | measured | |",
        "|---|---|---|",
        f"| p50 per HTTP turn, MariaDB, 1 connection ≤ 3 ms | {http_1.p50:.2f} ms | "
        f"{_ok(http_1.p50 <= 3)} |",
        f"| ≥ 300 HTTP turns/s, MariaDB, 32 connections | {http_32.rate:.0f}/s | "
        f"{_ok(http_32.rate >= 300)} |",
        f"| ≥ 0.6 × the turn's SQL rate (32 connections) | {http_32.rate / sql_32.rate:.2f} × | "
        f"{_ok(http_32.rate / sql_32.rate >= 0.6)} |",
        "",
        f"Ratios at 1 connection (p50): HTTP turn / bare Litestar = {http_1.p50 / bare_1.p50:.1f} ×; "
        f"gRPC turn / bare grpclib = {grpc_1.p50 / bare_grpc_1.p50:.1f} ×.",
        "",
        "![p50 latency per turn](benchmarks/overhead.png)",
    ]
    _bar_plot(rows, plots / "overhead.png")
    lines += _sql_floor(rows) + _profile(results["profile"])

    history_rows: list[Row] = results["history"]
    lines += ["", "## 2. Turn latency against history length", "",
              "The same window (about five exchanges) in both chats; the long chat's older",
              "messages are erased, as real turns leave them (5,000 real turns seeded it).", "",
              "| database | 10 stored messages, p50 ms | 10,000 stored messages, p50 ms | ratio | "
              "target ≤ 1.25 |", "|---|---|---|---|---|"]  # fmt: skip
    for database in sorted({r.database for r in history_rows}):
        short = _find(history_rows, "10 stored messages", database, 1).result
        long = _find(history_rows, "10,000 stored messages", database, 1).result
        ratio = long.p50 / short.p50
        lines.append(f"| {database} | {short.p50:.2f} | {long.p50:.2f} | {ratio:.2f} | "
                     f"{_ok(ratio <= 1.25)} |")  # fmt: skip

    streams: list[Streaming] = results["streaming"]
    lines += ["", "## 3. Concurrent streaming turns on one process", "",
              "The fake model streams 20 chunks, 50 ms apart; all turns start at once over SSE,",
              "each on its own connection and chat, so the first byte cannot come before 50 ms.",
              "Memory is the server's resident set. The targets are set on 500 turns; the",
              "smaller runs show where the time to first byte starts to grow.", "",
              "| database | turns | completed | TTFB p50 ms | TTFB p99 ms | total p50 ms | "
              "memory growth MB | targets at 500 (all complete, p99 ≤ 100 ms, ≤ 100 MB) |",
              "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for s in streams:
        growth = (s.rss_peak - s.rss_before) / 2**20
        met = s.completed == s.turns and s.first_byte_p99 <= 100 and growth <= 100
        verdict = _ok(met) if s.turns == 500 else "-"
        lines.append(
            f"| {s.database} | {s.turns} | {s.completed} | {statistics.median(s.first_byte):.0f} | "
            f"{s.first_byte_p99:.0f} | {statistics.median(s.total):.0f} | {growth:.1f} | "
            f"{verdict} |"
        )
    _ttfb_plot(streams, plots / "streaming.png")
    lines += ["", "![time to first byte against concurrent turns](benchmarks/streaming.png)"]

    tokens = results["tokens"]
    lines += ["", "## 4. Token counting per turn", "",
              "Our counting per turn (the new message and the reply, each with its chat-format",
              "overhead; role counts are remembered) against tiktoken encoding the new message",
              "alone. The reply must be counted from its visible text (docs/adr/0002), so the ratio is",
              "about 1 + (reply length / message length).", "",
              "| case | ours µs | tiktoken, message alone µs | ratio | target ≤ 2 × |",
              "|---|---|---|---|---|"]  # fmt: skip
    for label, figures in tokens.items():
        lines.append(f"| {label} | {figures['ours_us']:.1f} | {figures['bare_us']:.1f} | "
                     f"{figures['ratio']:.2f} | {_ok(figures['ratio'] <= 2)} |")  # fmt: skip

    cumulative = results["cumulative"]
    compat, v1 = cumulative["compat"], cumulative["v1"]
    lines += ["", "## 5. The compat cumulative stream against v1 deltas", "",
              f"One reply of 4,000 tokens ({cumulative['characters']:,} characters in "
              f"{cumulative['chunks']:,} chunks), over gRPC on loopback. CPU is the whole process",
              "(server and client run in it), so both sides of the cost are counted.", "",
              "| stream | messages | bytes on the wire | CPU s | wall s |", "|---|---|---|---|---|",
              f"| compat `pb.ChatService/ChatStream` (cumulative) | {compat['messages']:,} | "
              f"{compat['bytes']:,} | {compat['cpu_s']:.2f} | {compat['wall_s']:.2f} |",
              f"| `chatservice.v1/SendMessage` (deltas) | {v1['messages']:,} | {v1['bytes']:,} | "
              f"{v1['cpu_s']:.2f} | {v1['wall_s']:.2f} |",
              "", f"The cumulative stream sends {compat['bytes'] / v1['bytes']:.0f} × the bytes: "
              "its cost grows with the square of the reply. It stays for existing clients only."]  # fmt: skip
    lines += ["", *background_section(results["background"], results["machine"])]
    lines += ["", *startup_section(results["startup"], results["machine"])]
    for name, section in SECTIONS.items():
        lines += ["", *section(results[name], results["machine"])]
    analysis = (Path(__file__).parent / "analysis.md").read_text()
    markdown.write_text("\n".join(lines) + "\n" + analysis)


def _sql_floor(rows: list[Row]) -> list[str]:
    lines = ["", "What our data layer adds to the database's own work (MariaDB, p50):", "",
             "| connections | by hand on the bare driver ms | through the repository ms | ratio |",
             "|---|---|---|---|"]  # fmt: skip
    for connections in sorted({r.connections for r in rows}):
        direct = _find(rows, "the turn's SQL by hand on the bare driver", "MariaDB", connections)
        ours = _find(rows, "repository only (the turn's SQL)", "MariaDB", connections)
        lines.append(f"| {connections} | {direct.result.p50:.2f} | {ours.result.p50:.2f} | "
                     f"{ours.result.p50 / direct.result.p50:.2f} × |")  # fmt: skip
    return lines


def _profile(profile: dict[str, Any]) -> list[str]:
    lines = ["", "### Where the server's CPU goes", "",
             f"`chatservice serve` under cProfile for {profile['turns']:,} HTTP turns on MariaDB at",
             "one connection (`bench/profiled_serve.py`), own time only. cProfile slows Python code",
             "more than C code, so read the shares, not the seconds; the event loop (uvloop) is C",
             "and shows only through the callbacks it runs.", "",
             "| where | own CPU s | share |", "|---|---|---|"]  # fmt: skip
    for name, seconds, share in profile["by_package"]:
        lines.append(f"| {name} | {seconds:.2f} | {share:.0%} |")
    lines += ["", "| function | calls | own CPU s |", "|---|---|---|"]
    for seconds, calls, function in profile["top"]:
        lines.append(f"| {function} | {calls:,} | {seconds:.3f} |")
    return lines


def _bar_plot(rows: list[Row], path: Path) -> None:
    labels = [f"{r.what}\n{r.database}, {r.connections} conn" for r in rows]
    figure, axis = plt.subplots(figsize=(10, 0.45 * len(rows) + 1))
    axis.barh(labels, [r.result.p50 for r in rows], color="#4a7ab7")
    axis.set_xlabel("p50 latency per turn (ms)")
    axis.invert_yaxis()
    axis.tick_params(axis="y", labelsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def _ttfb_plot(streams: list[Streaming], path: Path) -> None:
    figure, axis = plt.subplots(figsize=(7, 3.5))
    for database in sorted({s.database for s in streams}):
        runs = sorted((s for s in streams if s.database == database), key=lambda s: s.turns)
        turns = [s.turns for s in runs]
        axis.plot(turns, [s.first_byte_p99 for s in runs], marker="o", label=f"{database} p99")
        axis.plot(turns, [statistics.median(s.first_byte) for s in runs], marker=".",
                  linestyle="--", label=f"{database} p50")  # fmt: skip
    axis.axhline(100, color="grey", linewidth=0.8, label="target (p99 at 500 turns)")
    axis.set_xlabel("concurrent streaming turns")
    axis.set_ylabel("time to first delta (ms)")
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
