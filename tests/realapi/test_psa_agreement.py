"""Our Pod Security Standards findings equal what the real Pod Security Admission says.

For every pod of the corpus (the pod-security-admission module's own fixtures plus
fixtures/psa-corpus/) and both levels, the set of PSA reasons our `pss:` findings stand for
must equal the set of reasons PSA in a real kube-apiserver rejects the pod with. See
tests/psa_oracle.py for the corpus, the oracle and the control -> reason mapping.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest
from harness import prereq
from harness.apiserver import k8s_version
from psa_oracle import (
    LEVELS,
    NON_POD_PSS_CONTROLS,
    PSA_MODULE,
    UPSTREAM_INVALID,
    Corpus,
    Disagreement,
    PsaOracle,
    UnknownControl,
    UnparsableMessage,
    Verdict,
    control_reason,
    first_difference,
    format_table,
    load_corpus,
    our_reasons,
    parse_violation,
    psa_module_dir,
    psa_module_version,
    split_top_level,
    unknown_controls,
)
from scan_helpers import audit_inventory

from auditor.cli import _load_rules
from auditor.sources.manifests import load

pytestmark = pytest.mark.apiserver

MIN_CORPUS = 100
MIN_OURS = 40


# -- fast unit tests (no API server) ---------------------------------------------------


def test_parser_reads_reasons_and_drops_details():
    message = (
        'pods "c001-x" is forbidden: violates PodSecurity "restricted:latest": '
        'host namespaces (hostNetwork=true, hostPID=true), '
        'privileged (containers "a", "b" must not set securityContext.privileged=true), '
        'non-default capabilities (container "a" must not include "NET_RAW", "SYS_ADMIN" in '
        'securityContext.capabilities.add), '
        'forbidden AppArmor profiles (pod and annotation must not set AppArmor profile type to '
        '"Unconfined", container.apparmor.security.beta.kubernetes.io/a="unconfined"), '
        'forbidden sysctls (kernel.msgmax, net.core.somaxconn), '
        'allowPrivilegeEscalation != false (containers "a", "b" must set '
        'securityContext.allowPrivilegeEscalation=false), '
        'unrestricted capabilities (containers "a", "b" must set securityContext.capabilities.drop=["ALL"]; '
        'container "a" must not include "NET_RAW" in securityContext.capabilities.add), '
        'runAsNonRoot != true (pod or container "a" must set securityContext.runAsNonRoot=true), '
        'runAsUser=0 (pod must not set runAsUser=0), '
        'seccompProfile (pod or containers "a", "b" must set securityContext.seccompProfile.type to '
        '"RuntimeDefault" or "Localhost")'
    )
    policy, reasons = parse_violation(message)
    assert policy == "restricted:latest"
    assert reasons == {
        "host namespaces", "privileged", "non-default capabilities", "forbidden AppArmor profile",
        "forbidden sysctls", "allowPrivilegeEscalation != false", "unrestricted capabilities",
        "runAsNonRoot != true", "runAsUser=0", "seccompProfile",
    }


def test_parser_single_reason_and_quoted_parentheses():
    policy, reasons = parse_violation(
        'pods "p" is forbidden: violates PodSecurity "baseline:latest": forbidden AppArmor profile '
        '(container.apparmor.security.beta.kubernetes.io/app="localhost(x, y" must not be set)'
    )
    assert (policy, reasons) == ("baseline:latest", {"forbidden AppArmor profile"})
    assert split_top_level('a (x, "y)", z), b "q, r", c') == ['a (x, "y)", z)', 'b "q, r"', "c"]
    with pytest.raises(UnparsableMessage):
        parse_violation('pods "p" is forbidden: User "bob" cannot create resource "pods"')


def test_mapping_of_controls():
    assert control_reason("pss:baseline:capabilities", "baseline") == "non-default capabilities"
    assert control_reason("pss:baseline:capabilities", "restricted") == "unrestricted capabilities"
    assert control_reason("pss:baseline:hostpath-volumes", "restricted") == "restricted volume types"
    assert control_reason("pss:restricted:running-as-non-root", "baseline") is None
    assert control_reason("pss:restricted:running-as-non-root", "restricted") == "runAsNonRoot != true"
    assert control_reason("pss:enforcement", "restricted") is None
    assert control_reason("cis-k8s:5.2.2", "restricted") is None
    for bad in ("pss:baseline:no-such-control", "pss:restricted:host-namespaces", "pss:privileged:x", "pss:other"):
        with pytest.raises(UnknownControl):
            control_reason(bad, "baseline")


def test_every_pss_control_of_the_rules_is_mapped():
    ruleset, _ = _load_rules([])
    assert unknown_controls(ruleset.rules) == []


# -- the corpus, PSA's verdicts and ours (computed once per module) -------------------------


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    version = psa_module_version()
    psa_dir = psa_module_dir(version)
    prereq.require(psa_dir is not None, f"{PSA_MODULE}@{version} in the Go module cache (go mod download)")
    return load_corpus(psa_dir, k8s_version())


@dataclass
class PsaAnswers:
    verdicts: dict[str, dict[str, Verdict]] = field(default_factory=dict)  # pod id -> level -> verdict
    errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def psa(apiserver, corpus: Corpus) -> PsaAnswers:
    oracle = PsaOracle(apiserver)
    oracle.setup()
    answers = PsaAnswers()
    for index, pod in enumerate(corpus.pods):
        verdicts, errors = oracle.judge(pod, index)
        answers.verdicts[pod.id] = verdicts
        answers.errors.extend(errors)
    return answers


@dataclass
class OurAnswers:
    reasons: dict[str, dict[str, dict[str, set[str]]]] = field(default_factory=dict)  # id -> level -> reason -> rules
    problems: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def ours(corpus: Corpus) -> OurAnswers:
    """One engine run over every corpus file, as the CLI reads them; findings by file."""
    answers = OurAnswers()
    by_path = {str(p.path): p for p in corpus.pods}
    inventory = load(list(by_path))
    answers.problems.extend(f"the tool skipped {s.one_line()}" for s in inventory.skipped)
    resources: dict[str, list[Any]] = defaultdict(list)
    for resource in inventory.resources:
        resources[resource.origin.path].append(resource)
    for path, pod in by_path.items():
        found = resources.get(path, [])
        if len(found) != 1 or found[0].kind != "Pod":
            answers.problems.append(f"{pod.id}: the tool read {[r.kind for r in found]}, expected one Pod")
            continue
        # PSA was sent what PyYAML read; if the tool read the file otherwise, the comparison is unfair.
        diff = first_difference(found[0].obj, pod.obj)
        if diff is not None:
            answers.problems.append(f"{pod.id}: the tool and a YAML 1.1 reader disagree at {diff}")
    report = audit_inventory(inventory)
    findings: dict[str, list[Any]] = defaultdict(list)
    for finding in report.findings:
        if not any(c.startswith("pss:") and c not in NON_POD_PSS_CONTROLS for c in finding.controls):
            continue
        path = finding.location.path if finding.location else None
        if path in by_path and finding.kind == "Pod":
            findings[by_path[path].id].append(finding)
        else:
            answers.problems.append(f"finding {finding.rule_id} on {finding.kind} {finding.name} is on no corpus pod")
    for pod in corpus.pods:
        answers.reasons[pod.id] = {level: our_reasons(findings[pod.id], level) for level in LEVELS}
    return answers


def test_corpus_has_enough_pods(corpus: Corpus):
    own = [p for p in corpus.pods if not p.id.startswith("psa:")]
    compared = [p for p in corpus.pods if p.id not in UPSTREAM_INVALID]
    assert not corpus.errors, "corpus files that are not usable pods:\n" + "\n".join(corpus.errors)
    assert len(compared) >= MIN_CORPUS, f"only {len(compared)} pods to compare (skipped: {corpus.skipped})"
    assert len(own) >= MIN_OURS, f"only {len(own)} pods of our own"
    names = [p.id for p in corpus.pods]
    assert len(names) == len(set(names))


def test_psa_judged_every_pod(corpus: Corpus, psa: PsaAnswers):
    assert not psa.errors, f"{len(psa.errors)} corpus errors:\n" + "\n".join(psa.errors)
    missing = [
        f"{p.id} [{lvl}]"
        for p in corpus.pods
        if p.id not in UPSTREAM_INVALID
        for lvl in LEVELS
        if lvl not in psa.verdicts[p.id]
    ]
    assert not missing, "no PSA verdict for " + ", ".join(missing)


def test_the_tool_reads_every_pod_as_psa_did(ours: OurAnswers):
    assert not ours.problems, "\n".join(ours.problems)


def test_our_reasons_equal_psa_reasons(corpus: Corpus, psa: PsaAnswers, ours: OurAnswers):
    disagreements = []
    for pod in corpus.pods:
        for level in LEVELS:
            verdict = psa.verdicts[pod.id].get(level)
            if verdict is None:
                continue  # reported by test_psa_judged_every_pod
            mine = ours.reasons[pod.id][level]
            if set(mine) != set(verdict.reasons):
                disagreements.append(Disagreement(pod.id, level, mine, verdict.reasons, verdict.message))
    if disagreements:
        table = format_table(
            [d.row() for d in disagreements],
            ("pod file", "level", "only ours [rules]", "only PSA", "both"),
        )
        pairs = len([p for p in corpus.pods if p.id not in UPSTREAM_INVALID]) * len(LEVELS)
        pytest.fail(
            f"{len(disagreements)} of {pairs} (pod, level) pairs disagree with PSA "
            f"(psa: = {corpus.psa_dir}/test/testdata/):\n{table}",
            pytrace=False,
        )
