"""Stand-in package marker (the engine's imports its KV connection here; the harness never
runs this file: it loads ``common.utils`` directly)."""
