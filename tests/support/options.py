"""Checks of a public signature against the one declaration of the options (``_options``).

``assert_signature_covers_options(fetch_products)`` fails unless every declared option (but
those in ``exclude``) is a keyword parameter of that name whose annotation includes the
declared type and whose default is the declared one, or None for a setting (None: read the
``ASA_*`` variable, then the env file, then the default); and unless every other keyword-only
parameter is declared or listed in ``extra`` (positional ones, such as ``items``, are data).
A class is checked through its ``__init__``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

from asa_bulk._options import OPTIONS


def union_parts(annotation: object) -> set[str]:
    """The members of a ``A | B | None`` annotation, as text, split at the top level only."""
    text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
    parts, depth, current = set(), 0, ""
    for char in text:
        depth += char in "[("
        depth -= char in "])"
        if char == "|" and depth == 0:
            parts.add(current.strip())
            current = ""
        else:
            current += char
    parts.add(current.strip())
    return parts


def signature_problems(
    func_or_class: Callable[..., Any], *, exclude: Iterable[str] = (), extra: Iterable[str] = ()
) -> list[str]:
    """What keeps ``func_or_class``'s signature from covering the declared options."""
    parameters = inspect.signature(func_or_class).parameters
    keywords = {
        name: p
        for name, p in parameters.items()
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }
    keyword_only = {name for name, p in keywords.items() if p.kind is p.KEYWORD_ONLY}
    exclude, extra = set(exclude), set(extra)
    problems = [f"exclude names no option: {name}" for name in sorted(exclude - set(OPTIONS))]
    for name, option in OPTIONS.items():
        if name in exclude:
            if name in keywords:
                problems.append(f"{name}: excluded but in the signature")
            continue
        parameter = keywords.get(name)
        if parameter is None:
            problems.append(f"{name}: missing")
            continue
        wanted = None if option.setting else option.default
        if parameter.default is parameter.empty or parameter.default != wanted:
            problems.append(f"{name}: default {parameter.default!r}, declared {wanted!r}")
        parts = union_parts(parameter.annotation)
        declared = union_parts(option.type) | ({"None"} if wanted is None else set())
        if parameter.annotation is parameter.empty or not declared <= parts:
            problems.append(f"{name}: annotation {parameter.annotation!r}, declared {declared}")
    undeclared = keyword_only - set(OPTIONS) - extra
    problems += [f"{name}: not a declared option" for name in sorted(undeclared)]
    return problems


def assert_signature_covers_options(
    func_or_class: Callable[..., Any], *, exclude: Iterable[str] = (), extra: Iterable[str] = ()
) -> None:
    problems = signature_problems(func_or_class, exclude=exclude, extra=extra)
    assert not problems, f"{func_or_class.__qualname__}: " + "; ".join(problems)
