"""Analysis plugins, registered through the `k8s_isolation_audit.checks` entry points."""
