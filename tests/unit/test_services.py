"""Services: a tenant's Service is reachable from another tenant exactly when its backends are,
on the Service's target ports; NodePort, LoadBalancer and externalIPs exposure (IA406)."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import jsonschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scan_helpers import audit_inventory, write

from auditor.analysis import AnalysisContext
from auditor.config import Config
from auditor.engine import resolve_tenancy, top_level_workloads
from auditor.netpol import Evaluator
from auditor.reports import renderer
from auditor.sources.manifests import load
from checks.reachability import _endpoints, _namespace_labels, _policies

SCHEMA = json.loads((Path(__file__).parents[2] / "auditor" / "schemas" / "report.schema.json").read_text())


def ns(name):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def pod(namespace, name, labels, port=8080, ip=None, port_name="http"):
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace, "labels": labels},
           "spec": {"containers": [{"name": "c", "image": "x",
                                    "ports": [{"name": port_name, "containerPort": port}]}]}}
    if ip:
        obj["status"] = {"podIP": ip}
    return obj


def service(namespace, name, selector=None, kind="ClusterIP", ports=None, **spec):
    body = {"type": kind, "ports": ports or [{"name": "web", "port": 80, "targetPort": "http"}], **spec}
    if selector is not None:
        body["selector"] = selector
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace}, "spec": body}


def admit(namespace, from_namespace, port):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": f"from-{from_namespace}", "namespace": namespace},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"],
                     "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {
                         "kubernetes.io/metadata.name": from_namespace}}}], "ports": [{"port": port}]}]}}


def node(name, internal, external=None):
    addresses = [{"type": "InternalIP", "address": internal}] + (
        [{"type": "ExternalIP", "address": external}] if external else [])
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "status": {"addresses": addresses}}


def audit(tmp_path, objects, select=("IA406",)):
    write(tmp_path, "cluster.json", json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))
    report = audit_inventory(load([str(tmp_path / "cluster.json")]), select=select)
    jsonschema.validate(json.loads(renderer("json")(report)), SCHEMA)
    return report


def rows(report):
    return {r["service"]: r for r in report.sections["reachability"]["services"]}


BASE = [ns("shop"), ns("bank"), ns("open"), pod("shop", "web-1", {"app": "web"}, ip="10.1.0.5"),
        pod("bank", "api-1", {"app": "api"}), pod("open", "x-1", {"app": "x"})]


def test_a_service_is_reachable_exactly_on_its_backends_target_ports(tmp_path):
    """bank is admitted on 8080 (the named target port `http`), open on 9090 only: the tenant
    matrix lets both reach shop, but only bank reaches the Service."""
    objects = BASE + [admit("shop", "bank", 8080), admit("shop", "open", 9090), service("shop", "web", {"app": "web"})]
    report = audit(tmp_path, objects)
    intended = {(r["from_tenant"], r["to_tenant"]) for r in report.sections["reachability"]["intended"]}
    assert {("bank", "shop"), ("open", "shop")} <= intended
    row = rows(report)["web"]
    assert row["reachable_from"] == ["bank"] and row["backend_count"] == 1 and row["backends_from"] == "selector"
    assert row["ports"] == ["TCP/80->http"] and row["exposure"] is None and row["tenant"] == "shop"


def test_a_named_target_port_the_backends_do_not_name_reaches_nothing(tmp_path):
    objects = BASE + [service("shop", "web", {"app": "web"}, ports=[{"port": 80, "targetPort": "metrics"}])]
    assert rows(audit(tmp_path, objects))["web"]["reachable_from"] == []


def test_a_service_without_selector_uses_its_endpoint_slices(tmp_path):
    slice_ = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
              "metadata": {"name": "ext-abc", "namespace": "shop", "labels": {"kubernetes.io/service-name": "ext"}},
              "addressType": "IPv4", "ports": [{"name": "web", "port": 8080, "protocol": "TCP"}],
              "endpoints": [{"addresses": ["10.9.9.9"], "targetRef": {"kind": "Pod", "name": "web-1"}},
                            {"addresses": ["192.0.2.7"]}]}
    objects = BASE + [admit("shop", "bank", 8080), service("shop", "ext"), slice_]
    row = rows(audit(tmp_path, objects))["ext"]
    assert (row["backends_from"], row["backend_count"], row["outside_backends"]) == ("EndpointSlice", 1, 1)
    assert row["reachable_from"] == ["bank"]


def test_endpoints_match_backends_by_address_when_no_slice_exists(tmp_path):
    endpoints = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "ext", "namespace": "shop"},
                 "subsets": [{"addresses": [{"ip": "10.1.0.5"}], "ports": [{"name": "web", "port": 9090}]}]}
    objects = BASE + [admit("shop", "bank", 8080), admit("shop", "open", 9090), service("shop", "ext"), endpoints]
    row = rows(audit(tmp_path, objects))["ext"]
    assert (row["backends_from"], row["backend_count"], row["reachable_from"]) == ("Endpoints", 1, ["open"])


def test_a_service_without_selector_or_endpoints_has_no_backends(tmp_path):
    row = rows(audit(tmp_path, BASE + [service("shop", "lonely")]))["lonely"]
    assert (row["backends_from"], row["backend_count"], row["reachable_from"]) == ("none", 0, [])


def test_node_port_exposure_names_node_addresses_and_the_source_nat(tmp_path):
    wall = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "no-nodes", "namespace": "open"},
            "spec": {"podSelector": {}, "policyTypes": ["Egress"],
                     "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/24"]}}]}]}}
    objects = BASE + [node("n1", "10.0.0.1", "203.0.113.5"), node("n2", "10.0.0.2"), wall,
                      service("shop", "web", {"app": "web"}, "NodePort",
                              [{"port": 80, "targetPort": "http", "nodePort": 30080}])]
    report = audit(tmp_path, objects)
    x = rows(report)["web"]["exposure"]
    assert x["node_addresses"] == ["10.0.0.1", "10.0.0.2", "203.0.113.5"] and x["node_ports"] == [30080]
    assert x["external_traffic_policy"] == "Cluster"
    # open's egress admits the ExternalIP, not the InternalIPs: one address is enough to reach a node port
    assert x["reachable_from"] == ["bank", "open"]
    [finding] = report.findings
    assert finding.rule_id == "IA406" and finding.kind == "Service" and finding.name == "web"
    assert "source-NATed" in finding.message and "10.0.0.1" in finding.message
    assert finding.evidence["node_addresses"] == x["node_addresses"]


def test_a_node_port_walled_off_from_every_node_address_is_not_reached_through_nodes(tmp_path):
    wall = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "no-nodes", "namespace": "open"},
            "spec": {"podSelector": {}, "policyTypes": ["Egress"],
                     "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/24"]}}]}]}}
    objects = BASE + [node("n1", "10.0.0.1"), wall,
                      service("shop", "web", {"app": "web"}, "NodePort",
                              [{"port": 80, "targetPort": "http", "nodePort": 30080}], externalTrafficPolicy="Local")]
    report = audit(tmp_path, objects)
    x = rows(report)["web"]["exposure"]
    assert x["reachable_from"] == ["bank"] and x["external_traffic_policy"] == "Local"
    assert "source-NATed" not in report.findings[0].message


def test_load_balancer_and_external_ips_are_exposure(tmp_path):
    lb = service("shop", "lb", {"app": "web"}, "LoadBalancer", [{"port": 443, "targetPort": 8080, "nodePort": 31443}],
                 loadBalancerSourceRanges=["198.51.100.0/24"])
    lb["status"] = {"loadBalancer": {"ingress": [{"ip": "198.51.100.10"}, {"hostname": "lb.example"}]}}
    external = service("shop", "ext", {"app": "web"}, externalIPs=["192.0.2.50"])
    report = audit(tmp_path, BASE + [lb, external, service("shop", "plain", {"app": "web"})])
    found = rows(report)
    assert found["lb"]["exposure"]["load_balancer_ingress"] == ["198.51.100.10", "lb.example"]
    assert found["lb"]["exposure"]["load_balancer_source_ranges"] == ["198.51.100.0/24"]
    assert found["ext"]["exposure"]["external_ips"] == ["192.0.2.50"] and found["plain"]["exposure"] is None
    assert sorted(f.name for f in report.findings) == ["ext", "lb"]
    assert {f.name: f.location.line is not None for f in report.findings} == {"ext": True, "lb": True}


def test_a_load_balancer_without_node_ports_is_not_exposed_on_the_nodes(tmp_path):
    lb = service("shop", "lb", {"app": "web"}, "LoadBalancer", [{"port": 443, "targetPort": 8080}],
                 allocateLoadBalancerNodePorts=False)
    lb["status"] = {"loadBalancer": {"ingress": [{"ip": "198.51.100.10"}]}}
    report = audit(tmp_path, BASE + [node("n1", "10.0.0.1"), lb])
    x = rows(report)["lb"]["exposure"]
    assert (x["node_addresses"], x["node_ports"], x["reachable_from"]) == ([], [], ["bank", "open"])
    assert "node port" not in report.findings[0].message and "198.51.100.10" in report.findings[0].message


def test_external_name_services_are_not_listed(tmp_path):
    alias = service("shop", "alias", kind="ExternalName", externalName="db.example")
    assert rows(audit(tmp_path, BASE + [alias])) == {}


def test_renderers_show_services_briefly(tmp_path):
    objects = BASE + [service("shop", "web", {"app": "web"}, "NodePort", [{"port": 80, "targetPort": "http"}])]
    report = audit(tmp_path, objects)
    assert "shop/web" in renderer("table")(report)
    assert "Service(s) reachable from other tenants" in renderer("markdown")(report)
    assert "<td>shop/web</td>" in renderer("html")(report)


# -- the class-based answer against every pod pair -------------------------------------

LABELS = st.fixed_dictionaries({"app": st.sampled_from(["a", "b"])})


@st.composite
def clusters(draw):
    namespaces = ["t0", "t1", "t2"]
    objects = [ns(n) for n in namespaces]
    for i in range(draw(st.integers(2, 7))):
        objects.append(pod(draw(st.sampled_from(namespaces)), f"p{i}", draw(LABELS),
                           port=draw(st.sampled_from([80, 8080])), port_name=draw(st.sampled_from(["http", "m"]))))
    for i in range(draw(st.integers(0, 4))):
        where, peer = draw(st.sampled_from(namespaces)), draw(st.sampled_from(namespaces))
        direction = draw(st.sampled_from(["Ingress", "Egress"]))
        peers = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": peer}},
                  "podSelector": {"matchLabels": draw(LABELS)}}]
        ports = [{"port": draw(st.sampled_from([80, 8080, "http"]))}]
        rule = {"from" if direction == "Ingress" else "to": peers, "ports": ports}
        objects.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                        "metadata": {"name": f"np{i}", "namespace": where},
                        "spec": {"podSelector": {"matchLabels": draw(LABELS)}, "policyTypes": [direction],
                                 direction.lower(): [rule]}})
    for i in range(draw(st.integers(1, 3))):
        target = draw(st.sampled_from([80, 8080, "http"]))
        objects.append(service(draw(st.sampled_from(namespaces)), f"s{i}", draw(LABELS),
                               ports=[{"name": "p", "port": 1000 + i, "targetPort": target}]))
    return objects


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(clusters())
def test_service_reachability_equals_a_per_pod_brute_force(tmp_path, objects):
    """Tenants reaching a Service, from the evaluator asked per pod pair on each backend's own
    target ports, equal the class-based answer."""
    report = audit(tmp_path, objects, select=("IA4",))
    found = {name: set(r["reachable_from"]) for name, r in rows(report).items()}
    inventory = load([str(tmp_path / "cluster.json")])
    config = Config()
    ctx = AnalysisContext(inventory, resolve_tenancy(inventory.resources, config.tenancy),
                          top_level_workloads(inventory.resources), config, date(2026, 1, 1))
    endpoints, _ = _endpoints(ctx)
    ev = Evaluator(endpoints, _namespace_labels(ctx), _policies(ctx))
    for svc in (o for o in objects if o["kind"] == "Service"):
        owner, selector = svc["metadata"]["namespace"], svc["spec"]["selector"]
        target = svc["spec"]["ports"][0]["targetPort"]
        expected = set()
        for b in endpoints:
            if b.namespace != owner or any(b.labels.get(k) != v for k, v in selector.items()):
                continue
            port = target if isinstance(target, int) else next((n for name, n, _ in b.ports if name == target), None)
            for s in endpoints:
                if s.namespace != owner and port is not None and \
                        ev.ports(ev.class_of(s), ev.class_of(b)).allows("TCP", port):
                    expected.add(s.namespace)
        assert found[svc["metadata"]["name"]] == expected


JUNK = st.recursive(st.none() | st.booleans() | st.integers(-2, 70000) | st.text(max_size=4),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                        st.sampled_from(["ip", "name", "port", "targetRef", "addresses", "ports", "kind",
                                         "namespace", "protocol", "hostname"]), inner, max_size=3),
                    max_leaves=12)


@settings(max_examples=80, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.fixed_dictionaries({"endpoints": JUNK, "ports": JUNK}), st.fixed_dictionaries({"subsets": JUNK}),
       st.fixed_dictionaries({"ports": JUNK, "externalIPs": JUNK, "selector": JUNK}), JUNK)
def test_wrong_types_in_slices_endpoints_and_services_are_no_crash(tmp_path, slice_body, endpoints_body, spec, status):
    """Whatever a Service, its EndpointSlice or its Endpoints hold, the audit lists the Service."""
    objects = BASE + [
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", **slice_body,
         "metadata": {"name": "j-1", "namespace": "shop", "labels": {"kubernetes.io/service-name": "j"}}},
        {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "k", "namespace": "shop"}, **endpoints_body},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "j", "namespace": "shop"},
         "spec": {"type": "NodePort", **spec}, "status": status},
        service("shop", "k"),
    ]
    found = rows(audit(tmp_path, objects))
    assert set(found) == {"j", "k"}
