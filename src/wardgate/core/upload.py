"""A file a client uploaded (audio to transcribe, an image to edit): spooled to a temporary file, never held whole
in memory. The surface that read it removes it when the request ends."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Upload:
    field: str  # the form field it came in ("file", "image", "image[]", "mask")
    filename: str  # as the client named it (bounded, printable); never a path on this machine
    content_type: str
    path: str  # the temporary file holding its bytes
    size: int

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
