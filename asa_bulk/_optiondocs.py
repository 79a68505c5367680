"""The declared options as a docstring section, for the public signatures' docs."""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Iterable

from ._options import OPTIONS


def option_help(names: Iterable[str] | None = None, *, title: str = "Options") -> str:
    """The options ``names`` (all by default) as a numpydoc-style docstring section.

    One entry per option: ``name : type, default D``, then its help, what None means, its
    environment variable and its flag. Append it to a docstring with :func:`with_option_help`,
    which evens out the indentation.
    """
    chosen = [OPTIONS[name] for name in (OPTIONS if names is None else names)]
    lines = [title, "-" * len(title)]
    if any(option.setting for option in chosen):
        lines += textwrap.wrap(
            "A setting left at None is read from its ASA_* variable, then from the same "
            "variable in env_file, then takes its default.",
            96,
        )
        lines.append("")
    for option in chosen:
        text = option.help
        if option.default is None and option.unset is not None:
            text += f" None: {option.unset}."
        if option.env:
            text += f" Environment: {', '.join(option.env)}."
        if option.cli is not None:
            text += f" Command line: {', '.join(option.cli.flags)}."
        lines.append(f"{option.name} : {option.type}, default {option.shown_default()}")
        lines += textwrap.wrap(text, 96, initial_indent="    ", subsequent_indent="    ")
    return "\n".join(lines) + "\n"


def with_option_help(doc: str | None, names: Iterable[str] | None = None) -> str:
    """``doc`` (a docstring, indented or not) followed by :func:`option_help` of ``names``."""
    return inspect.cleandoc(doc or "") + "\n\n" + option_help(names)
