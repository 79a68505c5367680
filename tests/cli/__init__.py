"""Tests of the ``asa-bulk`` command, run for real in a subprocess against the sandbox."""
