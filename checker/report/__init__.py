"""`ranksync report` (command.py) and the parts it is made of: data from prove rows
(cells.py), counterexamples (counterexamples.py), optional sections (sections.py) and
rendering (render.py)."""

from .cells import claim_verdict, designs, matrix, strength, witness_matrix
from .command import load_rows, report
from .counterexamples import counterexample, counterexample_targets
from .render import build, junit_report, render
from .sections import _not_run, kill_from_rows, kill_table, optional_section, table_of

__all__ = ["_not_run", "build", "claim_verdict", "counterexample", "counterexample_targets",
           "designs", "junit_report", "kill_from_rows", "kill_table", "load_rows", "matrix",
           "optional_section", "render", "report", "strength", "table_of", "witness_matrix"]
