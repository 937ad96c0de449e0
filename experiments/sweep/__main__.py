"""``python -m experiments.sweep``: the sweep command (see experiments.sweep.cli)."""

from experiments.sweep.cli import main

main()
