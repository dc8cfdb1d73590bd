"""``python -m dd_tune <command> [options]``: the ``dd-tune`` script."""

import sys

from dd_tune.commands.dispatch import main

sys.exit(main())
