"""Output formats shared by the commands (prove, witnesses, logcheck; history and uniformity
can use them too): `text` for people, `json` (versioned, with a published JSON Schema),
`github` (workflow-command annotations plus a Markdown job summary), `sarif` (2.1.0, for code
scanning) and `junit`.

A command builds an `Outcome` (model.py: its findings with locations, the rules they belong
to, its JSON document, a Markdown summary, JUnit XML and a text renderer) and `emit.emit`
writes it in the format asked for. Machine output goes to stdout (or `--output FILE`); human
text goes to stderr whenever stdout carries a machine format.
"""

FORMATS = ("text", "json", "github", "sarif", "junit")
