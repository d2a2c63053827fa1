"""The default prover configurations, shipped as package data (`ranksync.configs`); loaded
through importlib.resources (checker/cliutil.py), or by name: `--config ranksync:full.toml`,
`extends = "ranksync:default.toml"`."""
