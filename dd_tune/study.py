"""``python -m dd_tune.study``: the entry point of ``dd_tune.commands.study``."""

import sys

from dd_tune.commands.study import main

if __name__ == "__main__":
    sys.exit(main())
