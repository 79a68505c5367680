"""Each option is declared once (``_options``); Settings, the retry policy, the command line and
the public signature agree with that declaration."""

from __future__ import annotations

import argparse
import inspect
import re
from dataclasses import fields
from typing import Any, get_args

import pytest

import asa_bulk
from asa_bulk import fetch_products
from asa_bulk._errors import ConfigError
from asa_bulk._option import Flag, Option
from asa_bulk._optiondocs import option_help, with_option_help
from asa_bulk._options import DEFAULTS, OPTIONS, SETTINGS
from asa_bulk._policy import RetryPolicy
from asa_bulk._settings import AuthMode, Settings, resolve_settings
from asa_bulk._values import parse_text
from asa_bulk.cli._command import _engine_options
from asa_bulk.cli._parser import build_parser
from tests.support.options import assert_signature_covers_options, signature_problems

#: Flags of ``asa-bulk products`` that are the command's own, not library options.
COMMAND_FLAGS = {
    "-h", "--help", "-o", "--output", "--column", "--input-format", "--snapshot-dir",
    "--snapshot-date", "--report", "--dry-run", "-v", "--verbose", "-q", "--quiet",
}  # fmt: skip

#: A value other than the default for every setting that has a flag (a switch takes none).
SAMPLE_TEXT = {
    "base_url": "http://127.0.0.1:9",
    "domain": "de",
    "language": "de_DE",
    "country": "DE",
    "concurrency": "3",
    "rps": "1.5",
    "timeout": "7",
    "max_attempts": "2",
    "max_item_seconds": "30",
    "max_wait": "5",
    "auth": "query",
    "allow_insecure_http": "1",
    "max_credits": "100",
    "batch_size": "250",
    "batch_poll_seconds": "45",
    "batch_deadline": "3600",
    "batch_retry": "none",
}
FLAGGED = [option for option in SETTINGS if option.cli is not None]


def products_parser() -> argparse.ArgumentParser:
    actions = build_parser()._actions
    sub = next(a for a in actions if isinstance(a, argparse._SubParsersAction))
    parser: argparse.ArgumentParser = sub.choices["products"]
    return parser


def cli(option: Option) -> Flag:
    assert option.cli is not None, option.name
    return option.cli


def parse(*flags: str) -> argparse.Namespace:
    return build_parser().parse_args(["products", "in.txt", *flags])


# -- the declaration ----------------------------------------------------------------------------


def test_settings_fields_types_and_defaults_are_the_declared_ones() -> None:
    declared = {option.name: option for option in SETTINGS}
    assert [f.name for f in fields(Settings)] == list(declared)
    for f in fields(Settings):
        option = declared[f.name]
        assert f.default == option.default, f.name
        wanted = option.type + (" | None" if option.default is None else "")
        if f.type == "AuthMode":  # the checked value is narrower than what a caller may pass
            assert get_args(AuthMode) == option.choices
        else:
            assert f.type == wanted, f.name
    assert Settings() == resolve_settings({}, environ={}, env_file=None)


def test_the_retry_policy_takes_its_defaults_from_the_declaration() -> None:
    policy = RetryPolicy()
    assert policy.max_attempts == DEFAULTS["max_attempts"]
    assert policy.max_item_seconds == DEFAULTS["max_item_seconds"]
    assert policy.max_wait == DEFAULTS["max_wait"]
    assert policy.delay_scale == DEFAULTS["retry_delay_scale"]


@pytest.mark.parametrize("option", SETTINGS, ids=lambda o: o.name)
def test_every_real_setting_has_a_variable_and_a_flag_of_its_own_name(option: Option) -> None:
    assert option.env == ("ASA_" + option.name.upper(),)
    if option.testing:
        assert option.cli is None, "a test knob is not a command-line flag"
    else:
        assert option.cli is not None
        assert option.cli.flags == ("--" + option.name.replace("_", "-"),)


def test_only_test_knobs_go_without_a_flag_and_every_option_is_documented() -> None:
    for option in OPTIONS.values():
        assert option.help.endswith("."), option.name
        if option.cli is None and option.setting:
            assert option.testing, option.name
    # Clocks and seeds are not options at all: asa_bulk.testing.set_testing sets them.
    assert {name for name, option in OPTIONS.items() if option.testing} == {"retry_delay_scale"}


# -- the command line ---------------------------------------------------------------------------


def test_the_command_has_the_declared_flags_and_no_other_option_flags() -> None:
    parser = products_parser()
    actions = {flag: action for action in parser._actions for flag in action.option_strings}
    declared = {flag for o in OPTIONS.values() if o.cli for flag in o.cli.flags}
    assert set(actions) - COMMAND_FLAGS == declared
    for option in OPTIONS.values():
        if option.cli is None:
            continue
        for flag in option.cli.flags:
            action = actions[flag]
            assert action.dest == option.cli.dest == option.name or option.name == "keys"
            if cli(option).action == "value":
                assert action.metavar == option.cli.metavar, flag
                assert action.choices == option.choices, flag
    assert actions["--keys-env"].dest == "keys_env"  # names a variable: not the keys themselves


def test_help_shows_each_setting_with_its_variable_and_default() -> None:
    text = products_parser().format_help().split("positional arguments:")[1]  # not the usage
    text = " ".join(text.split())
    for option in FLAGGED:
        entry = re.search(
            rf"{cli(option).flags[0]} (\S+ )?(?P<help>.*?\({option.env[0]}; [^)]*\))", text
        )
        assert entry, f"--help lacks {option.name}"
        first_words = " ".join(option.help.split()[1:4])
        assert first_words in entry["help"], option.name
        if option.default is not None:
            assert f"default {option.default}" in entry["help"], option.name


def test_flags_left_out_leave_every_setting_to_the_environment() -> None:
    options = _engine_options(parse())
    assert options == {option.name: None for option in FLAGGED}


def test_samples_cover_every_flagged_setting() -> None:
    assert set(SAMPLE_TEXT) == {option.name for option in FLAGGED}


@pytest.mark.parametrize("option", FLAGGED, ids=lambda o: o.name)
def test_a_flag_means_what_its_variable_means(option: Option) -> None:
    text = SAMPLE_TEXT[option.name]
    argv = (
        [cli(option).flags[0]] if cli(option).action == "switch" else [cli(option).flags[0], text]
    )
    from_flag = resolve_settings(_engine_options(parse(*argv)), environ={}, env_file=None)
    from_env = resolve_settings({}, environ={option.env[0]: text}, env_file=None)
    assert from_flag == from_env
    assert getattr(from_flag, option.name) != option.default


NUMERIC = [o for o in FLAGGED if o.parse is not parse_text and cli(o).action == "value"]


@pytest.mark.parametrize("option", NUMERIC, ids=lambda o: o.name)
def test_a_bad_numeric_flag_names_the_flag_and_the_setting(option: Option) -> None:
    flag = cli(option).flags[0]
    with pytest.raises(
        ConfigError, match=rf"^{flag}='soon' is not a valid value for {option.name}"
    ):
        _engine_options(parse(flag, "soon"))
    with pytest.raises(ConfigError, match=rf"^{flag}='-1': {option.name} must be "):
        _engine_options(parse(flag, "-1"))


# -- docs and signatures ------------------------------------------------------------------------


def test_option_help_renders_name_type_default_variable_flag_and_help() -> None:
    text = option_help(["timeout", "concurrency", "retry_delay_scale"])
    assert text.startswith("Options\n-------\nA setting left at None is read from its ASA_*")
    assert "\ntimeout : float, default 60.0\n    Seconds one request may take;" in text
    assert "Environment: ASA_TIMEOUT. Command line: --timeout. concurrency" in " ".join(
        text.split()
    )
    assert "\nconcurrency : int, default None\n" in text
    assert "None: start at 10, the Free plan's," in text
    assert "\nretry_delay_scale : float, default 1.0\n" in text
    assert "max_wait" not in text
    whole = option_help()
    assert all(f"\n{name} : " in whole for name in OPTIONS)
    assert all(len(line) <= 100 for line in whole.splitlines())
    assert "A setting left at None" not in option_help(["raw"])
    with pytest.raises(KeyError):
        option_help(["no_such_option"])


def test_with_option_help_appends_evenly_to_an_indented_docstring() -> None:
    def documented() -> None:
        """Summary line.

        More about it.
        """

    doc = with_option_help(documented.__doc__, ["timeout"])
    assert doc.startswith("Summary line.\n\nMore about it.\n\nOptions\n-------\n")
    assert inspect.cleandoc(doc) == doc.rstrip("\n")


def test_fetch_products_takes_every_declared_option() -> None:
    assert_signature_covers_options(fetch_products)
    assert_signature_covers_options(asa_bulk.fetch_products_sync)


def test_the_client_takes_every_option_but_those_of_one_call() -> None:
    # raw and stop belong to a call (Client.products/iter_products), not to the client.
    assert_signature_covers_options(asa_bulk.Client, exclude=["raw", "stop", "mode"])
    for method in (asa_bulk.Client.products, asa_bulk.Client.iter_products):
        names = set(inspect.signature(method).parameters)
        assert {"raw", "stop", "mode", "domain", "language", "country"} <= names
    assert "mode" in inspect.signature(asa_bulk.Client.search).parameters
    assert "mode" in inspect.signature(asa_bulk.Client.iter_search).parameters


def _changed(**parameters: inspect.Parameter | None) -> Any:
    """A stand-in for fetch_products with some parameters replaced (None: removed)."""
    signature = inspect.signature(fetch_products)
    params = dict(signature.parameters)
    for name, parameter in parameters.items():
        if parameter is None:
            del params[name]
        else:
            params[name] = parameter
    stand_in: Any = lambda *args, **kwargs: None  # noqa: E731
    stand_in.__signature__ = signature.replace(parameters=list(params.values()))
    stand_in.__qualname__ = "stand_in"
    return stand_in


def _keyword(name: str, annotation: str, default: object) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
    )


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"timeout": None}, "timeout: missing"),
        ({"timeout": _keyword("timeout", "float | None", 60.0)}, "timeout: default 60.0"),
        ({"timeout": _keyword("timeout", "str | None", None)}, "timeout: annotation"),
        ({"raw": _keyword("raw", "bool", True)}, "raw: default True"),
        ({"bogus": _keyword("bogus", "int", 0)}, "bogus: not a declared option"),
    ],
)
def test_the_signature_check_names_what_is_wrong(
    changes: dict[str, inspect.Parameter | None], problem: str
) -> None:
    problems = signature_problems(_changed(**changes))
    assert any(p.startswith(problem) for p in problems), problems
    with pytest.raises(AssertionError, match=re.escape(problem)):
        assert_signature_covers_options(_changed(**changes))


def test_the_signature_check_takes_exclusions_and_extras() -> None:
    without_stop = _changed(stop=None, bogus=_keyword("bogus", "int", 0))
    assert_signature_covers_options(without_stop, exclude=["stop"], extra=["bogus"])
    assert signature_problems(fetch_products, exclude=["stop"]) == [
        "stop: excluded but in the signature"
    ]
    assert signature_problems(fetch_products, exclude=["nope"]) == ["exclude names no option: nope"]
