"""detect-secrets (Yelp) as a second reference for the secret kinds.

Each snippet is written to a temporary `.txt` file and scanned as `detect-secrets scan` scans a
file, with every plugin of its default settings (the vendor plugins, the keyword plugin and the
two high-entropy string plugins, which in a file look at quoted strings only) and its default
filters. Its scanner reports each secret's value and line, not its offsets: the offsets are those
of the value's first occurrence in that line. For a private key it reports the `BEGIN` line, so
a PEM block is a right finding but never caught whole. Every finding maps to every secret kind.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from detect_secrets.core.scan import scan_file
from detect_secrets.settings import default_settings


def detect_secrets_detector() -> Callable[[str], list[tuple[str, int, int]]]:
    # Removed when the detector is dropped or at exit (TemporaryDirectory's finalizer).
    folder = tempfile.TemporaryDirectory(prefix="privacy-eval-")
    path = Path(folder.name) / "snippet.txt"

    def detect(text: str) -> list[tuple[str, int, int]]:
        assert folder  # the closure keeps the folder alive as long as the detector
        path.write_text(text, encoding="utf-8")
        lines = text.split("\n")
        starts = [0]
        for line in lines:
            starts.append(starts[-1] + len(line) + 1)
        found = []
        with default_settings():
            for secret in scan_file(str(path)):
                line = lines[secret.line_number - 1]
                value = secret.secret_value or ""
                start = line.find(value) if value else -1
                if start >= 0:
                    offset = starts[secret.line_number - 1] + start
                    found.append((secret.type, offset, offset + len(value)))
        return found

    return detect
