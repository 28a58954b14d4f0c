"""A bounded mutation fuzzer for the manifest loader and the engine behind it.

Seeds are real inputs (the demo cluster as YAML and JSON, rule fixtures) and hostile
shapes; mutations flip, insert, delete and splice bytes. Every mutant must load into
Resources and Skipped entries and audit without an exception — a crash or a traceback is a
failure. Bounded by FUZZ_SECONDS (default 15) and a fixed seed, so CI is reproducible.
"""
from __future__ import annotations

import io
import json
import os
import random
import time
from pathlib import Path

from scan_helpers import audit_inventory

from auditor.sources.manifests import Limits, load

REPO = Path(__file__).resolve().parents[2]
SECONDS = float(os.environ.get("FUZZ_SECONDS", "15"))
TOKENS = [b"&a ", b"*a", b"<<: ", b"- ", b": ", b"{", b"}", b"[", b"]", b"!!set ", b"!!binary ", b"\t", b"\x00",
          b"---\n", b"...\n", b"'", b'"', b"\\u0000", b"%YAML 1.1\n", b"? ", b"|\n  ", b">-\n", b"null", b"yes",
          b"0x1F", b"1e999", b"-.inf", b"kind: List\nitems:\n", b"\xff\xfe"]


def seeds() -> list[bytes]:
    demo = (REPO / "fixtures/demo/cluster/cluster.yaml").read_bytes()
    items = [r.obj for r in load([str(REPO / "fixtures/demo/cluster")]).resources]
    found = [demo, json.dumps({"apiVersion": "v1", "kind": "List", "items": items}).encode()]
    found += [p.read_bytes() for p in sorted((REPO / "fixtures/rules").glob("*/bad.yaml"))[:20]]
    found.append(b"a: &a [" + b"*a, " * 10 + b"]\n")
    return found


def mutate(rng: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(5)
        at = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[min(at, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            data[at:at] = rng.choice(TOKENS)
        elif op == 2:
            del data[at:at + rng.randint(1, 64)]
        elif op == 3:
            data = data[:at]  # truncation
        else:
            chunk = bytes(data[rng.randrange(len(data) or 1):][:rng.randint(1, 200)])
            data[at:at] = chunk * rng.randint(1, 3)
    return bytes(data)


def test_mutants_load_and_audit_without_exceptions():
    rng = random.Random(20261128)
    pool = seeds()
    limits = Limits(max_file_bytes=4 * 1024 * 1024, max_expanded_nodes=200_000)
    deadline = time.monotonic() + SECONDS
    runs = 0
    while time.monotonic() < deadline:
        mutant = mutate(rng, rng.choice(pool))
        inventory = load(["-"], stdin=io.BytesIO(mutant), limits=limits)
        if runs % 10 == 0:
            audit_inventory(inventory)  # the engine takes whatever survived loading
        runs += 1
    assert runs > 50, f"only {runs} runs in {SECONDS}s"
    print(f"fuzz: {runs} mutants in {SECONDS:.0f}s")
