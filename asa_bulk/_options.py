"""Every option of the engine, declared once: name, type, default, variable, checks, flag, help.

Derived from :data:`OPTIONS`: the defaults of :class:`~asa_bulk._settings.Settings` (and of
the retry policy), :data:`ENV_NAMES`, how ``parse_setting``/``resolve_settings`` parse and check
each value, the flags of ``asa-bulk products`` and their help (``cli/_parser.py``), and the
options' section of a docstring (``_optiondocs.option_help``). Tests hold the README's
configuration table and the public signatures to the same declarations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ._baseurl import DEFAULT_BASE_URL, check_base_url
from ._envfile import DEFAULT_ENV_FILE
from ._errors import ConfigError
from ._keys import ENV_KEY, ENV_KEYS
from ._marketplaces import normalize_country, normalize_domain, normalize_language
from ._option import Flag, Option
from ._values import (
    flag,
    one_of,
    parse_bool,
    parse_float,
    parse_int,
    real,
    whole,
)

#: Safe starting limits per key: the smallest plan (Free: 10 in flight, 2 requests/s sustained).
#: Unless pinned by the caller, each key's limits then follow the ``Asa-Concurrency`` and
#: ``Asa-Rps`` headers the service returns.
DEFAULT_CONCURRENCY: Final = 10
DEFAULT_RPS: Final = 2.0

AUTH_MODES: Final = ("bearer", "query")


def _min1(name: str, value: object) -> int:
    return whole(name, value, minimum=1)


def _min0(name: str, value: object) -> int:
    return whole(name, value, minimum=0)


def _positive(name: str, value: object) -> float:
    return real(name, value, zero_ok=False)


def _not_negative(name: str, value: object) -> float:
    return real(name, value, zero_ok=True)


def _base_url(value: Any, settings: Any) -> str:
    return check_base_url(value, settings.allow_insecure_http)


def _domain(value: Any, _: Any) -> str:
    return normalize_domain(value)


def _language(value: Any, _: Any) -> str:
    return normalize_language(value)


def _country(value: Any, _: Any) -> str:
    return normalize_country(value)


def _auth(value: Any, _: Any) -> str:
    return one_of("auth", value, AUTH_MODES)


#: How a call sends its requests: sync lookups on the keys, or server-side batches.
MODES: Final = ("sync", "batch")
#: What becomes of batch items that failed with a retryable error.
BATCH_RETRIES: Final = ("sync", "none")
#: Most items one batch may hold (the service's limit).
MAX_BATCH_SIZE: Final = 1000


def _batch_size(name: str, value: object) -> int:
    size = whole(name, value, minimum=1)
    if size > MAX_BATCH_SIZE:
        raise ConfigError(
            f"{name} must be at most {MAX_BATCH_SIZE} (the service's limit), got {size}"
        )
    return size


def _batch_retry(value: Any, _: Any) -> str:
    return one_of("batch_retry", value, BATCH_RETRIES)


_DECLARED: Final = (
    Option(
        "keys",
        "Iterable[str | ApiKey] | str",
        None,
        "API keys: a list, or one comma/space-separated string, each asa_live_/asa_test_ + 24 "
        "letters or digits. Unset: the first of the variables set, in the environment, then in "
        "the env file; none anywhere is a NoKeysError before anything is sent.",
        env=(ENV_KEYS, ENV_KEY),
        cli=Flag(
            ("--keys-env",),
            "service",
            "NAME",
            help="read the API keys (comma/space separated) from environment variable NAME "
            f"(or NAME in the env file) instead of {ENV_KEYS}/{ENV_KEY}",
        ),
    ),
    Option(
        "base_url",
        "str",
        DEFAULT_BASE_URL,
        "API root, a sandbox's to work offline: https://, or plain http:// to this machine "
        "only (see allow_insecure_http); no credentials, query or fragment.",
        env=("ASA_BASE_URL",),
        setting=True,
        normalize=_base_url,
        cli=Flag(("--base-url",), "service", "URL"),
    ),
    Option(
        "domain",
        "str",
        "com",
        "Marketplace for rows without their own domain: one of the 20, e.g. com, co.uk, de "
        "(amazon.de works too).",
        env=("ASA_DOMAIN",),
        setting=True,
        normalize=_domain,
        cli=Flag(("--domain",), "service", "DOMAIN"),
    ),
    Option(
        "language",
        "str",
        None,
        "Page language xx_YY (e.g. en_US) for rows without their own.",
        env=("ASA_LANGUAGE",),
        setting=True,
        normalize=_language,
        cli=Flag(("--language",), "service", "xx_YY"),
        unset="the marketplace's",
    ),
    Option(
        "country",
        "str",
        None,
        "Exit-IP country, ISO 3166 alpha-2 (e.g. DE), for rows without their own.",
        env=("ASA_COUNTRY",),
        setting=True,
        normalize=_country,
        cli=Flag(("--country",), "service", "CC"),
        unset="the service's choice",
    ),
    Option(
        "concurrency",
        "int",
        None,
        "Requests in flight per key; a number pins it.",
        env=("ASA_CONCURRENCY",),
        setting=True,
        check=_min1,
        parse=parse_int,
        cli=Flag(("--concurrency",), "limits", "N"),
        unset=f"start at {DEFAULT_CONCURRENCY}, the Free plan's, and follow Asa-Concurrency",
    ),
    Option(
        "rps",
        "float",
        None,
        "Sustained requests per second per key; a number pins it.",
        env=("ASA_RPS",),
        setting=True,
        check=_positive,
        parse=parse_float,
        cli=Flag(("--rps",), "limits", "RPS"),
        unset=f"start at {DEFAULT_RPS:g}, the Free plan's, and follow Asa-Rps",
    ),
    Option(
        "timeout",
        "float",
        60.0,
        "Seconds one request may take; then it is a timeout and retried.",
        env=("ASA_TIMEOUT",),
        setting=True,
        check=_positive,
        parse=parse_float,
        cli=Flag(("--timeout",), "limits", "SECONDS"),
    ),
    Option(
        "max_attempts",
        "int",
        4,
        "Failed attempts per item before it is failed; 429s and retired keys don't count.",
        env=("ASA_MAX_ATTEMPTS",),
        setting=True,
        check=_min1,
        parse=parse_int,
        cli=Flag(("--max-attempts",), "limits", "N"),
    ),
    Option(
        "max_item_seconds",
        "float",
        600.0,
        "Seconds one item may take from its first send, waits and retries included.",
        env=("ASA_MAX_ITEM_SECONDS",),
        setting=True,
        check=_positive,
        parse=parse_float,
        cli=Flag(("--max-item-seconds",), "limits", "SECONDS"),
    ),
    Option(
        "max_wait",
        "float",
        300.0,
        "Longest single wait in seconds, a Retry-After or a backoff; a longer Retry-After is "
        "cut to this.",
        env=("ASA_MAX_WAIT",),
        setting=True,
        check=_positive,
        parse=parse_float,
        cli=Flag(("--max-wait",), "limits", "SECONDS"),
    ),
    Option(
        "progress",
        "bool",
        True,
        "Draw a progress bar (tqdm.auto: a widget in Jupyter, text on stderr elsewhere).",
        cli=Flag(
            ("--progress", "--no-progress"),
            "run",
            action="on_off",
            help="always draw the progress bar on stderr (default: only on a terminal)",
            off_help="no progress bar",
        ),
    ),
    Option(
        "auth",
        "str",
        "bearer",
        "How the key is sent: bearer, an Authorization header, or query, ?api_key= in the "
        "URL, which proxy logs keep.",
        env=("ASA_AUTH",),
        setting=True,
        normalize=_auth,
        choices=AUTH_MODES,
        cli=Flag(("--auth",), "service"),
    ),
    Option(
        "allow_insecure_http",
        "bool",
        False,
        "Allow a plain http:// base_url to a host other than this machine; the key then "
        "crosses the network in clear text.",
        env=("ASA_ALLOW_INSECURE_HTTP",),
        setting=True,
        check=flag,
        parse=parse_bool,
        cli=Flag(("--allow-insecure-http",), "service", action="switch"),
    ),
    Option(
        "raw",
        "bool",
        False,
        "Add a raw column with each decoded JSON body.",
        cli=Flag(("--raw",), "run", action="switch"),
    ),
    Option(
        "checkpoint",
        "str | os.PathLike[str] | CheckpointStore",
        None,
        "A SQLite file (or a store) recording every finished request as it arrives; a re-run "
        "with the same one sends (and pays for) none of them again.",
        cli=Flag(("--checkpoint",), "run", "PATH"),
    ),
    Option(
        "max_credits",
        "int",
        None,
        "Never start a request that could take this run's billed credits past N (5 per "
        "product); the rows left are skipped with error budget_exhausted.",
        env=("ASA_MAX_CREDITS",),
        setting=True,
        check=_min0,
        parse=parse_int,
        cli=Flag(("--max-credits",), "limits", "N"),
        unset="no cap",
    ),
    Option(
        "retry_delay_scale",
        "float",
        1.0,
        "Multiplies every wait, backoff and Retry-After; keep 1.0 on the real service (tests "
        "and the sandbox use less).",
        env=("ASA_RETRY_DELAY_SCALE",),
        setting=True,
        check=_not_negative,
        parse=parse_float,
        testing=True,
    ),
    Option(
        "allow_origin_change",
        "bool",
        False,
        "Resume a checkpoint filled against another base_url (refused by default: its rows "
        "would pass as this service's).",
        cli=Flag(("--allow-origin-change",), "run", action="switch"),
    ),
    Option(
        "mode",
        "str",
        "sync",
        "sync sends each request on the keys; batch posts them as server-side batches (no key "
        "concurrency used, ~100 items a minute, needs a checkpoint file) and adds batch_id.",
        choices=MODES,
        cli=Flag(("--mode",), "run"),
    ),
    Option(
        "batch_size",
        "int",
        MAX_BATCH_SIZE,
        "Most unique requests per batch in batch mode, 1 to 1000.",
        env=("ASA_BATCH_SIZE",),
        setting=True,
        check=_batch_size,
        parse=parse_int,
        cli=Flag(("--batch-size",), "limits", "N"),
    ),
    Option(
        "batch_poll_seconds",
        "float",
        30.0,
        "Seconds between polls of a batch (the docs suggest 30-60); a webhook delivery ends a "
        "wait early.",
        env=("ASA_BATCH_POLL_SECONDS",),
        setting=True,
        check=_positive,
        parse=parse_float,
        cli=Flag(("--batch-poll-seconds",), "limits", "SECONDS"),
    ),
    Option(
        "batch_deadline",
        "float",
        86400.0,
        "Seconds a batch-mode call waits for its batches; then it stops, rows still waiting "
        "are skipped, and a re-run with the checkpoint polls the same batches.",
        env=("ASA_BATCH_DEADLINE",),
        setting=True,
        check=_positive,
        parse=parse_float,
        cli=Flag(("--batch-deadline",), "limits", "SECONDS"),
    ),
    Option(
        "batch_retry",
        "str",
        "sync",
        "Batch items that failed with a retryable error: sync sends them again as sync "
        "requests, none leaves them failed for a re-run.",
        env=("ASA_BATCH_RETRY",),
        setting=True,
        normalize=_batch_retry,
        choices=BATCH_RETRIES,
        cli=Flag(("--batch-retry",), "limits"),
    ),
    Option(
        "repost_unconfirmed",
        "bool",
        False,
        "Post again the items of a batch whose POST answer was lost and that reconciling "
        "could not find; it may bill them twice.",
        cli=Flag(("--repost-unconfirmed",), "run", action="switch"),
    ),
    Option(
        "webhook",
        "WebhookReceiver",
        None,
        "A running asa_bulk.webhooks.receiver(): batches are posted with its url, and its "
        "verified deliveries end the poll waits early.",
    ),
    Option(
        "env_file",
        "str | os.PathLike[str]",
        DEFAULT_ENV_FILE,
        "The dotenv file read for keys and settings (os.environ is never changed): the "
        "default .env only if present, a file named must exist; None reads none.",
        cli=Flag(
            ("--env-file",),
            "service",
            "PATH",
            help="dotenv file of keys and settings; default: .env if present (a PATH given "
            "must exist)",
        ),
    ),
    Option(
        "session",
        "aiohttp.ClientSession",
        None,
        "Your own aiohttp session (it is not closed).",
    ),
    Option(
        "stop",
        "asyncio.Event",
        None,
        "Once set, nothing more is sent, the answers in flight are awaited and recorded, and "
        "the rest comes back skipped (interrupted).",
    ),
)

#: Every option by name, in the order of ``fetch_products``' signature.
OPTIONS: Final[Mapping[str, Option]] = {option.name: option for option in _DECLARED}
#: The options that are fields of ``Settings``, in field order.
SETTINGS: Final = tuple(option for option in _DECLARED if option.setting)
SETTING_NAMES: Final = tuple(option.name for option in SETTINGS)
#: Setting name -> its environment variable.
ENV_NAMES: Final = {option.name: option.env[0] for option in SETTINGS}
#: Option name -> default: the only place a default is written.
DEFAULTS: Final[Mapping[str, Any]] = {option.name: option.default for option in _DECLARED}
