"""``python -m genfw`` runs the CLI."""

from genfw.cli import main

main()
