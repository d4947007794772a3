"""The package's version, in a module of its own so that any module can read it without importing
the package's entry point (``derive.derive``), which reaches the renderers."""

__version__ = "0.1.0"
