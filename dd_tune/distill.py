"""``python -m dd_tune.distill``: the entry point of ``dd_tune.commands.distill``."""

import sys

from dd_tune.commands.distill import main

if __name__ == "__main__":
    sys.exit(main())
