"""`python -m k2calc` runs the CLI."""

from .cli import main

main()
