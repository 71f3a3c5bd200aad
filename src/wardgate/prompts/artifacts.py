"""Few-shot sets and tool sets: artifacts of their own that versions reference.

An artifact is a version of another prompt, so it is immutable, content-addressed, reviewed and audited like any
version. A version names it by prompt and version id (``examples: {prompt, version}``, ``tools: {prompt, version}``);
the id is part of the referencing version's content hash, so a version still never changes. When a version is
compiled, the few-shot set's messages go after its leading system/developer messages, and the tool set's
``params.tools`` become its ``tools``. An artifact may not reference artifacts itself (one level).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from wardgate.prompts.template import SpecError

FIELDS = ("examples", "tools")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")
_ID = re.compile(r"[0-9a-f]{64}")
# reads one version's spec by (owner, prompt, version id); the owner's own first, then the system-wide one
Read = Callable[[str, str, str], Awaitable[Mapping[str, Any] | None]]


class ArtifactMissing(LookupError):
    def __init__(self, field: str, prompt: str, version: str) -> None:
        super().__init__(f"{field}: prompt {prompt!r} has no version {version[:16]}…")
        self.field = field


def references(spec: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(field, prompt, version id) of each artifact the version names."""
    out = []
    for field in FIELDS:
        ref = spec.get(field)
        if ref is not None:
            out.append((field, ref["prompt"], ref["version"]))
    return out


def check_references(spec: Mapping[str, Any]) -> None:
    """The shape of ``examples``/``tools`` (before anything is read)."""
    for field in FIELDS:
        ref = spec.get(field)
        if ref is None:
            continue
        if (
            not isinstance(ref, dict)
            or set(ref) != {"prompt", "version"}
            or not isinstance(ref["prompt"], str)
            or not _NAME.fullmatch(ref["prompt"])
            or not isinstance(ref["version"], str)
            or not _ID.fullmatch(ref["version"])
        ):
            raise SpecError(f"{field}: must be {{prompt: NAME, version: VERSION_ID}}", field)
    if spec.get("tools") is not None and "tools" in (spec.get("params") or {}):
        raise SpecError("params.tools: the version takes its tools from `tools`; set one or the other", "params.tools")


def check_artifact(field: str, artifact: Mapping[str, Any]) -> None:
    """What a referenced version must be: a few-shot set is user/assistant messages only; a tool set has tools."""
    if any(artifact.get(f) is not None for f in FIELDS):
        raise SpecError(f"{field}: an artifact may not reference artifacts itself", field)
    if field == "examples":
        messages = artifact.get("messages") or []
        if not messages or any(m.get("role") not in ("user", "assistant") for m in messages):
            raise SpecError("examples: a few-shot set is a version of user and assistant messages only", field)
    elif not (artifact.get("params") or {}).get("tools"):
        raise SpecError("tools: a tool set is a version whose params.tools is not empty", field)


async def expand(spec: Mapping[str, Any], owner: str, read: Read) -> dict[str, Any]:
    """The version's content with its artifacts in place (``examples``/``tools`` removed)."""
    out = dict(spec)
    for field, prompt, version in references(spec):
        artifact = await read(owner, prompt, version)
        if artifact is None:
            raise ArtifactMissing(field, prompt, version)
        check_artifact(field, artifact)
        del out[field]
        if field == "examples":
            messages = list(out["messages"])
            lead = 0
            while lead < len(messages) and messages[lead]["role"] in ("system", "developer"):
                lead += 1
            out["messages"] = [*messages[:lead], *artifact["messages"], *messages[lead:]]
        else:
            out["params"] = {**(out.get("params") or {}), "tools": artifact["params"]["tools"]}
    return out
