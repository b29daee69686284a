"""The repository's docs stand alone and agree with the code they describe."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[2]

#: Where the repository's own text lives; its docs must not send a reader to files it lacks.
OWN_TEXT = [
    "README.md",
    "docs",
    "src",
    "tests",
    "bench",
    "scripts",
    "alembic",
    "protos",
    "pyproject.toml",
    "Makefile",
    "Dockerfile",
    "docker-compose.yaml",
]
OUTSIDE_DOCUMENTS = re.compile(r"\.\./shared|SPEC §|SPEC\.md")


def own_text_files() -> list[Path]:
    files = []
    for entry in OWN_TEXT:
        path = ROOT / entry
        candidates = path.rglob("*") if path.is_dir() else [path]
        files += [
            f
            for f in candidates
            if f.is_file() and "__pycache__" not in f.parts and f != Path(__file__)
        ]
    return files


def test_readme_docs_and_code_cite_no_document_outside_the_repository() -> None:
    citing = [
        str(path.relative_to(ROOT))
        for path in own_text_files()
        if OUTSIDE_DOCUMENTS.search(path.read_bytes().decode("utf-8", errors="ignore"))
    ]
    assert citing == []
