"""`python -m trainbot` is the `trainbot` command."""

import sys

from trainbot.cli import main

# Guarded: a process that multiprocessing spawns (trainer.report.processes) imports this
# module again.
if __name__ == "__main__":
    sys.exit(main())
