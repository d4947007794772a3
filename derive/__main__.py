"""``python -m derive``."""

from .cli import main

main()
