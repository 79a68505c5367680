"""The README is true: its commands parse, its snippets run, its tables match the code.

Conventions in README.md (invisible when rendered):

- ``<!-- test: run -->`` before a ```` ```python ```` block: the block is executed against a
  sandbox, with ``ASA_API_KEYS``/``ASA_BASE_URL`` pointing at it, in a folder holding a copy of
  ``samples/``. Top-level ``await`` is allowed.
- ``<!-- test: output -->`` before a ```` ```text ```` block right after a ``run`` block: the
  block must equal what the snippet printed, up to numbers and key_ids (timings vary).
- ``<!-- test: pytest -->`` before a ```` ```python ```` block: it is a test file, run by pytest.
- Every other python block must compile; every shell block's commands must parse.

``python tests/test_readme.py`` prints what each ``run`` snippet prints now, for pasting.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import importlib.util
import inspect
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from asa_bulk._options import OPTIONS
from asa_bulk._policy import RULES, Action
from asa_bulk._summary import STATUSES
from asa_bulk.cli._parser import EXIT_CODES, LAZY_COMMANDS, build_lazy_parser, build_parser
from asa_bulk.sandbox import make_test_keys, serve_in_thread

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FULL_KEY = re.compile(r"asa_(?:live|test)_[A-Za-z0-9]{13,}")
SHELL_LANGS = {"bash", "sh", "shell", "console"}
#: Commands the README may show that these tests cannot check beyond their existence.
EXTERNAL = {"cd", "cp", "export", "git", "sqlite3", "systemctl", "journalctl", "open"}
#: Local error codes the engine writes into the ``error`` column (beside the API's codes).
LOCAL_ERRORS = (
    "invalid_asin",
    "invalid_domain",
    "invalid_language",
    "invalid_country",
    "timeout",
    "connection_error",
    "invalid_response",
    "redirect",
    "no_usable_keys",
    "insufficient_credits",
    "budget_exhausted",
    "deadline_exceeded",
    "service_unreachable",
    "interrupted",
    "checkpoint_failed",
)


@dataclass
class Block:
    lang: str
    body: str
    mode: str | None  # run / output / pytest, from the marker comment before the block
    line: int


def read_blocks(text: str) -> list[Block]:
    """Every fenced block of ``text``, with the ``<!-- test: MODE -->`` marker before it."""
    pattern = re.compile(
        r"(?:<!-- test: (?P<mode>\w+) -->\n)?^```(?P<lang>[\w-]*)\n(?P<body>.*?)^```$",
        re.DOTALL | re.MULTILINE,
    )
    return [
        Block(m["lang"], m["body"], m["mode"], text.count("\n", 0, m.start()) + 1)
        for m in pattern.finditer(text)
    ]


BLOCKS = read_blocks(README.read_text(encoding="utf-8"))


def runnable() -> list[tuple[Block, Block | None]]:
    """``run`` blocks, each with its ``output`` block if one follows."""
    pairs = []
    for index, block in enumerate(BLOCKS):
        if block.mode == "run":
            following = BLOCKS[index + 1] if index + 1 < len(BLOCKS) else None
            pairs.append((block, following if following and following.mode == "output" else None))
    return pairs


def normalise(text: str) -> str:
    """Output without what varies between runs: numbers, key_ids, spacing."""
    text = re.sub(r"asa_test_[A-Za-z0-9]{12}", "KEY", text)
    text = re.sub(r"\d+(?:\.\d+)?", "0", text)
    return " ".join(text.split())


# -- running snippets ---------------------------------------------------------------------------


@contextlib.contextmanager
def snippet_world(workdir: Path) -> Iterator[None]:
    """A sandbox and the environment the README tells users to set up for it."""
    saved_env, saved_cwd = dict(os.environ), Path.cwd()
    shutil.copytree(ROOT / "samples", workdir / "samples", dirs_exist_ok=True)
    # Zero latency and raised limits: the README's outputs came from a sandbox with the Pro
    # plan's limits, but numbers are not compared and the suite must stay fast.
    with serve_in_thread(fixed_latency=0.0, rps=1000.0, burst_rps=2000.0) as sandbox:
        for name in [name for name in os.environ if name.startswith("ASA_")]:
            del os.environ[name]
        os.environ["ASA_API_KEYS"] = ",".join(make_test_keys(2))
        os.environ["ASA_BASE_URL"] = sandbox.base_url
        os.chdir(workdir)
        try:
            yield
        finally:
            os.chdir(saved_cwd)
            os.environ.clear()
            os.environ.update(saved_env)


def run_snippet(source: str) -> str:
    """Execute ``source`` (top-level await allowed); return what it printed."""
    code = compile(source, "README.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    out = io.StringIO()
    # Warnings (RunStoppedWarning in the credits example) are part of what the snippets show.
    with contextlib.redirect_stdout(out), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = eval(code, {"__name__": "__readme__"})  # our own README
        if inspect.iscoroutine(result):
            asyncio.run(result)
    return out.getvalue()


@pytest.mark.parametrize(
    ("block", "output"), runnable(), ids=[f"line{b.line}" for b, _ in runnable()]
)
def test_runnable_snippet_runs_and_prints_what_the_readme_shows(
    block: Block, output: Block | None, tmp_path: Path
) -> None:
    with snippet_world(tmp_path):
        printed = run_snippet(block.body)
    assert not FULL_KEY.search(printed)
    if output is not None:
        assert normalise(printed) == normalise(output.body), (
            f"README line {output.line}: the pasted output is stale; it now prints:\n{printed}"
        )


@pytest.mark.parametrize(
    "block",
    [b for b in BLOCKS if b.mode == "pytest"],
    ids=lambda b: f"line{b.line}",
)
def test_pytest_snippet_passes(block: Block, tmp_path: Path) -> None:
    (tmp_path / "test_from_readme.py").write_text(block.body, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_from_readme.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_python_block_compiles() -> None:
    blocks = [b for b in BLOCKS if b.lang == "python"]
    assert len(blocks) >= 5
    for block in blocks:
        try:
            compile(block.body, f"README.md:{block.line}", "exec", ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        except SyntaxError as exc:
            pytest.fail(f"README line {block.line}: {exc}")


def test_there_are_runnable_snippets_with_outputs() -> None:
    pairs = runnable()
    assert len(pairs) >= 3
    assert sum(output is not None for _, output in pairs) >= 2


# -- shell commands -----------------------------------------------------------------------------


def shell_commands() -> list[tuple[int, list[str]]]:
    """(README line, argv) of every command in the shell blocks; comments and ``&`` dropped."""
    commands = []
    for block in BLOCKS:
        if block.lang not in SHELL_LANGS:
            continue
        text = block.body.replace("\\\n", " ")
        for offset, line in enumerate(text.splitlines()):
            for part in re.split(r"\s(?:&&|\|\||\||;)\s", line):
                argv = shlex.split(part.split(" #")[0].strip().rstrip("&").strip(), posix=True)
                if argv and not argv[0].startswith("#"):
                    commands.append((block.line + offset + 1, _drop_redirections(argv)))
    return commands


def _drop_redirections(argv: list[str]) -> list[str]:
    """``argv`` without shell redirections (``> file``, ``2>> log``, ``< in``)."""
    out: list[str] = []
    skip = False
    for token in argv:
        if skip:
            skip = False
        elif re.fullmatch(r"\d?>>?|<", token):
            skip = True
        elif not re.match(r"\d?>>?|<", token):
            out.append(token)
    return out


def _load_sample(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _extras() -> set[str]:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    section = text.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    return set(re.findall(r"^(\w+) = ", section, flags=re.MULTILINE))


def _parse_asa_bulk(argv: list[str]) -> None:
    """Parse an ``asa-bulk`` command line with the real parser (nothing runs)."""
    if argv and argv[0] in LAZY_COMMANDS:
        module_name, adder_name = LAZY_COMMANDS[argv[0]][1:3]
        module = importlib.import_module(module_name)
        build_lazy_parser(argv[0], getattr(module, adder_name)).parse_args(argv[1:])
    else:
        build_parser().parse_args(argv)


def check_command(argv: list[str], help_seen: set[str]) -> None:
    """Raise (or fail) unless ``argv`` is a command this README may show."""
    program = argv[0]
    if program in ("asa-bulk", ".venv/bin/asa-bulk"):
        _check_asa_bulk(argv[1:], help_seen)
    elif program.endswith("python") and argv[1:3] == ["-m", "asa_bulk"]:
        _check_asa_bulk(argv[3:], help_seen)
    elif program.endswith("python") and argv[1].startswith("samples/"):
        script = ROOT / argv[1]
        assert script.is_file(), f"{argv[1]} does not exist"
        _load_sample(script).parse_args(argv[2:])
    elif program in ("make",):
        for target in argv[1:]:
            done = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True)
            assert done.returncode == 0, f"make has no target {target!r}"
    elif program.endswith("pip") or argv[1:3] == ["-m", "pip"]:
        for spec in argv:
            for extras in re.findall(r"\[([\w,]+)\]", spec):
                unknown = set(extras.split(",")) - _extras()
                assert not unknown, f"no such extra: {unknown}"
    elif program.endswith(("python", "python3")) and argv[1:3] == ["-m", "venv"]:
        assert len(argv) == 4, "python -m venv DIR"
    else:
        assert program in EXTERNAL, f"unexpected command in README: {shlex.join(argv)}"


def _check_asa_bulk(argv: list[str], help_seen: set[str]) -> None:
    from asa_bulk.cli import main

    if "--help" in argv or "-h" in argv:
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(argv) == 0, f"asa-bulk {shlex.join(argv)} exited non-zero"
        return
    _parse_asa_bulk(argv)
    sub = argv[0] if argv else ""
    if sub not in help_seen:
        help_seen.add(sub)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
            code = main([sub, "--help"] if sub else ["--help"])
            assert code == 0, f"asa-bulk {sub} --help exited {code}"


def test_every_shell_command_parses() -> None:
    commands = shell_commands()
    assert len(commands) >= 10
    help_seen: set[str] = set()
    for line, argv in commands:
        try:
            check_command(argv, help_seen)
        except SystemExit as exc:
            pytest.fail(f"README line {line}: {shlex.join(argv)} does not parse ({exc.code})")
    assert {"products", "sandbox", "demo"} <= help_seen


def test_readme_keeps_the_two_commands_first() -> None:
    first = next(b for b in BLOCKS if b.lang in SHELL_LANGS)
    assert [line.split("#")[0].strip() for line in first.body.splitlines()][:2] == [
        "make demo",
        "make test",
    ]


def test_readme_holds_no_full_key() -> None:
    assert not FULL_KEY.search(README.read_text(encoding="utf-8"))


# -- tables -------------------------------------------------------------------------------------


def table_after(heading: str) -> list[list[str]]:
    """The cells of the first table after ``heading`` (header row included, no separator)."""
    text = README.read_text(encoding="utf-8")
    start = text.index(heading)
    rows = []
    for line in text[start:].splitlines()[1:]:
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif rows:
            break
    return [row for row in rows if not set("".join(row)) <= set("-: ")]


def codes(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def test_configuration_table_matches_the_declared_options() -> None:
    header, *rows = table_after("## Configuration")
    assert header[:4] == ["Option", "Environment variable", "Command line", "Default"]
    table = {codes(row[0])[0]: row for row in rows}
    assert list(table) == list(OPTIONS), "one row per declared option, in declaration order"
    products = build_parser()._subparsers._group_actions[0].choices["products"]  # type: ignore[union-attr,index]
    flags = {flag for action in products._actions for flag in action.option_strings}
    for name, (_, env_cell, cli_cell, default_cell, *_) in table.items():
        option = OPTIONS[name]
        assert codes(env_cell) == list(option.env), name
        shown = re.findall(r"--[\w-]+", cli_cell)
        assert shown == list(option.cli.flags if option.cli else ()), name
        assert set(shown) <= flags, f"{name}: the command has no {shown}"
        assert ast.literal_eval(codes(default_cell)[0]) == option.default, name


def test_retry_table_matches_the_rules() -> None:
    header, *rows = table_after("### What is retried")
    assert header[:3] == ["HTTP", "Error code", "What asa_bulk does"]
    words = {
        Action.INVALID: "`invalid`",
        Action.GIVE_UP: "`failed`",
        Action.NOT_FOUND: "`not_found`",
        Action.RETRY: "retried",
        Action.THROTTLE: "paused",
        Action.RETIRE_KEY: "retired",
        Action.STOP: "stops",
    }
    table = {}
    for status, code_cell, does, wait, *_ in rows:
        if not status.isdigit():
            continue
        code = codes(code_cell)[0] if code_cell != "any" else None
        table[(int(status), code)] = (does, wait)
    assert set(table) == set(RULES)
    for key, rule in RULES.items():
        does, wait = table[key]
        assert words[rule.action] in does, f"{key}: {rule.action} not said in {does!r}"
        if rule.min_delay:
            assert f"{rule.min_delay:g} s" in wait, key


def test_exit_code_table_matches_the_command() -> None:
    header, *rows = table_after("**Exit codes**")
    assert header == ["Code", "Meaning"]
    assert [int(code) for code, _ in rows] == list(EXIT_CODES)
    epilog = build_parser().epilog or ""
    for code in EXIT_CODES:
        assert re.search(rf"^\s*{code}\s", epilog, re.MULTILINE), f"--help lacks exit code {code}"


def test_status_and_error_vocabulary_match_the_code() -> None:
    _, *status_rows = table_after("### `status`")
    assert [codes(row[0])[0] for row in status_rows] == list(STATUSES)
    _, *error_rows = table_after("### `error`")
    documented = {code for row in error_rows for code in codes(row[0])}
    assert set(LOCAL_ERRORS) <= documented
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "asa_bulk").rglob("*.py"))
    for code in LOCAL_ERRORS:
        assert f'"{code}"' in source, f"{code} is documented but the code never writes it"


if __name__ == "__main__":
    import tempfile

    for block, _ in runnable():
        with tempfile.TemporaryDirectory() as folder, snippet_world(Path(folder)):
            print(f"--- README line {block.line}\n{run_snippet(block.body)}")
