"""``python -m dd_tune.results``: the entry point of ``dd_tune.commands.results``."""

import sys

from dd_tune.commands.results import main

if __name__ == "__main__":
    sys.exit(main())
