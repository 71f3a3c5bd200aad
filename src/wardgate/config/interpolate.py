"""``${VAR}`` and ``${VAR:-default}`` in string values, applied after the YAML is parsed.

Interpolating parsed values (never the text) means a secret holding ``:``, ``#`` or a newline cannot change the
config's structure. ``$${`` escapes a literal ``${``.

Secrets as files: when ``WARDGATE_SECRETS_DIR`` names a directory, a ``${VAR}`` the environment does not set is read
from the file ``$WARDGATE_SECRETS_DIR/VAR`` (a Kubernetes Secret mounted as a volume is one file per key; Docker
secrets likewise). One trailing newline is dropped; a file over 64 KiB is an error, not a value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from wardgate.config.errors import ConfigProblem, dotted

SECRETS_DIR_ENV = "WARDGATE_SECRETS_DIR"
MAX_SECRET_FILE = 64 * 1024


class SecretsDirError(ValueError):
    pass


class Environment(Mapping[str, str]):
    """The process environment, then the files of ``WARDGATE_SECRETS_DIR`` (read when a ``${VAR}`` asks for them, so
    a rotated Secret is seen by the next reload)."""

    def __init__(self, env: Mapping[str, str], secrets_dir: str | None) -> None:
        self._env = env
        self._dir = Path(secrets_dir) if secrets_dir else None

    def __getitem__(self, name: str) -> str:
        found = self._env.get(name)
        if found is not None:
            return found
        if self._dir is None or not _NAME.fullmatch(name):
            raise KeyError(name)
        path = self._dir / name
        try:
            with path.open("rb") as file:
                data = file.read(MAX_SECRET_FILE + 1)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise KeyError(name) from None
        except OSError as exc:
            raise SecretsDirError(f"cannot read {path} ({exc.strerror})") from None
        if len(data) > MAX_SECRET_FILE:
            raise SecretsDirError(f"{path} is over {MAX_SECRET_FILE // 1024} KiB")
        return data.decode("utf-8", errors="replace").removesuffix("\n").removesuffix("\r")

    def __iter__(self) -> Iterator[str]:
        return iter(self._env)

    def __len__(self) -> int:
        return len(self._env)


def environment() -> Environment:
    return Environment(os.environ, os.environ.get(SECRETS_DIR_ENV))


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_VAR = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate(value: Any, env: Mapping[str, str], problems: list[ConfigProblem], loc: tuple[Any, ...] = ()) -> Any:
    if isinstance(value, str):
        return _interpolate_str(value, env, problems, loc)
    if isinstance(value, dict):
        return {k: interpolate(v, env, problems, (*loc, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env, problems, (*loc, i)) for i, v in enumerate(value)]
    return value


def _interpolate_str(text: str, env: Mapping[str, str], problems: list[ConfigProblem], loc: tuple[Any, ...]) -> str:
    if "$" not in text:
        return text

    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        try:
            found = env.get(name)
        except SecretsDirError as exc:
            problems.append(ConfigProblem(dotted(loc), f"secret {name}: {exc}.", f"fix or remove the file {name}."))
            return ""
        if found is not None and (found != "" or default is None):
            return found
        if default is not None:
            return default
        problems.append(
            ConfigProblem(
                dotted(loc),
                f"environment variable {name} is not set.",
                f"export {name}=…, or give a default: ${{{name}:-value}}.",
            )
        )
        return ""

    return _VAR.sub(sub, text)
