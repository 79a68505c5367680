"""The dotenv file of a run: the default ``.env`` is read if present; a file named must exist."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from dotenv import dotenv_values

from ._errors import ConfigError


class _DefaultEnvFile(str):
    """The type of :data:`DEFAULT_ENV_FILE` only, so that the default can be told from the same
    name given explicitly (which, like any path given, must exist)."""

    __slots__ = ()


#: The default ``env_file``: ``.env`` in the working directory, if there is one. It equals
#: ``".env"``; only this object (``is``) means "the default".
DEFAULT_ENV_FILE: Final = _DefaultEnvFile(".env")


def read_env_file(env_file: str | os.PathLike[str] | None) -> Mapping[str, str | None]:
    """The variables in ``env_file`` (python-dotenv; ``os.environ`` is never changed).

    None reads nothing, and so does :data:`DEFAULT_ENV_FILE` when there is no ``.env``; any
    other file that is missing or unreadable is a ConfigError: a path given by mistake would
    otherwise silently leave its keys and settings unread.
    """
    if env_file is None:
        return {}
    path = Path(env_file)
    if not path.is_file():
        if env_file is DEFAULT_ENV_FILE:
            return {}
        problem = "is not a file" if path.exists() else "does not exist"
        raise ConfigError(f"env_file {str(env_file)!r} {problem}")
    try:
        return dotenv_values(path, encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read env_file {str(env_file)!r}: {exc}") from None
