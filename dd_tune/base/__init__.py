"""The base room: errors, the registry, seeds, content keys, atomic writes, result keys, malloc thresholds.

Imports nothing else of dd_tune."""
