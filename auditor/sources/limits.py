"""The bounds every input is read within, whatever reads it."""
from __future__ import annotations

from dataclasses import dataclass

# Levels of nested collections (maps and lists). The repository's fixtures nest at most 12;
# CRDs with a large openAPIV3Schema reach 30 to 50. Every later stage (redaction, projection, evidence, JSON
# output, fingerprints) must handle this many without hitting a recursion limit, and orjson
# writes no more than 254.
MAX_DEPTH = 100
# Kubernetes objects are rarely more than a few thousand nodes; a billion-laughs document is
# billions. Far above the first, far below the second.
MAX_EXPANDED_NODES = 1_000_000


@dataclass(frozen=True, slots=True)
class Limits:
    max_file_bytes: int = 2 * 1024**3
    max_expanded_nodes: int = MAX_EXPANDED_NODES
    max_depth: int = MAX_DEPTH
