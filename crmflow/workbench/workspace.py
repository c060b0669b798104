"""A throwaway copy of the processes folder with one file replaced by the draft.

Validation, scenarios and deploys all read files; the draft joins the other diagrams and
decision tables under the name it has in `processes/`, so cross-file rules (call activities,
messages, business-rule tasks) see the same set `crmflow validate processes/` would.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.validation.parsing import DIAGRAM_SUFFIXES

SAFE_NAME = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


def safe_file_name(name: str, suffix: str) -> str:
    """A plain file name with the expected suffix (no folders, nothing odd)."""
    plain = Path(name).name
    if not plain or set(plain) - SAFE_NAME or plain.startswith(".") or not plain.endswith(suffix):
        raise ValueError(f"file name {name!r} must be a plain name ending in {suffix}")
    return plain


@contextmanager
def with_draft(processes: Path, file_name: str, content: bytes) -> Iterator[Path]:
    """A temporary folder: every diagram file of `processes` (and its forms), `file_name` = the draft."""
    with tempfile.TemporaryDirectory(prefix="crmflow-workbench-") as raw:
        folder = Path(raw)
        if processes.is_dir():
            for path in processes.iterdir():
                if path.is_file() and (path.suffix in DIAGRAM_SUFFIXES or path.name == "lanes.json"):
                    shutil.copy2(path, folder / path.name)
            forms = processes / "forms"
            if forms.is_dir():
                shutil.copytree(forms, folder / "forms")
        (folder / file_name).write_bytes(content)
        yield folder
