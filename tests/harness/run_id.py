"""The id of this test run, in the name of everything the real-infrastructure fixtures create.

The end-of-run leftover check looks only at names carrying it, so two runs on one machine
(or a run and the debris of an abandoned one) never fail each other.
"""
from __future__ import annotations

import os
import secrets

# 8 hex characters: the pytest process's pid, plus randomness because pids are reused. Short,
# because a network interface name holds at most 15 characters.
RUN_ID = f"{os.getpid() & 0xFFFF:04x}{secrets.token_hex(2)}"
