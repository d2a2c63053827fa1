"""``python -m ranksync.reference TRACE.json [--backend gloo] [--check]``.

Prints the run as JSON (the trace's ``expected`` shape). Exit status: 0 ok, 1 mismatch with
the trace's ``expected`` (``--check``) or run failure, 2 malformed trace.
"""

from __future__ import annotations

import argparse
import json
import sys

from .runner import BACKENDS, GlooRunError, run_trace
from .trace import TraceError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ranksync.reference")
    ap.add_argument("trace")
    ap.add_argument("--backend", choices=BACKENDS, default="inprocess")
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--check", action="store_true", help="compare with the trace's expected")
    args = ap.parse_args(argv)
    try:
        with open(args.trace) as f:
            raw = json.load(f)
        res = run_trace(raw, backend=args.backend, timeout=args.timeout)
    except (TraceError, json.JSONDecodeError) as exc:
        print(f"malformed trace: {exc}", file=sys.stderr)
        return 2
    except GlooRunError as exc:
        print(f"run failed: {exc}", file=sys.stderr)
        return 1
    if args.check:
        diffs = res.mismatches(raw.get("expected") or [])
        for d in diffs:
            print(d, file=sys.stderr)
        return 1 if diffs else 0
    json.dump(res.to_json(), sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
