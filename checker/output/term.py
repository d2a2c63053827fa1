"""Consoles that behave in CI and in pipes: NO_COLOR and COLUMNS are honoured (Rich reads
both when not overridden), and output that is not a terminal is neither coloured nor cut to
80 columns: tables keep their natural width and text lines are never wrapped."""

from __future__ import annotations

import os
import sys

from rich.console import Console

PIPE_WIDTH = 4096  # wide enough for any table we print; lines are as long as they need


def console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    tty = stream.isatty()
    width = None if tty or os.environ.get("COLUMNS") else PIPE_WIDTH
    # no_color left to Rich (None): it honours NO_COLOR; a pipe gets no escape codes at all
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=width,
                   emoji=False)
