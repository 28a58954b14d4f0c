"""`probe --reach`: the targets file's validation, and how each answer (or silence) is classified.

Only loopback is contacted: listeners are bound to 127.0.0.1 by the test itself.
"""
from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import jsonschema
import pytest

from auditor.cli import main
from auditor.probe import reach
from auditor.probe.reach import MAX_TARGETS, Target, TargetError, classify_errno, load_targets, run_reach

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "auditor" / "schemas" / "probe-report.schema.json").read_text())
LOOPBACK = "127.0.0.1"


def write(tmp_path: Path, document, name: str = "targets.json") -> Path:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def t(**fields) -> dict:
    return {"tenant": "shop", "address": "10.0.3.7", "port": 443, "protocol": "TCP", **fields}


# --- the targets file -------------------------------------------------------------------------------

def test_a_valid_file_loads_with_its_optional_fields(tmp_path):
    path = write(tmp_path, {"targets": [t(namespace="shop", pod="web-0"), t(protocol="UDP", port=53),
                                        t(protocol="ICMP", port=None), {"tenant": "x", "address": "fd00::1",
                                                                        "protocol": "ICMP"}]})
    assert load_targets(str(path)) == [
        Target("shop", "10.0.3.7", 443, "TCP", "shop", "web-0"), Target("shop", "10.0.3.7", 53, "UDP"),
        Target("shop", "10.0.3.7", None, "ICMP"), Target("x", "fd00::1", None, "ICMP")]


@pytest.mark.parametrize("document, field, problem", [
    ("{not json", "(file)", "invalid JSON: line 1"),
    ([], "(top level)", "must be an object"),
    ({}, "targets", "missing"),
    ({"targets": {}}, "targets", "must be a list"),
    ({"targets": [], "extra": 1}, "extra", "unknown field"),
    ({"targets": ["10.0.0.1"]}, "targets[0]", "must be an object"),
    ({"targets": [t(), t(tenant="")]}, "targets[1].tenant", "non-empty string"),
    ({"targets": [{"address": "10.0.0.1", "port": 1, "protocol": "TCP"}]}, "targets[0].tenant", "missing"),
    ({"targets": [t(address="db.shop.svc")]}, "targets[0].address", "not an IP address (names are not resolved)"),
    ({"targets": [t(address="10.0.0.300")]}, "targets[0].address", "not an IP address"),
    ({"targets": [t(address="0.0.0.0")]}, "targets[0].address", "not be a single host"),
    ({"targets": [t(address="224.0.0.1")]}, "targets[0].address", "not be a single host"),
    ({"targets": [t(address="255.255.255.255")]}, "targets[0].address", "not be a single host"),
    ({"targets": [t(protocol="tcp")]}, "targets[0].protocol", "'tcp' is not one of TCP, UDP, ICMP"),
    ({"targets": [t(protocol="SCTP")]}, "targets[0].protocol", "not one of"),
    ({"targets": [t(port=0)]}, "targets[0].port", "integer 1-65535"),
    ({"targets": [t(port=65536)]}, "targets[0].port", "integer 1-65535"),
    ({"targets": [t(port="443")]}, "targets[0].port", "integer 1-65535"),
    ({"targets": [t(port=True)]}, "targets[0].port", "integer 1-65535"),
    ({"targets": [t(port=None)]}, "targets[0].port", "integer 1-65535 for TCP"),
    ({"targets": [{"tenant": "a", "address": "10.0.0.1", "protocol": "UDP"}]}, "targets[0].port", "missing"),
    ({"targets": [t(protocol="ICMP")]}, "targets[0].port", "must be null (or absent) for ICMP"),
    ({"targets": [t(namespace=3)]}, "targets[0].namespace", "non-empty string or null"),
    ({"targets": [t(prot="TCP")]}, "targets[0].prot", "unknown field"),
    ({"targets": [t()] * (MAX_TARGETS + 1)}, "targets", f"at most {MAX_TARGETS} per run"),
])
def test_a_bad_file_is_one_line_naming_the_file_and_the_field(tmp_path, document, field, problem):
    path = write(tmp_path, document)
    with pytest.raises(TargetError) as caught:
        load_targets(str(path))
    message = str(caught.value)
    assert message.startswith(f"{path}: {field}: "), message
    assert problem in message and "\n" not in message


def test_the_cli_exits_2_with_one_line_before_probing_anything(tmp_path, capsys):
    path = write(tmp_path, {"targets": [t(port=70000)]})
    assert main(["probe", "--reach", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"k8s-isolation-audit: error: {path}: targets[0].port: must be an integer " \
                                 f"1-65535 for TCP, not 70000\n"
    assert main(["probe", "--reach", str(tmp_path / "missing.json")]) == 2
    assert "missing.json: cannot read reach targets" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-1", "11", "nan", "soon"])
def test_reach_timeout_is_bounded(value, capsys):
    with pytest.raises(SystemExit) as caught:
        main(["probe", "--reach", "x.json", "--reach-timeout", value])
    assert caught.value.code == 2 and "--reach-timeout" in capsys.readouterr().err


def test_reach_timeout_without_reach_is_a_usage_error(capsys):
    assert main(["probe", "--reach-timeout", "0.5"]) == 2
    assert "needs --reach" in capsys.readouterr().err


# --- classification, against loopback listeners ---------------------------------------------------

@pytest.fixture
def tcp_listener():
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        s.listen(8)
        yield s.getsockname()[1]


@pytest.fixture
def udp_echo():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((LOOPBACK, 0))
    s.settimeout(0.1)
    stop = threading.Event()
    seen: list[bytes] = []

    def serve():
        while not stop.is_set():
            try:
                data, peer = s.recvfrom(512)
            except OSError:
                continue
            seen.append(data)
            s.sendto(data, peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield s.getsockname()[1], seen
    stop.set()
    thread.join(2)
    s.close()


def free_port(kind: int) -> int:
    """A port nothing listens on (bound briefly to find it, then released)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def one(target: Target, timeout: float = 1.0) -> dict:
    [entry] = run_reach([target], timeout=timeout)
    return entry


def test_tcp_listener_is_reachable_and_gets_no_data(tcp_listener):
    entry = one(Target("self", LOOPBACK, tcp_listener, "TCP", "ns", "pod"))
    assert entry["result"] == "reachable" and entry["rtt_ms"] >= 0
    assert (entry["namespace"], entry["pod"]) == ("ns", "pod")
    assert "without sending data" in entry["detail"]


def test_tcp_closed_port_is_refused():
    entry = one(Target("self", LOOPBACK, free_port(socket.SOCK_STREAM), "TCP"))
    assert entry["result"] == "refused" and "rtt_ms" in entry


def test_tcp_silence_is_filtered():
    # A listener whose accept queue is full: Linux drops further SYNs (no RST), as a firewall would.
    with socket.socket() as server:
        server.bind((LOOPBACK, 0))
        server.listen(0)
        port = server.getsockname()[1]
        fillers = []
        try:
            for _ in range(4):  # backlog 0 admits one; the rest wait in SYN retransmission
                c = socket.socket()
                c.setblocking(False)
                c.connect_ex((LOOPBACK, port))
                fillers.append(c)
            time.sleep(0.1)
            started = time.monotonic()
            entry = one(Target("self", LOOPBACK, port, "TCP"), timeout=0.3)
            elapsed = time.monotonic() - started
        finally:
            for c in fillers:
                c.close()
    assert entry["result"] == "filtered", entry
    assert "no answer to the TCP SYN within 0.3 s" in entry["detail"] and "rtt_ms" not in entry
    assert elapsed < 2


def test_udp_reply_is_reachable_and_only_the_probe_datagram_was_sent(udp_echo):
    port, seen = udp_echo
    entry = one(Target("self", LOOPBACK, port, "UDP"))
    assert entry["result"] == "reachable", entry
    assert seen == [reach.PAYLOAD]


def test_udp_port_unreachable_is_refused():
    entry = one(Target("self", LOOPBACK, free_port(socket.SOCK_DGRAM), "UDP"))
    assert entry["result"] == "refused" and "port unreachable" in entry["detail"]


def test_udp_silence_is_filtered_and_called_ambiguous():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # bound, never answers
        silent.bind((LOOPBACK, 0))
        entry = one(Target("self", LOOPBACK, silent.getsockname()[1], "UDP"), timeout=0.2)
    assert entry["result"] == "filtered" and "ambiguous" in entry["detail"]


def test_icmp_echo_to_loopback():
    entry = one(Target("self", LOOPBACK, None, "ICMP"))
    if os.geteuid() == 0:
        assert entry["result"] == "reachable" and "raw ICMP socket" in entry["detail"]
    else:  # without NET_RAW: the ping socket if ping_group_range allows this group, else an error
        assert entry["result"] in ("reachable", "error"), entry


def test_icmp_falls_back_to_the_datagram_socket_then_to_an_error(monkeypatch):
    made: list[int] = []
    real = socket.socket

    def no_raw(family=-1, kind=-1, proto=-1, *rest):
        made.append(kind)
        if kind == socket.SOCK_RAW:
            raise PermissionError(errno.EPERM, "Operation not permitted")
        if kind == socket.SOCK_DGRAM and proto == socket.IPPROTO_ICMP:
            raise PermissionError(errno.EACCES, "Permission denied")
        return real(family, kind, proto, *rest)

    monkeypatch.setattr(reach.socket, "socket", no_raw)
    entry = one(Target("self", LOOPBACK, None, "ICMP"))
    assert made == [socket.SOCK_RAW, socket.SOCK_DGRAM]
    assert entry["result"] == "error"
    assert entry["detail"] == ("no ICMP socket available (raw ICMP socket, NET_RAW: EPERM; unprivileged ICMP "
                               "datagram socket: EACCES): needs NET_RAW or the group in net.ipv4.ping_group_range")


@pytest.mark.parametrize("code, protocol, result", [
    (errno.ECONNREFUSED, "TCP", "refused"), (errno.ECONNREFUSED, "UDP", "refused"),
    (errno.EHOSTUNREACH, "TCP", "filtered"), (errno.ENETUNREACH, "UDP", "filtered"),
    (errno.ETIMEDOUT, "TCP", "filtered"), (errno.EPERM, "TCP", "filtered"),
    (errno.EACCES, "UDP", "error"), (errno.EADDRNOTAVAIL, "TCP", "error"), (errno.EMFILE, "TCP", "error"),
])
def test_errno_classification(code, protocol, result):
    assert classify_errno(code, protocol)[0] == result


def test_results_keep_file_order_and_validate_against_the_schema(tcp_listener, udp_echo):
    closed = free_port(socket.SOCK_STREAM)
    targets = [Target("a", LOOPBACK, tcp_listener, "TCP"), Target("b", LOOPBACK, closed, "TCP"),
               Target("c", LOOPBACK, udp_echo[0], "UDP"), Target("d", LOOPBACK, None, "ICMP")]
    entries = run_reach(targets)
    assert [e["tenant"] for e in entries] == ["a", "b", "c", "d"]
    assert [e["result"] for e in entries[:3]] == ["reachable", "refused", "reachable"]
    for e in entries:
        jsonschema.validate(e, SCHEMA["properties"]["reach"]["items"])


def test_in_flight_tests_are_bounded(monkeypatch):
    active, peak, lock = 0, 0, threading.Lock()

    def slow(target, timeout):
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.01)
        with lock:
            active -= 1
        return reach.Outcome("filtered", "stub")

    monkeypatch.setitem(reach._TESTS, "TCP", slow)
    entries = run_reach([Target("x", LOOPBACK, 1, "TCP")] * 500, workers=1000)
    assert len(entries) == 500 and peak <= reach.MAX_IN_FLIGHT


def test_the_run_deadline_stops_starting_new_tests(monkeypatch):
    monkeypatch.setitem(
        reach._TESTS, "TCP", lambda target, timeout: (time.sleep(0.2), reach.Outcome("filtered", "x"))[1]
    )
    started = time.monotonic()
    entries = run_reach([Target("x", LOOPBACK, 1, "TCP")] * 20, timeout=0.2, workers=2, deadline_seconds=0.3)
    assert time.monotonic() - started < 1.5
    results = [e["result"] for e in entries]
    assert results.count("filtered") in range(2, 7) and results.count("error") == 20 - results.count("filtered")
    assert "time bound of 0.3 s" in entries[-1]["detail"]


def test_a_crash_in_one_test_is_that_targets_error(monkeypatch):
    def boom(target, timeout):
        raise RuntimeError("surprise")

    monkeypatch.setitem(reach._TESTS, "UDP", boom)
    entries = run_reach([Target("x", LOOPBACK, 1, "UDP"), Target("y", LOOPBACK, free_port(socket.SOCK_STREAM), "TCP")])
    assert [e["result"] for e in entries] == ["error", "refused"]
    assert entries[0]["detail"] == "RuntimeError: surprise"


# --- end to end through the CLI --------------------------------------------------------------------

def test_probe_reach_report_has_reach_and_network_and_validates(tmp_path, tcp_listener, capsys):
    path = write(tmp_path, {"targets": [{"tenant": "self", "address": LOOPBACK, "port": tcp_listener,
                                         "protocol": "TCP", "namespace": "ns", "pod": "p"}]})
    assert main(["probe", "--reach", str(path), "--reach-timeout", "0.5"]) == 0
    report = json.loads(capsys.readouterr().out)
    jsonschema.validate(report, SCHEMA)
    assert report["probe"]["errors"] == []
    assert report["reach"] == [{"tenant": "self", "address": LOOPBACK, "port": tcp_listener, "protocol": "TCP",
                                "result": "reachable", "namespace": "ns", "pod": "p",
                                "rtt_ms": report["reach"][0]["rtt_ms"],
                                "detail": "TCP handshake completed; closed without sending data"}]
    lo = next(i for i in report["network"]["interfaces"] if i["name"] == "lo")
    assert "127.0.0.1/8" in lo["addresses"]


def test_without_reach_there_is_no_reach_or_network_section_and_no_pyroute2_or_scapy():
    code = ("import json, sys, io\nfrom contextlib import redirect_stdout\nfrom auditor.cli import main\n"
            "out = io.StringIO()\nwith redirect_stdout(out):\n    assert main(['probe']) == 0\n"
            "report = json.loads(out.getvalue())\n"
            "print(sorted({'reach', 'network'} & set(report)),"
            " sorted({m.split('.')[0] for m in sys.modules} & {'pyroute2', 'scapy'}))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[] []"


def test_reach_never_imports_scapy(tmp_path):
    path = write(tmp_path, {"targets": [{"tenant": "self", "address": LOOPBACK, "protocol": "ICMP"}]})
    code = ("import sys\nfrom auditor.cli import main\n"
            f"assert main(['probe', '--reach', {str(path)!r}, '-o', '/dev/null']) == 0\n"
            "print('scapy' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
