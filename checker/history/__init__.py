"""`ranksync history`: every commit of the engine fork, checked by what its own runs do.

mapping.py decodes recorded events (alias table for log lines), adapter.py (the only module
that knows spec internals) turns them into model runs and evaluates every property, runs.py
runs one commit (cached), cli.py is the command, section.py the report section.
"""
