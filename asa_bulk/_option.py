"""The shape of one option's declaration (:class:`Option`) and of its flag (:class:`Flag`).

The options themselves are declared in ``_options``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ._envfile import DEFAULT_ENV_FILE
from ._values import Check, Parse, parse_text

#: ``normalize(value, settings)``: run when the settings are built, after every value's check,
#: in declaration order; ``settings`` holds the values checked so far (a rule across options,
#: such as base_url's on allow_insecure_http, reads them there).
Normalize = Callable[[Any, Any], Any]


@dataclass(frozen=True, slots=True)
class Flag:
    """How an option is spelled on ``asa-bulk products``.

    ``action``: ``value`` takes an argument (text; an option with a parser other than plain
    text is parsed and checked like its variable), ``switch`` is a store-true flag, ``on_off``
    is a pair of flags (``flags[0]`` sets True, ``flags[1]`` False). ``help`` replaces the
    option's own when the flag means something else (``--keys-env`` names a variable).
    """

    flags: tuple[str, ...]
    group: Literal["service", "limits", "run"]
    metavar: str | None = None
    action: Literal["value", "switch", "on_off"] = "value"
    help: str | None = None
    off_help: str | None = None  # the second flag of an on_off pair

    @property
    def dest(self) -> str:
        """The attribute of the parsed arguments, argparse's name for the first flag."""
        return self.flags[0].lstrip("-").replace("-", "_")


@dataclass(frozen=True, slots=True)
class Option:
    """One option of ``fetch_products`` (and of the Client): the one definition of it.

    ``type`` is the value's type as a signature spells it, without the ``| None`` of "unset".
    A ``setting`` is a field of ``Settings``: left at None, it is read from its variable
    (``env[0]``), then the env file, then ``default``; ``unset`` says what None means when that
    is the default. ``check`` validates (and converts) a value from any source, ``parse`` turns
    a variable's or a flag's text into one, ``normalize`` runs when the settings are built.
    ``testing`` marks a knob for tests: it needs no flag.
    """

    name: str
    type: str
    default: Any
    help: str
    env: tuple[str, ...] = ()
    setting: bool = False
    check: Check | None = None
    parse: Parse = parse_text
    normalize: Normalize | None = None
    choices: tuple[str, ...] | None = None
    cli: Flag | None = None
    unset: str | None = None
    testing: bool = False

    def shown_default(self) -> str:
        """The default as code would write it (``'.env'``, not the sentinel's type)."""
        return repr(str(self.default) if self.default is DEFAULT_ENV_FILE else self.default)
