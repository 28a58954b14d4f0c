"""A real kube-apiserver + etcd on 127.0.0.1 for tests (see /work/shared/reference/test-apiserver.md).

Binaries come from tests/apiserver/build.sh (cached per go.sum). Users are client
certificates signed by a CA made here; authorization is real RBAC.
"""
from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness.managed import Managed
from harness.run_id import RUN_ID

WRAPPER_DIR = Path(__file__).resolve().parents[1] / "apiserver"
BUILD_SCRIPT = WRAPPER_DIR / "build.sh"
HOST = "127.0.0.1"
SERVICE_RANGE = "10.0.0.0/24"  # --service-cluster-ip-range
# The `kubernetes` Service's ClusterIP, the range's first address: in-cluster clients dial it.
KUBERNETES_SERVICE_IP = str(next(ipaddress.ip_network(SERVICE_RANGE).hosts()))
# The names an in-cluster client may dial the API by, for the serving cert.
KUBERNETES_SERVICE_NAMES = ("kubernetes", "kubernetes.default", "kubernetes.default.svc",
                            "kubernetes.default.svc.cluster.local")
WORKDIR_PREFIX = f"k8s-audit-apiserver-{RUN_ID}-"  # the leftover check looks for this run's


class BuildError(RuntimeError):
    """The binaries could not be built (a prerequisite problem, not a test failure)."""


class ApiServerError(RuntimeError):
    """etcd or kube-apiserver did not come up."""


def k8s_version() -> str:
    """The kubernetes release the wrapper module pins, e.g. 'v1.35.4'."""
    match = re.search(r"^\s*k8s\.io/kubernetes (v\S+)", (WRAPPER_DIR / "go.mod").read_text(), re.M)
    if not match:
        raise BuildError(f"no k8s.io/kubernetes requirement in {WRAPPER_DIR / 'go.mod'}")
    return match.group(1)


def build_binaries(timeout: float = 50 * 60, target: str = "control-plane",
                   names: tuple[str, ...] = ("kube-apiserver", "etcd")) -> Path:
    """Return the directory holding `names`, building `target` (see build.sh) if not cached."""
    try:
        proc = subprocess.run(
            ["bash", str(BUILD_SCRIPT), target], capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BuildError(f"{BUILD_SCRIPT} {target} did not finish within {timeout:.0f}s") from exc
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise BuildError(f"{BUILD_SCRIPT} {target} failed (rc={proc.returncode}):\n{proc.stderr[-3000:]}")
    bindir = Path(lines[-1])
    for name in names:
        if not os.access(bindir / name, os.X_OK):
            raise BuildError(f"{BUILD_SCRIPT} reported {bindir} but {name} is missing there")
    return bindir


def free_port(host: str = HOST) -> int:
    # The port could in theory be taken again before the server binds it; on a loopback
    # test machine that race is rare enough, and startup fails loudly if it happens.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


# --- certificates -------------------------------------------------------------------------

def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


class CertAuthority:
    """A throwaway CA; issues the serving cert and the users' client certs."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "k8s-isolation-audit-test-ca")])
        self.cert = (
            self._builder(name, self.key.public_key())
            .issuer_name(name)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, key_cert_sign=True, crl_sign=True,
                    content_commitment=False, key_encipherment=False, data_encipherment=False,
                    key_agreement=False, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )
        self.pem = _pem_cert(self.cert)

    @staticmethod
    def _builder(subject: x509.Name, public_key: Any) -> x509.CertificateBuilder:
        now = datetime.datetime.now(datetime.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            # Backdated so small clock differences never make a fresh cert "not yet valid".
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        )

    def issue(self, common_name: str, *, groups: tuple[str, ...] = (),
              server_addresses: tuple[str, ...] = ()) -> tuple[bytes, bytes]:
        """Return (cert PEM, key PEM): a client cert (the apiserver maps CN to user name and O
        to groups), or with `server_addresses` a serving cert for those IPs, loopback and the
        `kubernetes` Service's IP and names."""
        server = bool(server_addresses)
        key = ec.generate_private_key(ec.SECP256R1())
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            self._builder(x509.Name(attrs), key.public_key())
            .issuer_name(self.cert.subject)
            # Python's default SSL context (VERIFY_X509_STRICT) rejects leaves without an AKI.
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName(name) for name in ("localhost", *KUBERNETES_SERVICE_NAMES)]
                    + [x509.IPAddress(ipaddress.ip_address(ip))
                       for ip in dict.fromkeys((HOST, KUBERNETES_SERVICE_IP, *server_addresses))]
                ),
                critical=False,
            )
        return _pem_cert(builder.sign(self.key, hashes.SHA256())), _pem_key(key)


# --- processes ----------------------------------------------------------------------------

def _start(cmd: list[str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        # Own session = own process group, so teardown can signal everything it spawned.
        return subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
    if proc.returncode is not None:
        return  # already reaped: its pid, and so its group id, may belong to someone else now
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return "<no log>"


class ApiServer(Managed):
    """etcd + kube-apiserver (on loopback unless told `address`); a context manager that
    always cleans up.

    Attributes once started: url, kubeconfig (admin, system:masters), ca_file, ca_pem, port,
    workdir. `address` is the one address it binds and advertises (the `kubernetes` Service's
    endpoint): loopback, unless a caller runs it in a private network namespace where pods
    must reach it (the real-node harness).
    """

    def __init__(self, bindir: Path, *, ready_timeout: float = 90.0, address: str = HOST,
                 extra_args: tuple[str, ...] = ()) -> None:
        self.bindir = Path(bindir)
        self.ready_timeout = ready_timeout
        self.address = address
        self.port = 0
        self.extra_args = extra_args  # kube-apiserver flags a caller adds (the real-node harness)
        self.workdir: Path | None = None
        self.url = ""
        self.kubeconfig = ""
        self.ca_file = ""
        self.ca_pem = b""
        self.etcd: subprocess.Popen | None = None
        self.apiserver: subprocess.Popen | None = None
        self._ca: CertAuthority | None = None
        self._users: dict[str, tuple[str, str]] = {}  # name -> (cert path, key path)

    # -- lifecycle --

    def start(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
        self._ca = CertAuthority()
        self.ca_pem = self._ca.pem
        ca_file = self._write("ca.crt", self._ca.pem)
        self.ca_file = str(ca_file)
        serving_cert, serving_key = self._ca.issue("kube-apiserver", server_addresses=(self.address,))
        sa_key = ec.generate_private_key(ec.SECP256R1())
        sa_pub = sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

        etcd_port, peer_port, self.port = free_port(), free_port(), free_port(self.address)
        etcd_url = f"http://{HOST}:{etcd_port}"
        peer_url = f"http://{HOST}:{peer_port}"
        self.url = f"https://{self.address}:{self.port}"

        etcd_cmd = [
            str(self.bindir / "etcd"),
            f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}", f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=default={peer_url}",
        ]
        if self._etcd_supports("--unsafe-no-fsync"):
            etcd_cmd.append("--unsafe-no-fsync=true")  # test data is disposable; fsync is the slow part
        self.etcd = _start(etcd_cmd, self.workdir / "etcd.log")
        deadline = time.monotonic() + self.ready_timeout
        self._wait(deadline, "etcd /health", lambda: self._http_ok(f"{etcd_url}/health", None))

        self.apiserver = _start(
            [
                str(self.bindir / "kube-apiserver"),
                f"--etcd-servers={etcd_url}",
                f"--bind-address={self.address}", f"--advertise-address={self.address}",
                f"--secure-port={self.port}",
                f"--cert-dir={self.workdir}",  # keeps it from writing to /var/run/kubernetes
                f"--tls-cert-file={self._write('apiserver.crt', serving_cert)}",
                f"--tls-private-key-file={self._write('apiserver.key', serving_key)}",
                f"--client-ca-file={ca_file}",
                "--authorization-mode=RBAC",
                f"--service-cluster-ip-range={SERVICE_RANGE}",
                "--allow-privileged=true",
                # No controller-manager runs, so default ServiceAccounts would never appear
                # and the ServiceAccount admission plugin would reject every pod.
                "--disable-admission-plugins=ServiceAccount",
                f"--service-account-issuer={self.url}/",
                f"--service-account-key-file={self._write('sa.pub', sa_pub)}",
                f"--service-account-signing-key-file={self._write('sa.key', _pem_key(sa_key))}",
                *self.extra_args,
            ],
            self.workdir / "kube-apiserver.log",
        )
        self._users["admin"] = self._client_cert("admin", groups=("system:masters",))
        self.kubeconfig = str(self._write_kubeconfig("admin"))
        # /readyz as admin: anonymous access to it depends on RBAC bootstrap finishing.
        self._wait(deadline, "kube-apiserver /readyz", lambda: self._http_ok(f"{self.url}/readyz", "admin"))

    def stop(self) -> None:
        """Idempotent; stops the apiserver before etcd so it doesn't spin on a lost backend."""
        try:
            for proc in (self.apiserver, self.etcd):
                if proc is not None:
                    _stop(proc)
        finally:
            if self.workdir is not None:
                shutil.rmtree(self.workdir, ignore_errors=True)

    # -- API access --

    def request(self, method: str, path: str, body: Any = None, *, user: str = "admin") -> tuple[int, Any]:
        """One API call as `user` (a name given to make_user, or 'admin'); returns (status, JSON)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, context=self._ssl_context(user), timeout=15) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            payload = err.read()
            try:
                return err.code, json.loads(payload)
            except ValueError:
                return err.code, payload.decode(errors="replace")

    def make_user(self, name: str, rules: list[dict[str, Any]]) -> str:
        """Create ClusterRole+ClusterRoleBinding `name` granting `rules` (RBAC PolicyRule
        dicts) to user `name`; return a kubeconfig path for that user (client cert, no group)."""
        role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": name}, "rules": rules}
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}],
        }
        for kind, obj in (("clusterroles", role), ("clusterrolebindings", binding)):
            status, resp = self.request("POST", f"/apis/rbac.authorization.k8s.io/v1/{kind}", obj)
            if status != 201:
                raise ApiServerError(f"creating {kind}/{name}: HTTP {status}: {resp}")
        self.wait_until_authorized(name, rules[0])
        self._users[name] = self._client_cert(name)
        return str(self._write_kubeconfig(name))

    def wait_until_authorized(self, user: str, rule: dict[str, Any], timeout: float = 15.0) -> None:
        """RBAC reads roles/bindings from informer caches, so a just-created binding can lag a
        little; wait until the first rule is effective so callers never race it."""
        verb = rule["verbs"][0]
        if rule.get("nonResourceURLs"):
            attrs = {"nonResourceAttributes": {"path": rule["nonResourceURLs"][0], "verb": verb}}
        else:
            resource, _, subresource = rule["resources"][0].partition("/")
            attrs = {"resourceAttributes": {"verb": verb, "group": rule["apiGroups"][0],
                                            "resource": resource, "subresource": subresource}}
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                  "spec": {"user": user, **attrs}}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, resp = self.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
            if status == 201 and resp.get("status", {}).get("allowed"):
                return
            time.sleep(0.2)
        raise ApiServerError(f"RBAC for user {user!r} not effective after {timeout:.0f}s: {resp}")

    # -- helpers --

    def _write(self, name: str, data: bytes) -> Path:
        assert self.workdir is not None
        path = self.workdir / name
        path.write_bytes(data)
        path.chmod(0o600)
        return path

    def _client_cert(self, name: str, groups: tuple[str, ...] = ()) -> tuple[str, str]:
        assert self._ca is not None
        cert, key = self._ca.issue(name, groups=groups)
        return str(self._write(f"{name}.crt", cert)), str(self._write(f"{name}.key", key))

    def _write_kubeconfig(self, user: str) -> Path:
        cert, key = self._users[user]
        b64 = lambda path: base64.b64encode(Path(path).read_bytes()).decode()  # noqa: E731
        # JSON is valid YAML, so kubectl and the Python client both read it; data is inlined
        # so the file stays usable on its own.
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": user,
            "clusters": [{"name": "test", "cluster": {
                "server": self.url, "certificate-authority-data": b64(self.ca_file)}}],
            "users": [{"name": user, "user": {
                "client-certificate-data": b64(cert), "client-key-data": b64(key)}}],
            "contexts": [{"name": user, "context": {"cluster": "test", "user": user}}],
        }
        return self._write(f"{user}.kubeconfig", json.dumps(config, indent=2).encode())

    def _ssl_context(self, user: str | None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.ca_file)
        if user is not None:
            ctx.load_cert_chain(*self._users[user])
        return ctx

    def _http_ok(self, url: str, user: str | None) -> bool:
        ctx = self._ssl_context(user) if url.startswith("https") else None
        try:
            with urllib.request.urlopen(url, context=ctx, timeout=5) as resp:
                return resp.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def _wait(self, deadline: float, what: str, ready: Any) -> None:
        while time.monotonic() < deadline:
            for proc in (self.etcd, self.apiserver):
                if proc is not None and proc.poll() is not None:
                    raise ApiServerError(f"{Path(proc.args[0]).name} exited ({proc.returncode}) "
                                         f"while waiting for {what}\n{self._logs()}")
            if ready():
                return
            time.sleep(0.5)
        raise ApiServerError(f"timed out after {self.ready_timeout:.0f}s waiting for {what}\n{self._logs()}")

    def _logs(self) -> str:
        assert self.workdir is not None
        return "\n".join(f"--- {name} (tail) ---\n{_tail(self.workdir / name)}"
                         for name in ("etcd.log", "kube-apiserver.log"))

    def _etcd_supports(self, flag: str) -> bool:
        try:
            out = subprocess.run([str(self.bindir / "etcd"), "--help"], capture_output=True,
                                 text=True, timeout=30, check=False)
        except subprocess.TimeoutExpired:
            return False
        return flag in out.stdout + out.stderr


def leftovers() -> list[str]:
    """etcd/kube-apiserver processes started from this run's temp dirs, and those temp dirs."""
    tmp = Path(tempfile.gettempdir())
    found = [f"apiserver temp dir {p}" for p in tmp.glob(WORKDIR_PREFIX + "*")]
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if WORKDIR_PREFIX in cmdline and ("etcd" in cmdline or "kube-apiserver" in cmdline):
            found.append(f"process {proc.name}: {cmdline[:120]}")
    return found
