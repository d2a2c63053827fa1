"""What this stand-in engine is (read at import; environment variables override):

* ``VARIANT``: the Transferring procedure, ``seed`` (protocol.md §8.4) or ``prefix`` (§14);
* ``BUG``: a deliberate defect for the harness's own tests, ``""`` for none:
  ``swap_rows`` - the hand-off swaps the first two embedding rows (every log line, every
  collective and every allocator call stay exactly the model's: only a property sees it);
  ``swap_rows_tp1`` - the same on TP rank 1 only (the ranks hand off different inputs);
  ``stale_dst`` - the embedding thread keeps the init's destination blocks on a resume;
  ``renamed_log`` - the "Synced aux_datas" line is worded differently.
"""

import os

VARIANT = os.environ.get("RANKSYNC_STANDIN_VARIANT", "seed")
BUG = os.environ.get("RANKSYNC_STANDIN_BUG", "")
