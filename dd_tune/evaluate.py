"""``python -m dd_tune.evaluate``: the entry point of ``dd_tune.commands.evaluate``."""

import sys

from dd_tune.commands.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
