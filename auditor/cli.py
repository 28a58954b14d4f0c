"""Command line: argument parsing and exit codes only; the work happens elsewhere.

Exit codes: 0 nothing at or above --fail-on; 1 findings at or above it; 2 usage, input or
connection error (with a one-line reason on stderr).
"""
from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path

from . import __version__
from .reports import FORMATS, POLICYREPORT_APIS
from .terminal import escape, escape_lines

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class UsageError(Exception):
    """A one-line reason for exit code 2."""


def _say(message: str) -> None:
    """One line on stderr. Everything the tool writes there goes through here: the message
    quotes inputs (file names, names, reasons), and no input may start a line or drive the terminal."""
    print(f"k8s-isolation-audit: {escape(message)}", file=sys.stderr)


def _out(text: str) -> None:
    """Text the tool laid out in lines, on stdout, each line escaped."""
    sys.stdout.write(escape_lines(text))


class _Parser(argparse.ArgumentParser):
    """argparse quotes arguments in its errors ("unrecognized arguments: ..."): escaped too."""

    def _print_message(self, message: str, file=None) -> None:
        super()._print_message(escape_lines(message), file)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="k8s-isolation-audit",
        description="Audit how isolated the tenants of a Kubernetes fleet really are.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    scan = sub.add_parser("scan", help="audit manifests, kubectl output or snapshots; with no PATH, the live cluster")
    scan.add_argument("paths", nargs="*", metavar="PATH", help="files, directories, or '-' for stdin")
    _scan_options(scan)
    _cluster_options(scan)
    scan.add_argument("--all-contexts", action="store_true", help="audit every context of the kubeconfig")
    scan.add_argument(
        "--probe",
        action="store_true",
        help="run probe Jobs on every node and in every tenant namespace (creates resources; see SECURITY.md)",
    )
    scan.add_argument("--probe-image", default=None, metavar="IMAGE", help="probe image (build it from the Dockerfile)")
    scan.add_argument(
        "--probe-timeout", type=float, default=300.0, metavar="SECONDS", help="wait for probe Jobs (default 300)"
    )
    scan.add_argument("--probe-namespace", default="isolation-audit", metavar="NS",
                      help="the tool's own namespace for node probes (default isolation-audit)")
    scan.add_argument("--publish", action="store_true",
                      help="after a live scan, apply policy reports and keep state and metrics in a ConfigMap "
                           "for drift between runs (writes to the cluster; see SECURITY.md)")
    scan.add_argument("--publish-owner", metavar="CLUSTERROLE",
                      help="with --publish: every object written is owned by this ClusterRole, so deleting it "
                           "(helm uninstall) garbage-collects them")
    _state_options(scan)

    serve = sub.add_parser("serve-metrics", help="serve the last published run's metrics over HTTP (read-only)")
    _state_options(serve)
    serve.add_argument("--address", default="0.0.0.0", help="listen address (default 0.0.0.0)")
    serve.add_argument("--port", type=int, default=9090, help="listen port (default 9090)")
    serve.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig (default: in-cluster credentials)")
    serve.add_argument("--context", metavar="NAME", help="kubeconfig context")

    snapshot = sub.add_parser("snapshot", help="write everything a scan reads (no Secrets) to a file for offline scans")
    _cluster_options(snapshot)
    snapshot.add_argument("--output", "-o", required=True, metavar="FILE")

    demo = sub.add_parser("demo", help="audit the bundled demo cluster end to end")
    _scan_options(demo)

    probe = sub.add_parser("probe", help="report what the kernel shows about this pod's or node's isolation (JSON)")
    probe.add_argument("--active", action="store_true",
                       help="also run bounded tests of memory, pids and CPU limit enforcement")
    probe.add_argument("--output", "-o", metavar="FILE", help="write the ProbeReport here instead of stdout")
    probe.add_argument("--node", metavar="N", help="node name (default: $NODE_NAME)")
    probe.add_argument("--namespace", metavar="NS", help="pod namespace (default: $POD_NAMESPACE)")
    probe.add_argument("--pod", metavar="P", help="pod name (default: $POD_NAME)")
    probe.add_argument("--container", metavar="C", help="container name")
    probe.add_argument("--reach", metavar="TARGETS.json",
                       help="test reachability of these targets (TCP connect, one UDP datagram, one ICMP echo; "
                            "bounded) and report the probe's network view")
    probe.add_argument("--reach-timeout", type=_reach_timeout, default=None, metavar="SECONDS",
                       help="per-target timeout for --reach (default 1.0, at most 10)")
    probe.add_argument("--latency", action="store_true",
                       help="also run bounded latency micro-benchmarks (timer jitter, syscall, clock read, steal; "
                            "at most ~6 s)")
    probe.add_argument("--peer", type=_peer, default=None, metavar="ADDRESS:PORT",
                       help="with --latency: UDP round trips to this echo server ([IPv6]:PORT for IPv6)")

    report = sub.add_parser("report", help="combine JSON reports")
    report_sub = report.add_subparsers(dest="report_command", metavar="ACTION", required=True)
    merge = report_sub.add_parser("merge", help="one report over many clusters from their JSON reports")
    merge.add_argument("files", nargs="+", metavar="REPORT.json")
    merge.add_argument("--format", choices=("json", "html", "markdown"), default="json", help="default: json")
    merge.add_argument("--output", "-o", metavar="FILE", help="write the merged report here instead of stdout")

    evidence = sub.add_parser("evidence", help="check an evidence bundle")
    evidence_sub = evidence.add_subparsers(dest="evidence_command", metavar="ACTION", required=True)
    verify = evidence_sub.add_parser("verify", help="detect changed, added or removed files and bad signatures")
    verify.add_argument("directory", metavar="DIR")
    verify.add_argument("--public-key", metavar="KEY", help="Ed25519 public key the manifest must be signed with")

    rules = sub.add_parser("rules", help="list, explain or validate rules")
    rules_sub = rules.add_subparsers(dest="rules_command", metavar="ACTION", required=True)
    listing = rules_sub.add_parser("list", help="every rule with its severity and controls")
    listing.add_argument("--rules", action="append", default=[], metavar="PATH", help="extra rule pack")
    explain = rules_sub.add_parser("explain", help="the docs of one rule")
    explain.add_argument("rule", metavar="ID", help="rule id (IA101) or name (host-pid)")
    explain.add_argument("--rules", action="append", default=[], metavar="PATH", help="extra rule pack")
    validate = rules_sub.add_parser("validate", help="check rule pack files against the pack schema")
    validate.add_argument("files", nargs="+", metavar="FILE")
    return parser


def _scan_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=FORMATS, default="table", help="report format (default: table)")
    p.add_argument("--policyreport-api", choices=POLICYREPORT_APIS, default=POLICYREPORT_APIS[0],
                   help=f"API of --format policyreport objects (default {POLICYREPORT_APIS[0]})")
    p.add_argument("--output", "-o", metavar="FILE", help="write the report here instead of stdout")
    p.add_argument(
        "--fail-on",
        choices=("critical", "high", "medium", "low", "info", "none"),
        help="exit 1 when a finding is at or above this severity (default: high, or the config's fail_on)",
    )
    p.add_argument("--config", metavar="FILE", help="tenancy, rule selection, severity overrides, waivers")
    p.add_argument("--overheads", metavar="FILE",
                   help="your own virtualization overhead figures (YAML or JSON, with citations) for placement "
                        "verdicts, replacing the built-in defaults they give")
    p.add_argument("--rules", action="append", default=[], metavar="PATH", help="extra rule pack file or directory")
    p.add_argument(
        "--max-file-size", type=_size, default=None, metavar="BYTES", help="skip larger inputs (default 2GiB)"
    )
    p.add_argument("--probe-results", action="append", default=[], metavar="DIR",
                   help="directory of ProbeReports (`probe` output) to join as observed facts")
    p.add_argument("--baseline", metavar="REPORT.json",
                   help="report only findings not in this earlier JSON report (gate on what is new)")
    p.add_argument("--evidence-dir", metavar="DIR", help="write a compliance evidence bundle into DIR (new or empty)")
    p.add_argument(
        "--sign-key", metavar="KEY", help="Ed25519 private key (PEM or OpenSSH) to sign the evidence manifest"
    )


def _state_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state-namespace", metavar="NS",
                   help="namespace of the state ConfigMap (default: the pod's namespace, else isolation-audit)")
    p.add_argument("--state-name", default="k8s-isolation-audit-state", metavar="NAME",
                   help="name of the state ConfigMap (default k8s-isolation-audit-state)")


def _cluster_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig (default: $KUBECONFIG, then ~/.kube/config)")
    p.add_argument("--context", action="append", default=[], metavar="NAME", help="kubeconfig context (repeatable)")
    p.add_argument("--page-size", type=int, default=500, metavar="N", help="objects per list request (default 500)")
    p.add_argument("--request-timeout", type=float, default=30.0, metavar="SECONDS", help="per request (default 30)")


def _size(text: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    try:
        size = int(float(t[:-1]) * units[t[-1]]) if t and t[-1] in units else int(t)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"not a size: {text!r}") from None
    if size <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive: {text!r}")
    return size


def _reach_timeout(text: str) -> float:
    from .probe.reach import MAX_TIMEOUT

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= MAX_TIMEOUT:  # also rejects nan
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most {MAX_TIMEOUT:g} seconds: {text!r}")
    return value


def _peer(text: str) -> tuple[str, int]:
    from .probe.latency import PeerError, parse_peer
    from .probe.reach import single_host

    try:
        host, port = parse_peer(text)
        return single_host(host), port
    except (PeerError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = ["scan", *argv]  # no command means scan
    args = _parser().parse_args(argv)
    try:
        if args.command in ("scan", "demo"):
            return _without_collection(_scan, args)
        if args.command == "probe":
            return _probe(args)
        if args.command == "evidence":
            return _verify_evidence(args)
        if args.command == "snapshot":
            return _snapshot(args)
        if args.command == "report":
            return _merge(args)
        if args.command == "serve-metrics":
            return _serve_metrics(args)
        return _rules(args)
    except UsageError as exc:
        _say(f"error: {exc}")
        return EXIT_ERROR
    except BrokenPipeError:
        return EXIT_ERROR
    except Exception as exc:  # the contract is one line and exit 2, never a traceback and 1
        _say(f"internal error: {type(exc).__name__}: {exc}")
        return EXIT_ERROR


# Set by `run`: the process ends right after `main`, so a scan's objects need not be freed.
_retained: list[object] | None = None


def run() -> None:
    """The console entry point: `main`, then leave without tearing the heap down.

    A scan's inventory and findings are millions of objects; freeing them one by one (when
    `_scan` returns, and again at interpreter exit) took longer than reading them. So they
    stay referenced until `os._exit`. Output is flushed first, and every file the tool
    writes is closed before `main` returns.
    """
    global _retained
    _retained = []
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:  # a closed pipe: what could be written was
            code = code or EXIT_ERROR
    os._exit(code)


def _keep_until_exit(*objects: object) -> None:
    if _retained is not None:
        _retained.extend(objects)


def _without_collection(command, args: argparse.Namespace) -> int:
    """A scan makes millions of acyclic dicts and lists (the input, the findings, their
    report form) and then ends; collection passes would walk them again and again, which
    quadruples orjson's time on a 150,000-pod snapshot. The few cycles wait until the end."""
    gc.disable()
    try:
        return command(args)
    finally:
        if _retained is None:  # in-process callers get their collector back; `run` exits
            gc.enable()


def demo_dir() -> Path:
    packaged = Path(__file__).parent / "_demo"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "fixtures" / "demo"


def _scan(args: argparse.Namespace) -> int:
    from .config import Config, ConfigError, check_rule_references, load_config
    from .model import Severity
    from .rules import RulePackError
    from .sources.manifests import Limits, load
    from .sources.probe_reports import with_reports

    started = time.time()
    config_path = args.config
    if args.command == "demo":
        root = demo_dir()
        relative = os.path.relpath(root)  # short paths in the report when run from the repo
        base = str(root) if relative.startswith("..") else relative
        args.paths = [os.path.join(base, "cluster")]
        args.probe_results = [os.path.join(base, "probe-results"), *args.probe_results]
        config_path = config_path or str(root / "config.yaml")
    live = not args.paths
    publish = getattr(args, "publish", False)  # `demo` has no --publish
    if publish and (not live or args.all_contexts or len(args.context) > 1):
        raise UsageError("--publish needs a live scan of one cluster: give no PATH and at most one --context")
    if publish and args.baseline:
        raise UsageError("--publish compares with the previous published run: it does not take --baseline")
    if getattr(args, "publish_owner", None) and not publish:
        raise UsageError("--publish-owner needs --publish")
    try:
        config = load_config(config_path) if config_path else Config()
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if args.fail_on is not None:
        config = replace(config, fail_on=None if args.fail_on == "none" else Severity.parse(args.fail_on))
    if args.overheads:
        from .citation import DataFileError
        from .overhead import load_overheads

        try:
            config = replace(config, overheads=load_overheads(args.overheads))
        except DataFileError as exc:
            raise UsageError(str(exc)) from None
    try:
        ruleset, analyses = _load_rules(args.rules)
        check_rule_references(config, ruleset.rules)
    except (RulePackError, ConfigError) as exc:
        raise UsageError(str(exc)) from None

    limits = Limits() if args.max_file_size is None else Limits(max_file_bytes=args.max_file_size)
    publisher = _cycle(args) if publish else None
    if live:
        inventory = _live_inventory(args, config)
    else:
        if getattr(args, "probe", False):
            raise UsageError("--probe needs a live cluster: give no PATH")
        inventory = load(args.paths, stdin=sys.stdin.buffer if "-" in args.paths else None, limits=limits)
    if args.probe_results:
        inventory = with_reports(inventory, args.probe_results, limits)
    from .engine import audit

    report = audit(inventory, ruleset, analyses, config, date.today(), __version__)
    _keep_until_exit(inventory, report)
    if args.baseline:
        from .baseline import BaselineError, load_baseline, new_findings

        try:
            report = new_findings(report, load_baseline(args.baseline))
        except BaselineError as exc:
            raise UsageError(str(exc)) from None
    active = [r for r in ruleset.rules if config.active(r)]
    if publisher:
        report = publisher.with_drift(report)
    _emit(report, args, active, started)
    # what was not audited: unreadable inputs, and targets a rule could not be evaluated on
    for skipped in report.coverage.skipped:  # before publishing and the evidence bundle, whose failures end the scan
        _say(f"skipped {skipped.one_line()}")
    if publisher:
        from .incluster.cycle import CycleError

        try:
            _say(publisher.publish(report, active, started))
        except CycleError as exc:
            raise UsageError(str(exc)) from None
    if args.evidence_dir:
        _write_evidence(args, report, inventory, ruleset, config, active)
    if report.coverage.skipped:
        return EXIT_ERROR
    # a published run delivered its findings as reports: failing the Job too would only page twice
    return EXIT_FINDINGS if report.failing() and not publisher else EXIT_OK


def _cycle(args: argparse.Namespace):
    from .incluster.cycle import Cycle, CycleError, default_namespace
    from .incluster.state import Location

    where = Location(args.state_namespace or default_namespace(), args.state_name)
    try:
        return Cycle(args.kubeconfig, args.context[0] if args.context else None, args.request_timeout, where,
                     args.publish_owner, args.policyreport_api)
    except CycleError as exc:
        raise UsageError(str(exc)) from None


def _serve_metrics(args: argparse.Namespace) -> int:
    from .incluster.cycle import default_namespace
    from .incluster.metrics_server import CachedMetrics, configmap_source, make_server
    from .incluster.state import Location
    from .live.errors import ClusterError
    from .live.transport import connect_one

    where = Location(args.state_namespace or default_namespace(), args.state_name)
    try:
        api = connect_one(args.kubeconfig, args.context, 10.0)
    except ClusterError as exc:
        raise UsageError(str(exc)) from None
    try:
        server = make_server(args.address, args.port, CachedMetrics(configmap_source(api, where)))
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.address}:{args.port}: {exc.strerror or exc}") from None
    _say(f"serving /metrics from {where} on {args.address}:{server.server_address[1]}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        api.close()
    return EXIT_OK


def _load_rules(extra: Sequence[str]):
    from .registry import PluginError, Plugins
    from .rules import RulePackError, load_rules

    try:
        plugins = Plugins()
        ruleset = load_rules(extra, plugins)
    except PluginError as exc:
        raise RulePackError(str(exc)) from None
    return ruleset, plugins.loaded


def _emit(report, args: argparse.Namespace, rules, started: float) -> None:
    from .reports import renderer

    render = renderer(args.format)
    text: str | Iterable[str]
    if args.format == "policyreport":
        text = render(report, rules=rules, api=args.policyreport_api, now=time.time())
    elif args.format == "prometheus":
        text = render(report, started=started, finished=time.time())
    elif args.format == "table":
        tty = args.output is None and sys.stdout.isatty()
        width = shutil.get_terminal_size((80, 24)).columns if tty else 80
        text = render(report, width=width, color=tty and "NO_COLOR" not in os.environ)
    elif args.format in ("sarif", "junit"):
        text = render(report, rules=rules)  # rule metadata, and the rules that passed
    elif args.format == "json":
        from .reports.json_report import pieces

        text = pieces(report)  # a fleet's report is written as it is made, never whole
    else:
        text = render(report)
    _write(text, args.output, "report")


def _live_inventory(args: argparse.Namespace, config):
    """Read the cluster (and, with --probe, run the probes); a connection problem is exit 2."""
    from .live.cluster import load_cluster
    from .live.errors import ClusterError

    try:
        inventory = load_cluster(args.kubeconfig, args.context, args.all_contexts, args.page_size, args.request_timeout)
        if args.probe:
            inventory = _run_probes(args, config, inventory)
    except ClusterError as exc:
        raise UsageError(str(exc)) from None
    return inventory


def _run_probes(args: argparse.Namespace, config, inventory):
    from rich.markup import escape as markup_escape
    from rich.progress import Progress

    from .live.probes.options import ProbeOptions
    from .live.probes.run import run_probes

    options = ProbeOptions(timeout=args.probe_timeout, namespace=args.probe_namespace,
                           **({"image": args.probe_image} if args.probe_image else {}))
    with Progress(transient=True, disable=not sys.stderr.isatty(), console=None) as bar:
        task = bar.add_task("probes", total=None)

        def progress(update) -> None:
            # The bar reads its description as rich markup: a pod named '[/]' must not end the run.
            description = markup_escape(escape(f"{update.phase}: {update.message}")[:60])
            bar.update(task, total=update.total or None, completed=update.done, description=description)

        run = run_probes(args.kubeconfig, args.context[0] if args.context else None, options,
                         inventory=inventory, tenancy=config.tenancy, progress=progress)
    return run.join(inventory)


def _snapshot(args: argparse.Namespace) -> int:
    from .live.errors import ClusterError
    from .live.snapshot import snapshot

    try:
        inventory = snapshot(args.output, args.kubeconfig, None, args.page_size, args.request_timeout,
                             contexts=args.context or None)
    except (ClusterError, OSError) as exc:
        raise UsageError(str(exc)) from None
    _say(f"{len(inventory.resources)} objects from {inventory.cluster} written to {args.output}")
    for skipped in inventory.skipped:
        _say(f"skipped {skipped.one_line()}")
    return EXIT_ERROR if inventory.skipped else EXIT_OK


def _write_evidence(args, report, inventory, ruleset, config, rules) -> None:
    from .evidence import EvidenceError, write_bundle

    snapshot = {"apiVersion": "v1", "kind": "List", "items": [r.obj for r in inventory.resources]}
    try:
        manifest = write_bundle(
            args.evidence_dir, report, snapshot=snapshot, rule_packs=ruleset.packs, config_path=config.path,
            overheads_path=args.overheads,
            probe_reports=args.probe_results, cluster=inventory.cluster,
            sign_key=Path(args.sign_key) if args.sign_key else None, rules=rules, probes_ran=bool(inventory.facts),
        )
    except (EvidenceError, OSError) as exc:
        raise UsageError(f"evidence: {exc}") from None
    _say(f"evidence bundle written to {args.evidence_dir} ({len(manifest.get('files', []))} files)")


def _verify_evidence(args: argparse.Namespace) -> int:
    from .evidence import verify_bundle

    problems = verify_bundle(args.directory, Path(args.public_key) if args.public_key else None)
    for problem in problems:
        _say(f"{args.directory}: {problem}")
    if not problems:
        _out(f"{escape(args.directory)}: ok\n")
    return EXIT_ERROR if problems else EXIT_OK


def _write(text: str | Iterable[str], output: str | None, what: str) -> None:
    """`text`, or the pieces of one, written a slice at a time: a fleet's report encoded whole
    would be held twice."""
    if output:
        try:
            with open(output, "w", encoding="utf-8") as out:
                _write_slices([text] if isinstance(text, str) else text, out)
        except OSError as exc:
            raise UsageError(f"{output}: cannot write {what}: {exc.strerror or exc}") from None
    else:
        _write_slices([text] if isinstance(text, str) else text, sys.stdout)
        sys.stdout.flush()


def _write_slices(pieces: Iterable[str], out) -> None:
    for piece in pieces:
        for start in range(0, len(piece), 1 << 20):
            out.write(piece[start : start + (1 << 20)])


def _merge(args: argparse.Namespace) -> int:
    from .fleet import merge, render

    fleet = merge(args.files)
    for problem in fleet.one_lines():
        _say(f"not merged: {problem}")
    _write(render(fleet, args.format), args.output, "merged report")
    if fleet.partial:
        return EXIT_ERROR
    return EXIT_FINDINGS if fleet.failing else EXIT_OK


def _probe(args: argparse.Namespace) -> int:
    import json

    from .probe import run_probe

    targets = None
    if args.reach is not None:
        from .probe.reach import TargetError, load_targets

        try:
            targets = load_targets(args.reach)
        except TargetError as exc:
            raise UsageError(str(exc)) from None
    elif args.reach_timeout is not None:
        raise UsageError("--reach-timeout needs --reach TARGETS.json")
    if args.peer is not None:
        if not args.latency:
            raise UsageError("--peer needs --latency")
        from .probe.latency import PeerError, resolve_peer

        try:
            resolve_peer(*args.peer)
        except PeerError as exc:
            raise UsageError(f"--peer: {exc}") from None
    report = run_probe(active=args.active, node=args.node, namespace=args.namespace, pod=args.pod,
                       container=args.container, reach=targets, reach_timeout=args.reach_timeout,
                       latency=args.latency, peer=args.peer)
    _write(json.dumps(report, indent=2) + "\n", args.output, "probe report")
    return EXIT_OK


def _rules(args: argparse.Namespace) -> int:
    from .rules import RulePackError, load_pack

    if args.rules_command == "validate":
        status = EXIT_OK
        for file in args.files:
            try:
                # the same checks as `scan --rules`: schema, plugins, ids unique with the built-ins
                _load_rules([file])
                _out(f"{escape(file)}: ok ({len(load_pack(Path(file)))} rules)\n")
            except RulePackError as exc:
                _say(f"error: {exc}")
                status = EXIT_ERROR
        return status
    try:
        ruleset, _ = _load_rules(args.rules)
    except RulePackError as exc:
        raise UsageError(str(exc)) from None
    from .reports.rule_docs import explain, listing

    if args.rules_command == "list":
        _out(listing(ruleset.rules))
        return EXIT_OK
    rule = next((r for r in ruleset.rules if args.rule in (r.id, r.name)), None)
    if rule is None:
        raise UsageError(f"no rule {args.rule!r} (see 'k8s-isolation-audit rules list')")
    _out(explain(rule))
    return EXIT_OK
