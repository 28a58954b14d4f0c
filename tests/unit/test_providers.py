"""Provider machine families as cited package data: real-world providerIDs and instance
types per provider classify as their provider documents them, and a broken data file is
refused with a one-line, value-free error."""
from __future__ import annotations

import pytest

from auditor.citation import DATA, DataFileError, load_checked
from auditor.model import Resource
from auditor.substrate import classify, providers


def node(provider_id=None, instance_type=None):
    labels = {"node.kubernetes.io/instance-type": instance_type} if instance_type else {}
    spec = {"providerID": provider_id} if provider_id else {}
    return Resource("Node", "v1", None, "n1", {"metadata": {"name": "n1", "labels": labels}, "spec": spec})


# (providerID, node.kubernetes.io/instance-type, expected substrate, expected provider id):
# the shapes each provider's cloud controller manager or Cluster API provider writes.
TABLE = [
    ("aws:///us-east-1a/i-0a1b2c3d4e5f60001", "m6i.2xlarge", "vm", "aws"),
    ("aws:///us-west-2b/i-0123456789abcdef0", "m5.metal", "bare-metal", "aws"),
    ("aws:///eu-west-1c/i-0fedcba9876543210", "m7i.metal-24xl", "bare-metal", "aws"),
    ("aws:///us-east-1a/i-0a1b2c3d4e5f60002", "m7g.metal", "bare-metal", "aws"),
    ("aws:///us-east-1a/i-0a1b2c3d4e5f60003", "c7gn.16xlarge", "vm", "aws"),
    ("gce://my-project/us-central1-a/gke-pool-1-abcd", "n2-standard-8", "vm", "gce"),
    ("gce://my-project/us-central1-a/metal-node-1", "c3-highcpu-192-metal", "bare-metal", "gce"),
    ("gce://my-project/europe-west4-b/metal-node-2", "c3-standard-192-metal", "bare-metal", "gce"),
    ("azure:///subscriptions/0000/resourceGroups/mc_rg/providers/Microsoft.Compute/virtualMachineScaleSets/"
     "aks-nodepool1-12345678-vmss/virtualMachines/0", "Standard_D8s_v5", "vm", "azure"),
    ("oci://ocid1.instance.oc1.iad.anuwcljrexample", "BM.Standard.E4.128", "bare-metal", "oci"),
    ("oci://ocid1.instance.oc1.phx.anyhqljrexample", "BM.Standard3.64", "bare-metal", "oci"),
    ("oci://ocid1.instance.oc1.iad.anuwcljrexample", "VM.Standard.E4.Flex", "vm", "oci"),
    ("ibm://a1b2c3d4e5f6///c8example/kube-c8example-default-00000123", "bx2d-metal-96x384", "bare-metal", "ibm"),
    ("ibm://a1b2c3d4e5f6///c8example/kube-c8example-default-00000124", "bx2.4x16", "vm", "ibm"),
    ("cn-hangzhou.i-bp1example0000000000", "ecs.ebmg6.26xlarge", "bare-metal", "alibaba"),
    ("cn-beijing.i-2zeexample000000000", "ecs.g7.xlarge", "vm", "alibaba"),
    ("hcloud://12345678", "cpx31", "vm", "hetzner-cloud"),
    ("hcloud://bm-1234567", None, "bare-metal", "hetzner-cloud"),
    ("hrobot://1234567", "AX41-NVMe", "bare-metal", "hetzner-robot"),
    ("equinixmetal://4d1a7b0c-2e3f-4a5b-8c6d-7e8f9a0b1c2d", "c3.small.x86", "bare-metal", "equinix-metal"),
    ("packet://4d1a7b0c-2e3f-4a5b-8c6d-7e8f9a0b1c2d", "m3.large.x86", "bare-metal", "equinix-metal"),
    ("scaleway://instance/fr-par-1/e885e8a0-a3e2-4e61-9368-5a31c9d40a96", "PRO2-S", "vm", "scaleway"),
    ("scaleway://baremetal/fr-par-2/53a6ca14-0d8d-4f2e-9887-2f1bcfba58ed", "EM-A115X-SSD", "bare-metal", "scaleway"),
    ("metal3://8e16d3b6-d48c-41e0-af0f-e43dbf5ec0cd", None, "bare-metal", "metal3"),
    ("metal3://openshift-machine-api/worker-0/4c4c4544-0042", "baremetal-r650", "bare-metal", "metal3"),
    ("maas:///zone-b/test-machine-789", None, "bare-metal", "maas"),
    ("tinkerbell://eksa-system/eksa-node01", None, "bare-metal", "tinkerbell"),
    ("vsphere://42307a9c-8b8e-11ee-b9d1-0242ac120002", None, "vm", "vsphere"),
    ("openstack:///8c3f5e2a-1b4d-4e6f-9a7b-2c1d3e4f5a6b", "b3-8", "vm", "openstack"),
    ("kubevirt://tenant-cluster-worker-abc", None, "vm", "kubevirt"),
    ("linode://12345678", "g6-standard-4", "vm", "linode"),
    ("digitalocean://123456789", "s-4vcpu-8gb", "vm", "digitalocean"),
    ("kind://docker/kind/kind-worker", None, "unknown", "kind"),
    # no providerID: the instance type alone, against every provider's families
    (None, "c6i.metal", "bare-metal", None),
    (None, "ecs.ebmc7.32xlarge", "bare-metal", None),
    (None, "baremetal-r650", "bare-metal", None),
    (None, "m6i.large", "unknown", None),
    (None, None, "unknown", None),
    ("foo://x", None, "unknown", None),
]


@pytest.mark.parametrize("provider_id, instance_type, substrate, provider", TABLE)
def test_real_world_provider_ids_and_instance_types(provider_id, instance_type, substrate, provider):
    result = classify(node(provider_id, instance_type))
    assert (result.kind, result.provider) == (substrate, provider)
    assert result.evidence


def test_every_provider_and_most_families_of_the_brief_are_covered():
    ids = {p.id for p in providers()}
    assert {"aws", "gce", "azure", "oci", "ibm", "alibaba", "hetzner-cloud", "hetzner-robot", "equinix-metal",
            "scaleway", "metal3", "maas", "tinkerbell", "vsphere", "openstack", "kubevirt", "linode",
            "digitalocean"} <= ids
    assert {row[3] for row in TABLE} - {None} == ids - {"generic"}  # the table tests every provider


def _examples():
    for p in providers():
        for example in p.examples:
            yield pytest.param(p, None, example, None, id=f"{p.id}:{example}")
        for f in p.families:
            for example in f.examples:
                pid, itype = (example, None) if f.provider_id is not None else (None, example)
                yield pytest.param(p, f, pid, itype, id=f"{p.id}:{example}")


@pytest.mark.parametrize("provider, family, provider_id, instance_type", list(_examples()))
def test_each_documented_example_classifies_as_its_entry_says(provider, family, provider_id, instance_type):
    result = classify(node(provider_id, instance_type))
    assert result.kind == (family or provider).substrate
    cited = (family or provider).source.url
    if result.kind != "unknown":
        assert any(cited in line for line in result.evidence), result.evidence


def test_every_entry_cites_a_followable_source():
    for p in providers():
        for entry in (p, *p.families):
            assert entry.source.url.startswith("https://") and entry.source.title and entry.source.date


@pytest.mark.parametrize("text, where", [
    ("schema_version: 1\nproviders:\n  - id: x\n    name: X\n    substrate: vm\n", ":3: providers[0]: missing"),
    ("schema_version: 1\nproviders:\n  - id: x\n    name: X\n    substrate: moon-s3cr3t\n"
     "    source: {title: t, url: 'https://e', date: '2024-01-01'}\n", ":5: providers[0].substrate: must be one of"),
    ("schema_version: 1\nproviders:\n  - id: x\n    name: X\n    substrate: vm\n    provider_id: '(s3cr3t'\n"
     "    source: {title: t, url: 'https://e', date: '2024-01-01'}\n", ":6: providers[0].provider_id: must be a valid"),
    ("schema_version: 1\nproviders: [\n", "invalid YAML"),
])
def test_a_broken_data_file_is_one_line_naming_file_line_and_field(tmp_path, text, where):
    path = tmp_path / "providers.yaml"
    path.write_text(text)
    with pytest.raises(DataFileError) as info:
        load_checked(path, "provider data", "providers.schema.json")
    message = str(info.value)
    assert "\n" not in message and str(path) in message and where in message
    assert "s3cr3t" not in message


def test_the_report_names_each_nodes_provider(tmp_path):
    import json

    from auditor.cli import main

    nodes = [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}, "spec": spec}
             for name, labels, spec in (
                 ("a", {"node.kubernetes.io/instance-type": "c3-highcpu-192-metal"}, {"providerID": "gce://p/z/a"}),
                 ("b", {}, {"providerID": "hrobot://1234567"}),
                 ("c", {}, {}))]
    path = tmp_path / "nodes.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": nodes}))
    out = tmp_path / "report.json"
    assert main(["scan", str(path), "--format", "json", "-o", str(out)]) in (0, 1)
    rows = {n["name"]: n for n in json.loads(out.read_text())["nodes"]}
    assert {n: (r["substrate"], r["provider"]) for n, r in rows.items()} == {
        "a": ("bare-metal", "gce"), "b": ("bare-metal", "hetzner-robot"), "c": ("unknown", None)}
    assert any("https://cloud.google.com/compute/docs/instances/bare-metal-instances" in e
               for e in rows["a"]["substrate_evidence"])


@pytest.mark.parametrize("name, schema", [("providers.yaml", "providers.schema.json"),
                                          ("overheads.yaml", "overheads.schema.json"),
                                          ("escape-cves.yaml", "escape-cves.schema.json")])
def test_every_shipped_data_file_passes_its_schema(name, schema):
    """A scan trusts the package's data files (it loads them with `shipped=True`): this test is
    what holds them to their schemas."""
    load_checked(DATA / name, name, schema)
