"""Everything the real-infrastructure fixtures may leave behind, for the end-of-suite check."""
from __future__ import annotations

import os


def everything() -> list[str]:
    if os.geteuid() != 0:
        return []  # without root none of the real fixtures ran
    from harness import apiserver, netns, node, runc

    return [*runc.leftovers(), *netns.leftovers(), *apiserver.leftovers(), *node.leftovers()]
