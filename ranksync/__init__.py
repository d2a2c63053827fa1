"""ranksync: machine-checked evidence for the multi-TP resume-transfer protocol."""
