"""A stand-in for `python -m chatservice.entrypoints.worker` that takes the same arguments and
stdin, then fails at start-up (exit 3) before it is ready: for the supervisor's own tests."""

from __future__ import annotations

import argparse
import sys

parser = argparse.ArgumentParser()
for name in ("--http-fd", "--grpc-fd", "--ready-fd"):
    parser.add_argument(name, type=int, required=True)
parser.parse_args()
sys.stdin.buffer.readline()
print("failing worker: failing at start-up", file=sys.stderr)
sys.exit(3)
