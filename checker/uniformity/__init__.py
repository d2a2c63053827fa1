"""`ranksync uniformity`: static rank-uniformity check of engine code (docs/uniformity.md).

facts (declared calls, package data) -> parsing (ast, assumptions, beniget chains) -> program
(modules, functions) -> values (rank-local or replicated, with the chain) and effects (what a
statement does to the group) -> analysis (branches whose sides differ) -> findings (rules,
fingerprints, baseline) -> crosscheck (model map), output / sarif, history, cli.
"""
