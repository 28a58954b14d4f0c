"""Attack: a password glued to a one-letter flag (`mysql -pSuperSecret db`, `-pMyToken`). IA135
took `pSuperSecret` for a flag named like a credential and printed it -- the password -- in
its message and evidence. A single-dash flag whose tail after the first letter is itself
credential-named may be a value glued on, so it is shown as its letter only (`-p…`)."""
from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from scan_helpers import audit_inventory

from auditor.model import Inventory, Resource
from auditor.workloads import pod_view
from checks.credentials import flag_credentials

SECRET_WORDS = st.sampled_from(["Secret", "Token", "Password", "ApiKey", "-token", "_SECRET", "Passwd"])


def _pod(args: list[str]) -> Resource:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"},
           "spec": {"containers": [{"name": "app", "image": "registry.example/app:1", "args": args}]}}
    return Resource("Pod", "v1", "shop", "p", pod)


def _ia135(args: list[str]):
    return audit_inventory(Inventory(resources=(_pod(args),)), select=["IA135"]).findings


def _flags(args: list[str]) -> list[str]:
    view = pod_view(_pod(args))
    assert view is not None
    return [name for container in view.containers() for _, name in flag_credentials(container)]


@settings(max_examples=40, deadline=None)
@given(letter=st.sampled_from("pPuk"), stem=st.from_regex(r"[A-Z][a-z0-9]{2,8}", fullmatch=True), word=SECRET_WORDS,
       form=st.sampled_from(["{flag} db", "mysql {flag} db", "{flag}"]))
def test_a_value_glued_to_a_one_letter_flag_is_never_shown(letter, stem, word, form):
    secret = f"{stem}{word}"
    args = ["sh", "-c", form.format(flag=f"-{letter}{secret}")] if form.startswith("mysql") else \
        form.format(flag=f"-{letter}{secret}").split()
    for name in _flags(args):
        assert secret not in name and name == f"-{letter}…"


def test_the_finding_names_the_letter_only():
    (finding,) = _ia135(["mysql", "-pSuperSecret", "db"])
    assert "-p…" in finding.message and "SuperSecret" not in finding.message + json.dumps(finding.evidence)


def test_a_single_dash_credential_flag_is_still_named():
    (finding,) = _ia135(["-password", "hunter2", "-apiKey", "k"])
    assert "-password" in finding.message and "-apiKey" in finding.message
    assert "hunter2" not in finding.message
