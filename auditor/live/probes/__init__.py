"""`scan --probe`: run the probe inside the cluster as Jobs, collect the reports, clean up.

One module per job, in the order a run uses them:

- `options`: what the caller may set (`ProbeOptions`);
- `plan`: which probes run and what each reach probe targets (pure);
- `manifests`: the objects a run creates, their labels and API paths (pure);
- `run`: `run_probes`, which creates the objects, waits for the Jobs and reports progress;
- `logs`: reading a finished probe's pod and its log into a `ProbeReport` (`parse_report`);
- `cleanup`: removing what this run, or an interrupted earlier one, created;
- `results`: what a run returns (`ProbeRun`) and how it joins an Inventory;
- `progress`, `signals`: progress callbacks, and SIGTERM/Ctrl-C handling around clean-up.

What a run creates, every object labelled `app.kubernetes.io/managed-by: k8s-isolation-audit`
and `isolation-audit.io/run-id: <run id>`:

- the tool's namespace `isolation-audit` (pod-security enforce=privileged), unless it already
  exists without our label (then it is used, and left in place);
- a ServiceAccount there (no API token is mounted: the probe needs no Kubernetes access);
- one Job per node, pinned with `nodeName` and tolerating every taint: `probe --active`;
- one Job per tenant namespace, *in that namespace* (a NetworkPolicy decides by the source
  pod's namespace, so only a pod there sees what that tenant can reach): `probe --reach`
  against other tenants' pods, the targets in a ConfigMap owned by the Job.

Every container is non-root, drops all capabilities, has a read-only root filesystem and
bounded resources; every Job has backoffLimit 0, activeDeadlineSeconds and
ttlSecondsAfterFinished. Reports are read from pod logs as each Job finishes.

Clean-up always runs (try/finally, on errors, KeyboardInterrupt and SIGTERM): Jobs are deleted
with background propagation, then their pods and ConfigMaps, the ServiceAccount, and the
namespace if the run created it. It stops at `ProbeOptions.cleanup_timeout` and names what it
did not delete. A run first removes what an interrupted earlier run left (found by the
managed-by label), so nothing accumulates.
"""
