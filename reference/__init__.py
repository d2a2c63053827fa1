"""Independent executable reference of the resume-transfer protocol (protocol.md).

Built only from /work/shared/protocol.md and docs/trace-format.md; it never reads the
model (spec/, checker/) nor the engine source. Public API: :mod:`ranksync.reference.runner`.
"""

import logging

# A library must not print through logging.lastResort: the language queues log WARNINGs
# ("Unexpected: ...") on purpose, and callers decide where they go.
logging.getLogger("ranksync.reference").addHandler(logging.NullHandler())
