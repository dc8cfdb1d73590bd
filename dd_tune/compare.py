"""``python -m dd_tune.compare``: the entry point of ``dd_tune.commands.compare``."""

import sys

from dd_tune.commands.compare import main

if __name__ == "__main__":
    sys.exit(main())
