"""One thin module per command: arguments -> one domain call -> output (see sync/cli.py)."""
