"""The checkpoint file's format: its tables, its rows, its job entry, the way up from version 1.

Each row holds one record as ``to_json()`` JSON, deflated, behind a codec byte. A product is
~3.4 KB of JSON, ~1.3 KB deflated, ~0.95 KB deflated with a preset dictionary (zlib's
``zdict``: the compressor refers back into it as if it had just seen it). The product
dictionary is the documented product examples, every shape the service is known to answer in,
so field names and stock phrases cost a few bits each; it comes from the public documentation,
not from the sandbox, so sandbox figures do not flatter it. Rows of other endpoints use a
dictionary of the record envelope alone.

A dictionary can never change once files use it (the same bytes are needed to read them): the
first byte of each row names its codec, so a better dictionary is a new codec id beside the old.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from ._errors import ConfigError
from ._json import loads
from ._log import get_logger
from ._records import ProductRequest, ResultRecord

logger = get_logger(__name__)

#: Written to SQLite's ``application_id`` header field: marks the file as an asa_bulk checkpoint.
APPLICATION_ID: Final = 0x41534142  # "ASAB"
#: Bumped whenever the table layout or the row format changes incompatibly.
SCHEMA_VERSION: Final = 2
#: The previous version, migrated in place when opened (one JSON text column ``record``).
MIGRATES_FROM: Final = 1
PAGE: Final = 1000  # rows per read when loading or migrating

RECORDS_TABLE: Final = """
CREATE TABLE {name} (
    ident      TEXT PRIMARY KEY,
    run        INTEGER NOT NULL,
    status     TEXT NOT NULL,
    data       BLOB NOT NULL,
    updated_at REAL NOT NULL
)"""
_META_TABLE: Final = "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)"

#: Outputs derived from the records (the CLI keeps its parquet parts here), each valid while
#: the records it was built from are unchanged. Every rewrite or removal of a stored record
#: bumps ``derived_generation``, and an output stored under an older generation is stale. The
#: counting is done by triggers, so that every writer counts, an older asa_bulk included (one
#: that knows nothing of these tables). Added to any version-2 file when it is opened: a file
#: without them is still version 2, and readers that ignore them still read it.
_DERIVED_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS derived (digest BLOB PRIMARY KEY, generation INTEGER NOT NULL,"
    " rows INTEGER NOT NULL, data BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS derived_generation"
    " (id INTEGER PRIMARY KEY CHECK (id = 0), value INTEGER NOT NULL)",
    "INSERT OR IGNORE INTO derived_generation(id, value) VALUES (0, 0)",
    # BEFORE INSERT: an INSERT OR REPLACE over an existing ident fires no delete trigger.
    "CREATE TRIGGER IF NOT EXISTS records_rewritten BEFORE INSERT ON records"
    " WHEN EXISTS (SELECT 1 FROM records WHERE ident = NEW.ident)"
    " BEGIN UPDATE derived_generation SET value = value + 1; END",
    "CREATE TRIGGER IF NOT EXISTS records_updated AFTER UPDATE ON records"
    " BEGIN UPDATE derived_generation SET value = value + 1; END",
    "CREATE TRIGGER IF NOT EXISTS records_deleted AFTER DELETE ON records"
    " BEGIN UPDATE derived_generation SET value = value + 1; END",
)

#: The record envelope as :meth:`ResultRecord.to_json` writes it (field order included).
_ENVELOPE: Final = (
    b'{"request":{"endpoint":"","asin":"","domain":"com","language":null,"country":null},'
    b'"status":"ok","error":null,"error_message":null,"http_status":200,"attempts":1,'
    b'"key_id":"asa_live_","request_id":"req_","latency_ms":,'
    b'"fetched_at":"2026-01-01T00:00:00.000000+00:00","body":{'
)

#: The documented product examples (compact JSON, /work/shared/api-examples at the time of
#: writing), the default docs shape last: the nearest text is the cheapest to refer to.
_PRODUCT_EXAMPLES: Final = (
    # product_skill.json
    b'{"asin":"B09HN3Q81F","title":"...","brand":"...","price":{"current":29.99,"was":39.99,'
    b'"savings_pct":25,"currency":"USD"},"rating":4.6,"review_count":12483,'
    b'"availability":"In Stock","buybox_seller":"Amazon.com","images":["https://...","..."],'
    b'"variants":[{"asin":"...","name":"Color: Black","price":29.99}],'
    b'"features":["bullet 1","bullet 2"],"description":"...",'
    b'"category_ladder":["Electronics","Headphones","..."],'
    b'"scraped_at":"2026-05-15T12:34:56Z"}'
    # product_sdk_readme.json
    b'{"asin":"B09HN3Q81F","title":"Apple AirPods Pro (2nd Generation)...","brand":"Apple",'
    b'"price":{"current":199.0,"currency":"USD","was":249.0,"savings_pct":20},'
    b'"rating":{"average":4.7,"count":58214,"distribution":{"5":0.81,"4":0.12}},'
    b'"availability":"In Stock","buybox":{"seller":"Amazon.com","ships_from":"Amazon.com",'
    b'"prime":true},"images":["https://m.media-amazon.com/images/I/...jpg"],'
    b'"bullets":["Active Noise Cancellation...","Adaptive Audio..."],'
    b'"variants":[{"asin":"B0BDHB9Y8H","name":"USB-C","price":249.0}],'
    b'"categories":["Electronics","Headphones","Earbud Headphones"],'
    b'"specifications":{"Brand":"Apple","Model Name":"AirPods Pro 2"},'
    b'"_meta":{"tier":"direct","duration_ms":2634,"marketplace":"amazon.com"}}'
    # api-reference.md §2.1, the docs shape
    b'{"asin":"B09HN3Q81F","parent_asin":"B09HN3Q81F",'
    b'"title":"LEGEND COOKWARE 5-Ply Stainless Steel Cookware Set",'
    b'"brand":"LEGEND COOKWARE","manufacturer":"Legend Cookware","price":299.99,'
    b'"price_buybox":299.99,"price_strikethrough":349.99,"currency":"USD",'
    b'"stock":"In Stock","is_prime":true,"rating":4.7,"reviews_count":2481,'
    b'"images":["https://m.media-amazon.com/images/I/71abcDEF12L._AC_SL1500_.jpg"],'
    b'"bullet_points":"5-PLY STAINLESS STEEL ... \\n INDUCTION READY ...",'
    b'"description":"Professional-grade 5-ply clad cookware ...",'
    b'"product_details":{"Material":"Stainless Steel","Item Weight":"38 Pounds"},'
    b'"product_dimensions":"22 x 14 x 12 inches","answered_questions_count":112,'
    b'"has_videos":true,"category":[{"ladder":[{"name":"Home & Kitchen"},'
    b'{"name":"Cookware Sets"}],"rank":1532}],"buybox":[{"price":299.99,'
    b'"seller_name":"Legend Cookware","seller_id":"A2EXAMPLE1234","stock":"In Stock",'
    b'"returns":"Eligible for Return, Refund or Replacement within 30 days of receipt"}],'
    b'"featured_merchant":{"name":"Legend Cookware","seller_id":"A2EXAMPLE1234",'
    b'"is_amazon_fulfilled":true},"variations":[{"asin":"B09HN3Q81F",'
    b'"dimensions":{"Size":"14-Piece"},"selected":true},{"asin":"B09HN4K2ZZ",'
    b'"dimensions":{"Size":"10-Piece"},"selected":false}],"reviews":[{"id":"R1EXAMPLE0001",'
    b'"author":"J. Doe","title":"Heavy and even heating","content":"...","rating":5,'
    b'"timestamp":"Reviewed in the United States on March 3, 2026","is_verified":true,'
    b'"helpful_count":14}]}'
)

#: Codec id -> preset dictionary. Never edit an entry: add a new id (tests pin the bytes).
DICTIONARIES: Final[dict[int, bytes]] = {
    1: _ENVELOPE,
    2: _PRODUCT_EXAMPLES + _ENVELOPE,
}
#: The codec a new row of each endpoint is written with (others: 1).
_CODEC_BY_ENDPOINT: Final = {ProductRequest.endpoint: 2}
_CODEC_BYTES: Final = {codec: bytes((codec,)) for codec in DICTIONARIES}

# Level 1 (zlib's fast strategy): ~950 B per sandbox product against ~857 B at level 6, for
# about half the CPU. Raw deflate (negative wbits): no zlib header or checksum to pay for. An
# 8 KB window (wbits 13) holds the dictionary and a typical body; zlib's default 32 KB window
# and hash tables would cost more to set up for each row than they save. Part of the codec:
# rows are read back with the same window.
_LEVEL: Final = 1
_WBITS: Final = -13
_MEM_LEVEL: Final = 7


# check_circular=False: bodies come from json.loads and cannot hold a cycle (one would end in
# RecursionError, a failed write); skipping the check saves ~8% of the encoding.
_ENCODER: Final = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), default=str, check_circular=False
)
# default=str: a stray non-JSON value in a body must not lose the whole record.
_ASCII_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), default=str, check_circular=False)


def _utf8(data: Any) -> bytes:
    """``data`` as compact JSON in UTF-8, exactly readable back (lone surrogates included)."""
    try:
        return _ENCODER.encode(data).encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate: JSON allows "\ud800", and aiohttp turns a header's undecodable
        # bytes into them. Escaped as \uXXXX (ASCII JSON) it reads back exactly.
        return _ASCII_ENCODER.encode(data).encode("ascii")


def encode_record(record: ResultRecord) -> str:
    """``record.to_json()`` as compact JSON text that encodes to UTF-8 (JSON lines, tests)."""
    return _utf8(record.to_json()).decode("utf-8")


def pack(record: ResultRecord) -> bytes:
    """The row form of ``record``: its codec byte, then its JSON deflated with that dictionary."""
    codec = _CODEC_BY_ENDPOINT.get(record.request.endpoint, 1)
    deflate = zlib.compressobj(
        _LEVEL,
        zlib.DEFLATED,
        _WBITS,
        _MEM_LEVEL,
        zlib.Z_DEFAULT_STRATEGY,
        DICTIONARIES[codec],
    )
    return _CODEC_BYTES[codec] + deflate.compress(_record_json(record)) + deflate.flush()


def _record_json(record: ResultRecord) -> bytes:
    """``record.to_json()`` as UTF-8 JSON; the body spliced in as received when it can be.

    Encoding the body again was the largest cost of a write. The received bytes can stand in
    for it when they are one JSON object in strict UTF-8 (what :func:`unpack` reads): they
    were decoded into ``record.body`` by ``json.loads``, so they are valid JSON text.
    """
    raw = record.body_json
    if raw is None or record.body is None or raw[:1] != b"{" or not _strict_utf8(raw):
        return _utf8(record.to_json())
    data = record.to_json()
    data["body"] = None  # last key: replaced by the received text below
    head = _utf8(data)
    if not head.endswith(b',"body":null}'):  # not the layout spliced into: encode it all
        return _utf8(record.to_json())
    return head[: -len(b"null}")] + raw + b"}"


def _strict_utf8(raw: bytes) -> bool:
    if raw.isascii():
        return True
    try:
        raw.decode("utf-8")  # encoded lone surrogates (json.loads lets them pass) are refused
    except UnicodeDecodeError:
        return False
    return True


def unpack(data: bytes, *, defer_body: bool = False) -> ResultRecord:
    """Inverse of :func:`pack`. Raises ``ValueError`` for a row it cannot read.

    ``defer_body``: the body is left undecoded, as its JSON text in ``record.body_json``
    (``record.body`` is None), for a reader that decodes it later or never.
    """
    text = _inflate(data)
    if defer_body:
        record = _with_body_text(text)
        if record is not None:
            return record
    return ResultRecord.from_json(loads(text, fallback=_loads_strict))


def stored_body_text(data: bytes) -> bytes | None:
    """The body's JSON text in a row that :func:`pack` wrote, the rest left undecoded; None
    when the record has no body. Raises ``ValueError`` for a row it cannot read.

    For a row known to be sound (one this process just wrote): unlike :func:`unpack`, the
    text before the body is not checked. The first ``,"body":`` is the envelope's own key,
    which :func:`pack` writes last: inside a JSON string a quote is always escaped, and no
    envelope value before the body holds a ``body`` key.
    """
    text = _inflate(data)
    cut = text.find(_BODY_KEY)
    if cut < 0 or text[-1:] != b"}":
        raise ValueError("a row without a body key")
    body = text[cut + len(_BODY_KEY) : -1]
    return None if body == b"null" else body


def _inflate(data: bytes) -> bytes:
    dictionary = DICTIONARIES.get(data[0]) if data else None
    if dictionary is None:
        raise ValueError(f"unknown row codec {data[:1]!r}")
    inflate = zlib.decompressobj(_WBITS, zdict=dictionary)
    try:
        text = inflate.decompress(memoryview(data)[1:])
    except zlib.error as exc:
        raise ValueError(f"corrupt row: {exc}") from None
    if not inflate.eof:
        raise ValueError("truncated row")
    return text


def _with_body_text(text: bytes) -> ResultRecord | None:
    """The record of ``text`` with its body as JSON text, or None when it is not laid out
    that way (the caller then decodes it all). The body is the last key (as :func:`pack`
    writes it); the text before it is decoded and must end there, so a ``,"body":`` inside an
    earlier value cannot be mistaken for it (a quote inside a JSON string is escaped)."""
    cut = text.find(_BODY_KEY)
    if cut < 0 or text[-1:] != b"}":
        return None
    body = text[cut + len(_BODY_KEY) : -1]
    if body[:1] != b"{" or not _strict_utf8(body):
        return None
    try:
        head = loads(text[:cut] + _NO_BODY, fallback=_loads_strict)
    except ValueError:
        return None
    if not isinstance(head, dict) or next(reversed(head), None) != "body":
        return None
    record = ResultRecord.from_json(head)
    record.body_json = body
    return record


_BODY_KEY: Final = b',"body":'
_NO_BODY: Final = b',"body":null}'


def _loads_strict(text: bytes) -> Any:
    # Decoding first: json.loads(bytes) would let encoded lone surrogates through, ~2x slower.
    return json.loads(text.decode("utf-8"))


# --- the file: identity, creation, the job entry, migration -----------------------------------


def schema_version(conn: sqlite3.Connection, path: Path) -> int:
    """The file's schema version (0: a new or empty file, which becomes a checkpoint).

    Raises :class:`ConfigError` naming ``path`` when it is not a checkpoint this release reads.
    """
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        if "locked" in str(exc):
            raise
        raise ConfigError(
            f"checkpoint {path} is not an asa_bulk checkpoint (not an SQLite database)"
        ) from None
    if app_id == 0 and tables == 0:
        return 0
    if app_id != APPLICATION_ID:
        raise ConfigError(f"checkpoint {path} is an SQLite database but not an asa_bulk checkpoint")
    if version not in (MIGRATES_FROM, SCHEMA_VERSION):
        raise ConfigError(
            f"checkpoint {path} has schema version {version}, this asa_bulk reads version "
            f"{SCHEMA_VERSION} (and migrates version {MIGRATES_FROM}): finish it with the "
            "matching asa_bulk or use a new path"
        )
    return version


def new_job(created_at: float) -> dict[str, Any]:
    """The job entry of a new checkpoint: no origin bound yet, no run begun."""
    return {
        "schema_version": SCHEMA_VERSION,
        "created_at": created_at,
        "base_url": None,
        "key_ids": None,
        "runs": 0,
    }


def read_job(conn: sqlite3.Connection, path: Path) -> dict[str, Any]:
    """The stored job entry (:class:`ConfigError` naming ``path`` if missing or unreadable)."""
    row = conn.execute("SELECT value FROM meta WHERE name = 'job'").fetchone()
    try:
        job = json.loads(row[0])
        int(job["runs"])
    except (TypeError, ValueError, KeyError):
        raise ConfigError(
            f"checkpoint {path} is damaged: its job entry is missing or unreadable"
        ) from None
    return dict(job)


def write_job(conn: sqlite3.Connection, job: dict[str, Any]) -> dict[str, Any]:
    """Store ``job`` as the one job entry and return it."""
    conn.execute(
        "INSERT OR REPLACE INTO meta(name, value) VALUES ('job', ?)",
        (json.dumps(job, sort_keys=True),),
    )
    return job


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction on an autocommit connection, rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:  # an I/O error may have rolled it back already
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def ensure_derived(conn: sqlite3.Connection) -> None:
    """Add the derived-output tables and their triggers when missing (one transaction)."""
    with transaction(conn):
        for statement in _DERIVED_SCHEMA:
            conn.execute(statement)


def create(conn: sqlite3.Connection) -> dict[str, Any]:
    """Make an empty file a checkpoint, in one transaction (killed meanwhile: still empty)."""
    with transaction(conn):
        conn.execute(RECORDS_TABLE.format(name="records"))
        conn.execute(_META_TABLE)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        return write_job(conn, new_job(time.time()))


def migrate(conn: sqlite3.Connection, path: Path) -> dict[str, Any]:
    """Rewrite a version-1 file in this version, in place, and return its job entry.

    One transaction: killed halfway, the file is still a complete version-1 checkpoint. Its
    records keep their ``updated_at`` and get run 0; ``base_url`` and key ids move into the
    job entry.
    """
    started = time.monotonic()
    unreadable = 0
    with transaction(conn):
        conn.execute(RECORDS_TABLE.format(name="records_v2"))
        last = -1
        while True:
            rows = conn.execute(
                "SELECT rowid, ident, status, record, updated_at FROM records "
                "WHERE rowid > ? ORDER BY rowid LIMIT ?",
                (last, PAGE),
            ).fetchall()
            batch = []
            for rowid, ident, status, text, updated_at in rows:
                last = rowid
                try:
                    record = ResultRecord.from_json(json.loads(text))
                except (ValueError, KeyError, TypeError):
                    unreadable += 1  # version 1 could not have loaded it either
                    continue
                batch.append((ident, 0, status, pack(record), updated_at))
            conn.executemany(
                "INSERT INTO records_v2(ident, run, status, data, updated_at) "
                "VALUES (?, ?, ?, ?, ?)",
                batch,
            )
            if len(rows) < PAGE:
                break
        old = dict(conn.execute("SELECT name, value FROM meta").fetchall())
        first = conn.execute("SELECT min(updated_at) FROM records").fetchone()[0]
        conn.execute("DROP TABLE records")
        conn.execute("ALTER TABLE records_v2 RENAME TO records")
        conn.execute("DELETE FROM meta")
        job = new_job(time.time() if first is None else first)
        job["migrated_from"] = MIGRATES_FROM
        job["base_url"] = old.get("base_url")
        if "key_ids" in old:
            job["key_ids"] = json.loads(old["key_ids"])
        write_job(conn, job)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    logger.info(
        "checkpoint %s: migrated from schema version %d in %.1f s",
        path,
        MIGRATES_FROM,
        time.monotonic() - started,
    )
    if unreadable:
        logger.warning("checkpoint %s: %d unreadable records dropped", path, unreadable)
    try:
        conn.execute("VACUUM")  # give back the old rows' space (3-4x what the new ones take)
    except sqlite3.Error as exc:
        logger.warning("checkpoint %s: could not compact it after migrating: %s", path, exc)
    return job
