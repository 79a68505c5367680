"""``python -m asa_bulk ...`` runs the ``asa-bulk`` command."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
