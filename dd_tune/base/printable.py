"""Text from files dd_tune did not write itself (a foreign report.json, a study file's description)
made safe to show: no terminal control sequences, and no character that changes a Markdown table."""

from __future__ import annotations

import re

# C0 and C1 control characters (ESC starts a terminal's escape sequences; CR rewrites the line)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: object) -> str:
    """``text`` as one line for a terminal: every control character (newlines included) shown as ``?``."""
    return _CONTROL.sub("?", str(text))


def table_cell(text: object) -> str:
    """``text`` for a cell of a Markdown table: one printable line whose ``|`` cannot end the cell."""
    return printable(text).replace("|", "\\|")
