"""Attack: hostile providerIDs and instance-type labels on Nodes against the provider data.

A pattern's `$` matches before a final line break too, so an instance type Kubernetes would
refuse (`m5.metal\\n`) was classified as a bare-metal family. Every family and provider
example, with a line break after it, must decide nothing; the examples themselves still
classify. And the provider patterns cost work linear in the value: a 100,000-character
value in a shape built to make a backtracking pattern retry is matched in a subprocess
bounded by a generous timeout."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.model import Resource
from auditor.substrate import UNKNOWN, classify, family_of, provider_of, providers

REPO = Path(__file__).resolve().parents[2]
FAMILIES = [(f, example) for p in providers() for f in p.families for example in f.examples]
PROVIDERS = [(p, example) for p in providers() for example in p.examples]


def _node(provider_id: str | None = None, instance_type: str | None = None) -> Resource:
    labels = {"node.kubernetes.io/instance-type": instance_type} if instance_type is not None else {}
    spec = {"providerID": provider_id} if provider_id is not None else {}
    return Resource("Node", "v1", None, "n", {"metadata": {"name": "n", "labels": labels}, "spec": spec})


@pytest.mark.parametrize("tail", ["\n", "\r\n", "\n\n"])
@pytest.mark.parametrize(("family", "example"), FAMILIES, ids=[f"{f.name[:30]}:{e}" for f, e in FAMILIES])
def test_a_family_example_with_a_line_break_decides_nothing(family, example, tail):
    if family.instance_type is not None:
        assert family_of(None, None, example) is not None  # the control
        assert family_of(None, None, example + tail) is None
        assert classify(_node(instance_type=example + tail)).kind == UNKNOWN
    if family.provider_id is not None:
        assert family_of(None, example, None) is not None
        assert family_of(None, example + tail, None) is None


@pytest.mark.parametrize(("provider", "example"), PROVIDERS, ids=[e for _, e in PROVIDERS])
def test_a_provider_example_with_a_line_break_names_no_provider(provider, example):
    assert provider_of(example) is provider
    assert provider_of(example + "\n") is None
    assert classify(_node(provider_id=example + "\n")).provider is None


SHAPES = ["a" * 100_000, "a-" * 50_000, "a-1" * 33_333 + ".i-", ".metal-" * 14_000, "1x" * 50_000,
          "a-metal-1x" * 10_000 + "!", "-bare" * 25_000, "BM." * 33_000, "ecs.ebm" * 14_000,
          "aws://" + "a" * 100_000, "\x1b\u202e" * 50_000, "a" * 99_999 + "\n"]


@pytest.mark.slow
def test_provider_patterns_stay_linear_on_hostile_values():
    script = (
        "import json, sys\n"
        "from auditor.model import Resource\n"
        "from auditor.substrate import classify\n"
        "for value in json.load(sys.stdin):\n"
        "    for labels in ({'node.kubernetes.io/instance-type': value}, {}):\n"
        "        classify(Resource('Node', 'v1', None, 'n', {'metadata': {'name': 'n', 'labels': labels},\n"
        "                                                    'spec': {'providerID': value}}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    # A backtracking pattern on these values runs for hours; the linear ones take well under
    # a second in all. The timeout only keeps a regression from hanging the suite.
    subprocess.run([sys.executable, "-c", script], input=json.dumps(SHAPES), text=True, env=env, check=True,
                   timeout=120)
