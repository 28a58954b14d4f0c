"""The kinds a scan reads: everything the engine looks at, never Secrets or ConfigMaps."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ApiKind:
    kind: str
    group: str  # "" for the core group
    version: str
    plural: str
    namespaced: bool
    # served only where an add-on installs it (a CRD or an aggregated API): a cluster that
    # does not serve it has none of it, which coverage records as "not installed"
    optional: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def prefix(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    @property
    def list_path(self) -> str:
        """Cluster scope: every namespace for namespaced kinds."""
        return f"{self.prefix}/{self.plural}"

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = f"{self.prefix}/namespaces/{namespace}/{self.plural}" if namespace else self.list_path
        return f"{base}/{name}" if name else base

    @property
    def display(self) -> str:
        return self.plural if not self.group else f"{self.plural}.{self.group}"


# Order is the order of the Inventory (and of a snapshot's items).
SCAN_KINDS: tuple[ApiKind, ...] = (
    ApiKind("Node", "", "v1", "nodes", False),
    ApiKind("Namespace", "", "v1", "namespaces", False),
    ApiKind("RuntimeClass", "node.k8s.io", "v1", "runtimeclasses", False),
    ApiKind("NetworkPolicy", "networking.k8s.io", "v1", "networkpolicies", True),
    ApiKind("LimitRange", "", "v1", "limitranges", True),
    ApiKind("ResourceQuota", "", "v1", "resourcequotas", True),
    ApiKind("Service", "", "v1", "services", True),
    ApiKind("Deployment", "apps", "v1", "deployments", True),
    ApiKind("ReplicaSet", "apps", "v1", "replicasets", True),
    ApiKind("StatefulSet", "apps", "v1", "statefulsets", True),
    ApiKind("DaemonSet", "apps", "v1", "daemonsets", True),
    ApiKind("ReplicationController", "", "v1", "replicationcontrollers", True),
    ApiKind("CronJob", "batch", "v1", "cronjobs", True),
    ApiKind("Job", "batch", "v1", "jobs", True),
    ApiKind("Pod", "", "v1", "pods", True),
    # who may do what through the API (auditor/rbac.py)
    ApiKind("ServiceAccount", "", "v1", "serviceaccounts", True),
    ApiKind("ClusterRole", "rbac.authorization.k8s.io", "v1", "clusterroles", False),
    ApiKind("Role", "rbac.authorization.k8s.io", "v1", "roles", True),
    ApiKind("ClusterRoleBinding", "rbac.authorization.k8s.io", "v1", "clusterrolebindings", False),
    ApiKind("RoleBinding", "rbac.authorization.k8s.io", "v1", "rolebindings", True),
    # a Service's backends when it has no selector (checks/services.py)
    ApiKind("EndpointSlice", "discovery.k8s.io", "v1", "endpointslices", True, optional=True),
    # cluster-wide and plugin-specific network policies (auditor/netpol.py, auditor/cni.py)
    ApiKind("AdminNetworkPolicy", "policy.networking.k8s.io", "v1alpha1", "adminnetworkpolicies", False, True),
    ApiKind("BaselineAdminNetworkPolicy", "policy.networking.k8s.io", "v1alpha1", "baselineadminnetworkpolicies",
            False, True),
    ApiKind("ClusterNetworkPolicy", "policy.networking.k8s.io", "v1alpha2", "clusternetworkpolicies", False, True),
    ApiKind("CiliumNetworkPolicy", "cilium.io", "v2", "ciliumnetworkpolicies", True, True),
    ApiKind("CiliumClusterwideNetworkPolicy", "cilium.io", "v2", "ciliumclusterwidenetworkpolicies", False, True),
    # Calico's API server serves projectcalico.org/v3; without it (or beside it) the same
    # objects are CRDs of crd.projectcalico.org/v1
    *(ApiKind(kind, group, version, plural, namespaced, True)
      for group, version in (("projectcalico.org", "v3"), ("crd.projectcalico.org", "v1"))
      for kind, plural, namespaced in (("NetworkPolicy", "networkpolicies", True),
                                       ("GlobalNetworkPolicy", "globalnetworkpolicies", False),
                                       ("Tier", "tiers", False))),
)

# The kinds every cluster serves, by kind name (optional kinds may repeat a name in another group).
BY_KIND = {k.kind: k for k in SCAN_KINDS if not k.optional}

# Never read, whatever a caller asks for: their values are credentials or may hold them.
NEVER_READ = frozenset({"secrets", "configmaps"})
assert not NEVER_READ & {k.plural for k in SCAN_KINDS}
