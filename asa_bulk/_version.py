"""The package's one version number: pyproject (hatch), ``asa_bulk.__version__``, the HTTP
User-Agent and ``asa-bulk --version`` all read it from here."""

__version__ = "0.1.0"
