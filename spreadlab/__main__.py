"""``python -m spreadlab`` runs the command line."""

from spreadlab.cli import main

main()
