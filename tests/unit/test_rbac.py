"""auditor.rbac: the authorizer's semantics on hand-made cases (the real authorizer is the
oracle in tests/realapi/test_rbac_oracle.py), aggregation, and who an identity works for."""
from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scan_helpers import audit_inventory

from auditor import rbac
from auditor.config import ConfigError, load_config, parse_config
from auditor.model import Inventory, Resource
from auditor.rbac import Identity, Request
from auditor.tenancy import TenancyConfig, resolve_tenancy


def obj(kind: str, name: str, namespace: str | None = None, **body: Any) -> Resource:
    meta = {"name": name, **({"namespace": namespace} if namespace else {}), **body.pop("meta", {})}
    return Resource(kind, "rbac.authorization.k8s.io/v1", namespace, name, {"kind": kind, "metadata": meta, **body})


def binding(kind: str, name: str, role_kind: str, role: str, subjects: list[dict], namespace: str | None = None):
    return obj(kind, name, namespace, roleRef={"kind": role_kind, "name": role}, subjects=subjects)


SA = Identity.service_account
PODS = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}


def test_a_rolebinding_to_a_clusterrole_grants_only_in_its_namespace():
    model = rbac.build([obj("ClusterRole", "reader", rules=[PODS]),
                        binding("RoleBinding", "b", "ClusterRole", "reader",
                                [{"kind": "ServiceAccount", "name": "ci"}], "shop")])
    assert model.allows(SA("shop", "ci"), Request("get", "shop", resource="pods", name="x"))
    assert not model.allows(SA("shop", "ci"), Request("get", "blog", resource="pods", name="x"))
    assert not model.allows(SA("shop", "ci"), Request("list", "", resource="pods"))  # cluster-wide list
    assert not model.allows(SA("blog", "ci"), Request("get", "shop", resource="pods", name="x"))


def test_a_binding_in_one_namespace_grants_another_namespaces_serviceaccount():
    model = rbac.build([obj("Role", "r", "shop", rules=[PODS]),
                        binding("RoleBinding", "b", "Role", "r",
                                [{"kind": "ServiceAccount", "name": "ci", "namespace": "blog"}], "shop")])
    step = model.allows(SA("blog", "ci"), Request("list", "shop", resource="pods"))
    assert step is not None and step.as_dict()["binding"] == "RoleBinding shop/b"


def test_resource_names_never_match_a_request_without_a_name():
    rule = rbac.PolicyRule.parse({"apiGroups": [""], "resources": ["secrets"], "verbs": ["*"], "resourceNames": ["db"]})
    assert rule.allows(Request("get", "shop", resource="secrets", name="db"))
    for verb in ("list", "watch", "create", "deletecollection"):
        assert not rule.allows(Request(verb, "shop", resource="secrets"))


def test_subresources_wildcards_and_urls():
    rule = rbac.PolicyRule.parse({"apiGroups": ["*"], "resources": ["*/scale", "pods/*"], "verbs": ["update"]})
    assert rule.allows(Request("update", "x", "apps", "deployments", "scale", "d"))
    assert not rule.allows(Request("update", "x", "", "pods", "exec", "p"))  # `pods/*` is no pattern upstream
    assert not rule.allows(Request("update", "x", "apps", "deployments", "", "d"))
    urls = rbac.PolicyRule.parse({"nonResourceURLs": ["/healthz", "/api/*"], "verbs": ["get"]})
    assert urls.allows(Request("get", path="/api/v1")) and urls.allows(Request("get", path="/api/"))
    assert not urls.allows(Request("get", path="/api")) and not urls.allows(Request("get", path="/healthz/etcd"))


def test_groups_masters_and_serviceaccount_subjects_without_a_namespace():
    model = rbac.build(
        [
            obj("ClusterRole", "reader", rules=[PODS]),
            binding(
                "ClusterRoleBinding",
                "all-sa",
                "ClusterRole",
                "reader",
                [{"kind": "Group", "name": "system:serviceaccounts:shop"}],
            ),
            binding("ClusterRoleBinding", "no-ns", "ClusterRole", "reader", [{"kind": "ServiceAccount", "name": "ci"}]),
        ]
    )
    request = Request("list", "", resource="pods")
    assert model.allows(SA("shop", "anything"), request)
    assert not model.allows(SA("blog", "ci"), request)  # a ClusterRoleBinding's SA needs its namespace
    assert model.allows(Identity("root", frozenset({"system:masters"})), Request("escalate", path="/x"))
    # identities with the same bindings are one class
    assert model.class_of(SA("shop", "a")) is model.class_of(SA("shop", "b"))


def test_aggregation_follows_chains_dedupes_and_skips_itself():
    roles = [
        obj(
            "ClusterRole",
            "top",
            aggregationRule={"clusterRoleSelectors": [{"matchLabels": {"agg": "top"}}]},
            meta={"labels": {"agg": "top"}},
            rules=[{"verbs": ["stale"], "apiGroups": [""], "resources": ["x"]}],
        ),
        obj(
            "ClusterRole",
            "middle",
            aggregationRule={
                "clusterRoleSelectors": [{"matchExpressions": [{"key": "agg", "operator": "In", "values": ["mid"]}]}]
            },
            meta={"labels": {"agg": "top"}},
        ),
        obj("ClusterRole", "leaf-a", meta={"labels": {"agg": "mid"}}, rules=[PODS]),
        obj(
            "ClusterRole",
            "leaf-b",
            meta={"labels": {"agg": "mid"}},
            rules=[PODS, {"verbs": ["get"], "nonResourceURLs": ["/x"]}],
        ),
        obj(
            "ClusterRole",
            "plain",
            meta={"labels": {"agg": "top"}},
            rules=[{"verbs": ["delete"], "apiGroups": [""], "resources": ["pods"]}],
        ),
    ]
    # whatever the order the objects come in
    for ordering in (roles, roles[::-1]):
        result = rbac.aggregate(ordering)
        assert [g.rule.verbs for g in result["middle"].grants] == [("get", "list"), ("get",)]
        assert [(g.rule.verbs, g.aggregated_from) for g in result["top"].grants] == [
            (("get", "list"), "leaf-a"),
            (("get",), "leaf-b"),
            (("delete",), "plain"),
        ]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from(["get", "list", "*", "create"]), min_size=1, max_size=3),
    st.lists(st.sampled_from(["pods", "*", "pods/exec", "*/exec", "secrets"]), min_size=1, max_size=3),
    st.sampled_from(["get", "list", "create"]),
    st.sampled_from(["pods", "secrets"]),
    st.sampled_from(["", "exec"]),
)
def test_the_class_answers_what_its_bindings_answer(verbs, resources, verb, resource, subresource):
    """A PermissionClass is the OR of its bindings, each in its scope: checked on every shape."""
    rule = {"apiGroups": [""], "resources": resources, "verbs": verbs}
    model = rbac.build(
        [
            obj("Role", "r", "shop", rules=[rule]),
            obj("ClusterRole", "c", rules=[rule]),
            binding("RoleBinding", "b", "Role", "r", [{"kind": "User", "name": "u"}], "shop"),
            binding("ClusterRoleBinding", "c", "ClusterRole", "c", [{"kind": "Group", "name": "g"}]),
        ]
    )
    for ns in ("", "shop", "blog"):
        request = Request(verb, ns, "", resource, subresource, "n")
        expected = rbac.PolicyRule.parse(rule).allows(request)
        assert bool(model.allows(Identity("u"), request)) == (expected and ns == "shop")
        assert bool(model.allows(Identity("v", frozenset({"g"})), request)) == expected


def test_identities_belong_to_tenants_or_are_reported_unmapped():
    tenancy = resolve_tenancy(
        [obj("Namespace", "shop"), obj("Namespace", "blog")],
        TenancyConfig(users={"alice": "acme"}, groups={"devs": "acme"}),
    )
    def owners(kind, name, ns=None):
        return rbac.owners(rbac.Subject(kind, name, ns), tenancy)
    assert owners("ServiceAccount", "ci", "shop") == ("shop",)
    assert owners("ServiceAccount", "coredns", "kube-system") == ()
    assert owners("User", "alice") == ("acme",) and owners("Group", "devs") == ("acme",)
    assert owners("User", "bob") == ("unmapped user bob",)
    assert owners("User", "system:kube-scheduler") == ()
    assert owners("Group", "system:serviceaccounts:blog") == ("blog",)
    assert owners("Group", "system:authenticated") == owners("Group", "system:serviceaccounts") == ("*",)
    assert owners("User", "system:serviceaccount:shop:ci") == ("shop",)


def test_config_maps_users_and_groups_to_tenants(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("tenancy:\n  identities:\n    users: {alice: acme}\n    groups: {devs: acme}\n")
    config = load_config(path)
    assert config.tenancy.users == {"alice": "acme"} and config.tenancy.groups == {"devs": "acme"}
    path.write_text("tenancy:\n  identities:\n    users: {alice: 3}\n")
    with pytest.raises(ConfigError, match="c.yaml"):
        load_config(path)
    assert parse_config({}).tenancy.users == {}


def test_api_access_matrix_and_unmapped_users_in_a_scan():
    resources = [
        obj("Namespace", "shop"),
        obj("Namespace", "blog"),
        obj("Role", "r", "shop", rules=[PODS]),
        binding(
            "RoleBinding",
            "b",
            "Role",
            "r",
            [{"kind": "ServiceAccount", "name": "ci", "namespace": "blog"}, {"kind": "User", "name": "bob"}],
            "shop",
        ),
    ]
    report = audit_inventory(Inventory(tuple(resources)), select=["IA601"])
    assert [(r["from"], r["to"], r["bindings"]) for r in report.sections["api_access"]] == [
        ("blog", "shop", ["RoleBinding shop/b"]),
        ("unmapped user bob", "shop", ["RoleBinding shop/b"]),
    ]
    [finding] = report.findings
    assert finding.evidence["chain"] == [{"binding": "RoleBinding shop/b", "role": "Role shop/r", "rule": PODS}]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
FIELDS = st.sampled_from(["rules", "subjects", "roleRef", "aggregationRule"])


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(rbac.RBAC_KINDS), st.sampled_from([None, "shop"]), st.dictionaries(FIELDS, JSON, max_size=4)
        ),
        max_size=6,
    )
)
def test_objects_of_any_shape_never_break_the_evaluator(objects):
    """Whatever a field holds, building and asking answers (a malformed piece grants nothing)."""
    resources = [obj(kind, f"o{i}", ns, **body) for i, (kind, ns, body) in enumerate(objects)]
    model = rbac.build(resources)
    for who in (SA("shop", "o1"), Identity("u", frozenset({"system:authenticated"}))):
        model.allows(who, Request("get", "shop", resource="pods", name="x"))
        model.allows(who, Request("get", path="/healthz"))
