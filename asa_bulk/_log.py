"""Loggers that can never print a key: each one carries the redacting filter.

(A filter on the parent ``asa_bulk`` logger would not be applied to records from child loggers,
so every module logger gets its own.)
"""

from __future__ import annotations

import logging

from ._keys import RedactingFilter

_FILTER = RedactingFilter()


def get_logger(name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger
