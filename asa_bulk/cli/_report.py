"""The run report: the engine's ``df.attrs["run"]`` summary, on stderr and as a JSON file."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._writers import atomic_write


def _generic(summary: Mapping[str, Any], indent: str = "") -> list[str]:
    lines: list[str] = []
    for name, value in summary.items():
        if isinstance(value, Mapping) and value:
            lines.append(f"{indent}{name}:")
            lines.extend(_generic(value, indent + "  "))
        elif isinstance(value, list) and value and isinstance(value[0], Mapping):
            lines.append(f"{indent}{name}:")
            for item in value:
                lines.append(f"{indent}  - " + ", ".join(f"{k}={v}" for k, v in item.items()))
        else:
            lines.append(f"{indent}{name}: {value}")
    return lines


def render_report(summary: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> str:
    """Human lines for stderr: the engine's own format, then what the CLI did (files, exit)."""
    try:
        from asa_bulk._summary import format_summary

        body = format_summary(dict(summary))
    except (ImportError, KeyError, TypeError, ValueError):
        # A summary from another engine version: still show every figure, plainly.
        body = "\n".join(_generic(summary))
    lines = ["asa-bulk run summary", body]
    for name, value in (extra or {}).items():
        if value is not None:
            lines.append(f"{name}: {value}")
    return "\n".join(lines)


def report_document(
    summary: Mapping[str, Any], extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The ``--report`` JSON: the run summary plus a ``cli`` section (paths, exit code)."""
    document = dict(summary)
    if extra:
        document["cli"] = dict(extra)
    return document


def write_report(
    path: str | os.PathLike[str],
    summary: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write :func:`report_document` as indented JSON, atomically."""
    text = json.dumps(report_document(summary, extra), indent=2, default=str) + "\n"
    atomic_write(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))
