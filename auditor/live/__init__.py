"""The live-cluster source: read a cluster through its API into an Inventory, snapshot it,
and orchestrate in-cluster probes.

Importing this package (or `errors`, `retry`, `kinds`) never imports the `kubernetes`
client; only connecting to a cluster does, so `scan PATH` never pays for it.

API for the CLI:
- `cluster.load_cluster(kubeconfig, contexts, all_contexts, page_size, timeout) -> Inventory`
- `snapshot.write_snapshot(inventory, path) -> int` and `snapshot.snapshot(...)`
- `probes.run.run_probes(...) -> probes.results.ProbeRun`
- `errors.ClusterError`: one-line reason, exit 2
"""
