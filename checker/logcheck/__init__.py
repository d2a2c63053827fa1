"""`ranksync logcheck`: check engine log lines (protocol.md §10) against the model.

parser.py (lines -> records), observations.py (bounded per-request, per-rank sequences),
model_query.py (Z3 queries on the unrolled model), cli.py (the click command `logcheck`).
"""
