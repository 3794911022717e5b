"""`python -m trainbot` is the `trainbot` command."""

import sys

from trainbot.cli import main

sys.exit(main())
