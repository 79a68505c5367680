"""Helpers to run the real ``asa-bulk`` command in a subprocess (fixtures: cli/conftest.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from asa_bulk.sandbox import Sandbox

RUN_TIMEOUT = 60.0  # seconds; a hung command fails its test instead of the whole suite


@dataclass
class Result:
    args: Sequence[str]
    returncode: int
    stdout: str
    stderr: str

    def explain(self) -> str:
        return (
            f"\n$ asa-bulk [products] {' '.join(self.args)}\nexit code {self.returncode}\n"
            f"--- stdout ---\n{self.stdout[-4000:]}\n--- stderr ---\n{self.stderr[-4000:]}"
        )

    def expect(self, code: int) -> Result:
        assert self.returncode == code, self.explain()
        return self


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The test's environment without any ASA_* setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASA_")}
    env["PYTHONFAULTHANDLER"] = "1"  # a hang killed by the timeout shows where it was
    env.update(extra or {})
    return env


def start_cli(
    args: Sequence[str], *, cwd: Path, env: dict[str, str], stdin: bytes | None = None
) -> subprocess.Popen[bytes]:
    """Start ``python -m asa_bulk ARGS``. SIGINT is made deliverable even if we ignore it."""
    previous = signal.getsignal(signal.SIGINT)
    if previous == signal.SIG_IGN:  # an ignored SIGINT would be inherited by the child
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "asa_bulk", *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    if stdin is not None:
        assert proc.stdin is not None
        proc.stdin.write(stdin)  # small inputs: fits the pipe buffer, no deadlock
        proc.stdin.close()
        proc.stdin = None  # communicate() must not flush it again
    return proc


def finish_cli(proc: subprocess.Popen[bytes], args: Sequence[str]) -> Result:
    try:
        out, err = proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack
        out, err = proc.communicate()
        pytest.fail(Result(args, proc.returncode, out.decode(), err.decode()).explain())
    return Result(args, proc.returncode, out.decode("utf-8"), err.decode("utf-8"))


@dataclass
class Cli:
    """Runs ``asa-bulk COMMAND ARGS`` (``products`` unless told) in ``cwd`` with the sandbox's
    URL and keys in the env."""

    cwd: Path
    sandbox: Sandbox
    keys: list[str]
    command: str = "products"

    def env(self, **extra: str) -> dict[str, str]:
        return cli_env(
            {"ASA_BASE_URL": self.sandbox.base_url, "ASA_API_KEYS": ",".join(self.keys), **extra}
        )

    def start(
        self, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        env = env if env is not None else self.env()
        return start_cli([self.command, *args], cwd=self.cwd, env=env, stdin=stdin)

    def run(
        self, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
    ) -> Result:
        return finish_cli(self.start(*args, stdin=stdin, env=env), args)

    def run_many(self, *commands: Sequence[str]) -> list[Result]:
        """Run several commands at once (the interpreter start-up dominates; this halves it)."""
        procs = [self.start(*args) for args in commands]
        return [finish_cli(proc, args) for proc, args in zip(procs, commands, strict=True)]


def sandbox_settings(**overrides: Any) -> dict[str, Any]:
    # Generous per-key limits: tests pin the client's own limits where they matter. The day
    # with no drift, so that two runs of a test answer the same even across midnight.
    return {
        "today": "2026-05-15",
        "fixed_latency": 0.0,
        "concurrency": 200,
        "rps": 1000.0,
        "burst_rps": 1000.0,
        **overrides,
    }


def wait_until(
    condition: Callable[[], bool], proc: subprocess.Popen[bytes], what: str = "it"
) -> None:
    """Poll until ``condition()`` while ``proc`` runs (another process has no clock to inject)."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while not condition():
        assert proc.poll() is None, f"the command ended before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)
