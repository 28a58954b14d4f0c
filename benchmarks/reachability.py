"""Intended tenant reachability at fleet scale: time and peak memory of the evaluator alone.

    python benchmarks/reachability.py --pods 150000 --namespaces 10000 --policies 20000
    python benchmarks/reachability.py --admin-policies 2000   # with cluster-wide policies mixed in
    python benchmarks/reachability.py --engine-policies 2000  # with Cilium's and Calico's own policies
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import generate  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=150_000)
    parser.add_argument("--namespaces", type=int, default=10_000)
    parser.add_argument("--policies", type=int, default=20_000)
    parser.add_argument("--nodes", type=int, default=5_000)
    parser.add_argument("--admin-policies", type=int, default=0,
                        help="AdminNetworkPolicies, a ClusterNetworkPolicy and a baseline (see generate.py)")
    parser.add_argument("--engine-policies", type=int, default=0,
                        help="CiliumNetworkPolicies and Calico GlobalNetworkPolicies, half each (see generate.py)")
    args = parser.parse_args()

    from plugin_context import analysis_context, builtin_rules

    from checks.reachability import Reachability

    data = generate(args.pods, args.namespaces, args.policies, args.nodes, seed=7, admin_policies=args.admin_policies,
                    engine_policies=args.engine_policies)
    ctx = analysis_context(data["items"])
    resources = ctx.inventory.resources
    rules = [r for r in builtin_rules("reachability") if r.check == "cross-tenant"]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    result = Reachability().run(ctx, rules)
    elapsed = time.perf_counter() - start
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rows = result.sections["reachability"]["intended"]
    pods = sum(1 for r in resources if r.kind == "Pod")
    policies = sum(1 for r in resources if r.kind == "NetworkPolicy")
    admin = sum(
        1 for r in resources if r.kind in ("AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "ClusterNetworkPolicy")
    )
    engine = sum(1 for r in resources if r.kind in ("CiliumNetworkPolicy", "GlobalNetworkPolicy"))
    print(f"pods={pods} namespaces={args.namespaces} policies={policies} cluster-wide={admin} engine-specific={engine} "
          f"tenants={len(ctx.tenancy.tenants())}")
    print(f"intended matrix: {elapsed:.2f} s, {len(rows)} rows, {len(result.hits)} findings; "
          f"peak RSS {rss_after / 1024:.0f} MiB (before: {rss_before / 1024:.0f} MiB, inputs included)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
