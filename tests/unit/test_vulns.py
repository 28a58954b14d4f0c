"""The curated container-escape CVE data and the version matcher."""
from __future__ import annotations

import dataclasses
import json

import jsonschema
import pytest

from auditor import vulns
from auditor.citation import validator
from auditor.sources.yaml_loader import load_documents
from auditor.vulns import AFFECTED, NOT_AFFECTED, POSSIBLY_AFFECTED, match, parse_kernel, parse_runtime

DISTRO_PHRASE = "distribution kernels backport fixes; check the vendor's advisory"


def _raw_data():
    (_, data, error), = list(load_documents(vulns.DATA.read_text(encoding="utf-8")))
    assert error is None
    return data


def _verdicts(component, version):
    return {m.entry.id: m for m in match(component, version)}


# ---------------------------------------------------------------- the data


def test_data_validates_against_its_schema():
    jsonschema.Draft202012Validator.check_schema(json.loads(vulns.SCHEMA.read_text(encoding="utf-8")))
    errors = sorted(validator(vulns.SCHEMA.name).iter_errors(_raw_data()), key=str)
    assert errors == []


def test_schema_rejects_unquoted_versions_and_missing_references_or_source():
    data = _raw_data()
    check = validator(vulns.SCHEMA.name)
    entry = dict(data["entries"][0], affected=[{"introduced": 5.1, "fixed": "5.16.11"}])
    assert not check.is_valid({"schema_version": 1, "entries": [entry]})
    entry = dict(data["entries"][0], references=[])
    assert not check.is_valid({"schema_version": 1, "entries": [entry]})
    entry = {k: v for k, v in data["entries"][0].items() if k != "source"}
    assert not check.is_valid({"schema_version": 1, "entries": [entry]})
    entry = dict(data["entries"][0], source={"title": "NVD", "url": "nvd.nist.gov/x", "date": "2026-11-28"})
    assert not check.is_valid({"schema_version": 1, "entries": [entry]})


REQUIRED = {
    "CVE-2022-0847": "linux-kernel", "CVE-2022-0185": "linux-kernel", "CVE-2022-0492": "linux-kernel",
    "CVE-2024-1086": "linux-kernel", "CVE-2021-22555": "linux-kernel", "CVE-2016-5195": "linux-kernel",
    "CVE-2020-14386": "linux-kernel", "CVE-2023-0386": "linux-kernel", "CVE-2023-32233": "linux-kernel",
    "CVE-2022-2588": "linux-kernel", "CVE-2019-5736": "runc", "CVE-2024-21626": "runc",
    "CVE-2020-15257": "containerd", "CVE-2022-23648": "containerd", "CVE-2022-0811": "cri-o",
}


def test_required_cves_present_once_with_their_component():
    ids = [e.id for e in vulns.entries()]
    assert len(ids) == len(set(ids))
    by_id = {e.id: e for e in vulns.entries()}
    for cve, component in REQUIRED.items():
        assert by_id[cve].component == component, cve


@pytest.mark.parametrize("entry", vulns.entries(), ids=lambda e: e.id)
def test_every_entry_is_sourced(entry):
    assert entry.source.url == f"https://nvd.nist.gov/vuln/detail/{entry.id}" and entry.id in entry.source.title
    assert entry.source.date
    assert len(entry.references) >= 1
    assert f"https://nvd.nist.gov/vuln/detail/{entry.id}" in entry.references
    # Besides NVD: the upstream fix commit or the project's advisory.
    assert any("nvd.nist.gov" not in url for url in entry.references)


@pytest.mark.parametrize("entry", vulns.entries(), ids=lambda e: e.id)
def test_ranges_are_well_formed(entry):
    branches = [r.fixed.branch for r in entry.affected]
    assert len(branches) == len(set(branches)), "two fixes for one branch"
    for r in entry.affected:
        assert r.introduced.key < r.fixed.key
        assert not r.introduced.vendor_build and not r.fixed.vendor_build
    assert entry.summary.count(". ") == 0, "summary is one sentence"


def test_entries_are_loaded_once_and_frozen():
    assert vulns.entries() is vulns.entries()
    entry = vulns.entries()[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.severity = "low"
    (m, *_) = match("linux-kernel", "5.10.0")
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.verdict = AFFECTED


def test_dirty_pipe_ranges_as_published():
    (entry,) = [e for e in vulns.entries() if e.id == "CVE-2022-0847"]
    assert entry.name == "Dirty Pipe"
    assert {r.introduced.raw for r in entry.affected} == {"5.8"}
    assert {"5.16.11", "5.15.25", "5.10.102"} <= {r.fixed.raw for r in entry.affected}


def test_cr8escape_branch_fixes_as_published():
    (entry,) = [e for e in vulns.entries() if e.id == "CVE-2022-0811"]
    assert {r.fixed.raw for r in entry.affected} == {"1.19.6", "1.20.7", "1.21.6", "1.22.3", "1.23.2"}


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    "text, release, suffix",
    [
        ("5.15.0-1051-aws", (5, 15, 0), "-1051-aws"),
        ("6.1.0-18-amd64", (6, 1, 0), "-18-amd64"),
        ("6.1.79-99.167.amzn2023.x86_64", (6, 1, 79), "-99.167.amzn2023.x86_64"),
        ("4.18.0-513.5.1.el8_9.x86_64", (4, 18, 0), "-513.5.1.el8_9.x86_64"),
        ("6.8.0-45-generic", (6, 8, 0), "-45-generic"),
        ("5.15.133+", (5, 15, 133), "+"),
        ("5.10.102", (5, 10, 102), ""),
        (" 6.6.15\n", (6, 6, 15), ""),
    ],
)
def test_parse_kernel_keeps_the_distro_suffix_aside(text, release, suffix):
    v = parse_kernel(text)
    assert (v.release, v.suffix, v.vendor_build) == (release, suffix, bool(suffix))
    assert v.pre is None and v.branch == release[:2]


def test_parse_kernel_release_candidates():
    v = parse_kernel("5.17.0-rc6")
    assert v.pre == ("rc", 6) and not v.vendor_build
    assert parse_kernel("5.17-rc5").key < parse_kernel("5.17-rc6").key < parse_kernel("5.17").key
    assert parse_kernel("5.9").key == parse_kernel("5.9.0").key
    assert parse_kernel("5.10.9").key < parse_kernel("5.10.10").key


@pytest.mark.parametrize(
    "text, component, release, pre, suffix",
    [
        ("containerd://1.6.20", "containerd", (1, 6, 20), None, ""),
        ("docker://24.0.7", "docker", (24, 0, 7), None, ""),
        ("cri-o://1.28.1", "cri-o", (1, 28, 1), None, ""),
        ("1.1.5", "runc", (1, 1, 5), None, ""),
        ("v1.7.2", "containerd", (1, 7, 2), None, ""),
        ("1.0.0-rc93", "runc", (1, 0, 0), ("rc", 93), ""),
        ("2.0.0-rc.1", "containerd", (2, 0, 0), ("rc", 1), ""),
        ("1.0.0-rc6+dev", "runc", (1, 0, 0), ("rc", 6), "+dev"),
        ("containerd://1.7.12-0ubuntu2~22.04.1", "containerd", (1, 7, 12), None, "-0ubuntu2~22.04.1"),
        ("containerd://1.7.11-k3s2", "containerd", (1, 7, 11), None, "-k3s2"),
    ],
)
def test_parse_runtime(text, component, release, pre, suffix):
    v = parse_runtime(text, component)
    assert (v.release, v.pre, v.suffix) == (release, pre, suffix)


def test_runtime_ordering():
    key = lambda s: parse_runtime(s).key  # noqa: E731
    assert key("1.0.0-rc92") < key("1.0.0-rc93") < key("1.0.0") < key("1.0.1") < key("1.1.12")
    assert key("1.7.0-beta.1") < key("1.7.0-rc.1") < key("1.7.0")
    assert key("19.03.1") == key("19.3.1")


@pytest.mark.parametrize(
    "component, text",
    [
        ("containerd", "docker://24.0.7"),
        ("runc", "containerd://1.6.20"),
        ("containerd", "podman://4.0.0"),
        ("containerd", "latest"),
        ("linux-kernel", "linux"),
        ("linux-kernel", ""),
        ("gvisor", "1.0"),
    ],
)
def test_match_rejects_what_it_cannot_read(component, text):
    with pytest.raises(ValueError):
        match(component, text)


# ---------------------------------------------------------------- matching


@pytest.mark.parametrize(
    "version, cve, verdict",
    [
        # Dirty Pipe: introduced 5.8, fixed 5.10.102 / 5.15.25 / 5.16.11 / 5.17-rc6.
        ("5.16.10", "CVE-2022-0847", AFFECTED),
        ("5.16.11", "CVE-2022-0847", NOT_AFFECTED),
        ("5.15.24", "CVE-2022-0847", AFFECTED),
        ("5.15.25", "CVE-2022-0847", NOT_AFFECTED),
        ("5.15.30", "CVE-2022-0847", NOT_AFFECTED),
        ("5.10.101", "CVE-2022-0847", AFFECTED),
        ("5.10.102", "CVE-2022-0847", NOT_AFFECTED),
        ("5.16.5", "CVE-2022-0847", AFFECTED),    # 5.15.25 fixes 5.15.x only, not 5.16.x
        ("5.12.19", "CVE-2022-0847", AFFECTED),   # 5.12 went end-of-life unfixed
        ("5.8.0", "CVE-2022-0847", AFFECTED),     # the release that introduced it
        ("5.7.19", "CVE-2022-0847", NOT_AFFECTED),
        ("5.4.300", "CVE-2022-0847", NOT_AFFECTED),
        ("5.17.0-rc5", "CVE-2022-0847", AFFECTED),
        ("5.17.0-rc6", "CVE-2022-0847", NOT_AFFECTED),
        ("5.17.1", "CVE-2022-0847", NOT_AFFECTED),
        ("6.8.0", "CVE-2022-0847", NOT_AFFECTED),
        # CVE-2024-1086: 3.15 to 6.8, with 6.1.76 / 6.6.15 / 6.7.3.
        ("6.6.14", "CVE-2024-1086", AFFECTED),
        ("6.6.15", "CVE-2024-1086", NOT_AFFECTED),
        ("6.7.2", "CVE-2024-1086", AFFECTED),
        ("6.7.3", "CVE-2024-1086", NOT_AFFECTED),
        ("6.1.75", "CVE-2024-1086", AFFECTED),
        ("6.1.76", "CVE-2024-1086", NOT_AFFECTED),
        ("6.8", "CVE-2024-1086", NOT_AFFECTED),
        ("3.14.79", "CVE-2024-1086", NOT_AFFECTED),
        # Other branch fixes.
        ("5.15.60", "CVE-2022-2588", AFFECTED),
        ("5.15.61", "CVE-2022-2588", NOT_AFFECTED),
        ("4.14.265", "CVE-2022-0492", AFFECTED),
        ("4.14.266", "CVE-2022-0492", NOT_AFFECTED),
        ("5.4.172", "CVE-2022-0185", AFFECTED),
        ("5.4.173", "CVE-2022-0185", NOT_AFFECTED),
        ("4.19.300", "CVE-2022-0185", NOT_AFFECTED),  # fs_context arrived in 5.1
        ("4.4.25", "CVE-2016-5195", AFFECTED),
        ("4.4.26", "CVE-2016-5195", NOT_AFFECTED),
        ("4.9.0", "CVE-2016-5195", NOT_AFFECTED),
        ("5.10.179", "CVE-2023-32233", AFFECTED),
        ("5.10.180", "CVE-2023-32233", NOT_AFFECTED),
        ("5.10.200", "CVE-2023-0386", NOT_AFFECTED),  # before overlayfs in user namespaces
        ("5.15.90", "CVE-2023-0386", AFFECTED),
        ("5.8.7", "CVE-2020-14386", AFFECTED),
        ("5.8.8", "CVE-2020-14386", NOT_AFFECTED),
        ("5.11.14", "CVE-2021-22555", AFFECTED),
        ("5.11.15", "CVE-2021-22555", NOT_AFFECTED),
    ],
)
def test_vanilla_kernel_boundaries(version, cve, verdict):
    assert _verdicts("linux-kernel", version)[cve].verdict == verdict


@pytest.mark.parametrize(
    "version, cve, verdict",
    [
        ("5.15.0-1051-aws", "CVE-2022-0847", POSSIBLY_AFFECTED),
        ("5.15.0-1051-aws", "CVE-2016-5195", NOT_AFFECTED),
        ("6.1.0-18-amd64", "CVE-2024-1086", POSSIBLY_AFFECTED),
        ("6.1.0-18-amd64", "CVE-2022-0847", NOT_AFFECTED),
        ("6.1.79-99.167.amzn2023.x86_64", "CVE-2024-1086", NOT_AFFECTED),
        ("6.1.79-99.167.amzn2023.x86_64", "CVE-2023-32233", NOT_AFFECTED),
        ("6.8.0-45-generic", "CVE-2024-1086", NOT_AFFECTED),
        ("6.8.0-45-generic", "CVE-2023-0386", NOT_AFFECTED),
        ("4.18.0-513.5.1.el8_9.x86_64", "CVE-2022-0492", POSSIBLY_AFFECTED),
        ("4.18.0-513.5.1.el8_9.x86_64", "CVE-2016-5195", NOT_AFFECTED),
        # Older than the upstream introduction, but RHEL-style kernels carry newer code.
        ("4.18.0-513.5.1.el8_9.x86_64", "CVE-2022-0847", POSSIBLY_AFFECTED),
    ],
)
def test_distribution_kernels(version, cve, verdict):
    m = _verdicts("linux-kernel", version)[cve]
    assert m.verdict == verdict
    if verdict == POSSIBLY_AFFECTED:
        assert "check the vendor's advisory" in m.reason


def test_distribution_kernel_in_range_says_why_it_is_only_possible():
    m = _verdicts("linux-kernel", "5.15.0-1051-aws")["CVE-2022-0847"]
    assert DISTRO_PHRASE in m.reason
    assert "5.15.0" in m.reason and "5.15.25" in m.reason
    vanilla = _verdicts("linux-kernel", "5.15.0")["CVE-2022-0847"]
    assert vanilla.verdict == AFFECTED and DISTRO_PHRASE not in vanilla.reason


def test_reasons_are_one_line():
    for version in ("5.15.0-1051-aws", "5.12.3", "6.8.0", "4.18.0-513.5.1.el8_9.x86_64", "3.10.0"):
        for m in match("linux-kernel", version):
            assert m.reason and "\n" not in m.reason


def test_every_kernel_entry_is_judged():
    ms = match("linux-kernel", "6.8.0-45-generic")
    assert {m.entry.id for m in ms} == {e.id for e in vulns.entries() if e.component == "linux-kernel"}
    assert {m.verdict for m in ms} == {NOT_AFFECTED}


@pytest.mark.parametrize(
    "component, version, cve, verdict",
    [
        # runc Leaky Vessels: 1.0.0-rc93 through 1.1.11.
        ("runc", "1.1.11", "CVE-2024-21626", AFFECTED),
        ("runc", "1.1.12", "CVE-2024-21626", NOT_AFFECTED),
        ("runc", "1.1.5", "CVE-2024-21626", AFFECTED),
        ("runc", "1.0.3", "CVE-2024-21626", AFFECTED),       # 1.0.x was never fixed
        ("runc", "1.0.0-rc93", "CVE-2024-21626", AFFECTED),
        ("runc", "1.0.0-rc92", "CVE-2024-21626", NOT_AFFECTED),
        ("runc", "1.2.0", "CVE-2024-21626", NOT_AFFECTED),
        ("runc", "1.1.11-0ubuntu1", "CVE-2024-21626", POSSIBLY_AFFECTED),
        # runc /proc/self/exe: through 1.0-rc6.
        ("runc", "1.0.0-rc6", "CVE-2019-5736", AFFECTED),
        ("runc", "1.0-rc6", "CVE-2019-5736", AFFECTED),
        ("runc", "1.0.0-rc7", "CVE-2019-5736", NOT_AFFECTED),
        ("runc", "0.1.1", "CVE-2019-5736", AFFECTED),
        ("runc", "1.1.5", "CVE-2019-5736", NOT_AFFECTED),
        ("runc", "1.0.0-rc6+dev", "CVE-2019-5736", POSSIBLY_AFFECTED),
        # containerd image volumes: fixed 1.6.1 / 1.5.10 / 1.4.13.
        ("containerd", "containerd://1.6.20", "CVE-2022-23648", NOT_AFFECTED),
        ("containerd", "containerd://1.6.1", "CVE-2022-23648", NOT_AFFECTED),
        ("containerd", "containerd://1.6.0", "CVE-2022-23648", AFFECTED),
        ("containerd", "1.5.9", "CVE-2022-23648", AFFECTED),
        ("containerd", "1.5.10", "CVE-2022-23648", NOT_AFFECTED),
        ("containerd", "1.4.12", "CVE-2022-23648", AFFECTED),
        ("containerd", "1.4.13", "CVE-2022-23648", NOT_AFFECTED),
        ("containerd", "1.3.10", "CVE-2022-23648", AFFECTED),  # no 1.3 fix
        ("containerd", "1.7.0", "CVE-2022-23648", NOT_AFFECTED),
        ("containerd", "containerd://1.5.9-0ubuntu1", "CVE-2022-23648", POSSIBLY_AFFECTED),
        # containerd-shim abstract socket: fixed 1.3.9 / 1.4.3.
        ("containerd", "1.3.8", "CVE-2020-15257", AFFECTED),
        ("containerd", "1.3.9", "CVE-2020-15257", NOT_AFFECTED),
        ("containerd", "1.4.2", "CVE-2020-15257", AFFECTED),
        ("containerd", "1.4.3", "CVE-2020-15257", NOT_AFFECTED),
        ("containerd", "containerd://1.6.20", "CVE-2020-15257", NOT_AFFECTED),
        # cr8escape: introduced 1.19.0, fixed per branch.
        ("cri-o", "cri-o://1.28.1", "CVE-2022-0811", NOT_AFFECTED),
        ("cri-o", "1.19.5", "CVE-2022-0811", AFFECTED),
        ("cri-o", "1.19.6", "CVE-2022-0811", NOT_AFFECTED),
        ("cri-o", "1.20.6", "CVE-2022-0811", AFFECTED),
        ("cri-o", "1.20.7", "CVE-2022-0811", NOT_AFFECTED),
        ("cri-o", "1.21.5", "CVE-2022-0811", AFFECTED),
        ("cri-o", "1.21.6", "CVE-2022-0811", NOT_AFFECTED),
        ("cri-o", "1.22.2", "CVE-2022-0811", AFFECTED),
        ("cri-o", "1.22.3", "CVE-2022-0811", NOT_AFFECTED),
        ("cri-o", "1.23.1", "CVE-2022-0811", AFFECTED),
        ("cri-o", "1.23.2", "CVE-2022-0811", NOT_AFFECTED),
        ("cri-o", "1.24.0", "CVE-2022-0811", NOT_AFFECTED),
        ("cri-o", "1.18.4", "CVE-2022-0811", NOT_AFFECTED),
        # docker cp.
        ("docker", "docker://24.0.7", "CVE-2019-14271", NOT_AFFECTED),
        ("docker", "docker://19.03.0", "CVE-2019-14271", AFFECTED),
        ("docker", "docker://19.03.1", "CVE-2019-14271", NOT_AFFECTED),
        ("docker", "18.09.9", "CVE-2019-14271", NOT_AFFECTED),
    ],
)
def test_runtime_boundaries(component, version, cve, verdict):
    m = _verdicts(component, version)[cve]
    assert m.verdict == verdict, m.reason
    if verdict == POSSIBLY_AFFECTED:
        assert "vendor builds backport fixes; check the vendor's advisory" in m.reason


def test_runtime_matches_only_their_component():
    assert {m.entry.component for m in match("containerd", "containerd://1.6.20")} == {"containerd"}
    assert {m.entry.id for m in match("runc", "1.1.5")} == {"CVE-2019-5736", "CVE-2024-21626"}


def test_reason_names_the_branch_fix():
    m = _verdicts("runc", "1.1.11")["CVE-2024-21626"]
    assert "1.1.12" in m.reason and "1.1.11" in m.reason
    m = _verdicts("containerd", "containerd://1.6.20")["CVE-2022-23648"]
    assert m.reason == "1.6.20 is at or past the 1.6 branch fix 1.6.1"


def test_an_escape_cve_finding_cites_each_cves_source_and_references():
    from pathlib import Path

    from scan_helpers import scan

    bad = Path(__file__).resolve().parents[2] / "fixtures" / "rules" / "IA505" / "bad.yaml"
    findings = [f for f in scan([str(bad)], select=["IA505"]).findings if f.rule_id == "IA505"]
    by_id = {e.id: e for e in vulns.entries()}
    assert findings
    for cve in (c for f in findings for c in f.evidence["cves"]):
        entry = by_id[cve["id"]]
        assert cve["source"] == {"title": entry.source.title, "url": entry.source.url, "date": entry.source.date}
        assert cve["references"] == list(entry.references) and cve["source"]["url"].startswith("https://")
