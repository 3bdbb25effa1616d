"""Live probes from the machine running the checks (not over SSH): what a client on the network actually gets.

A flag can say one thing and the listener another (a second process, a stale config), so the checks that matter
most are also tried for real: an anonymous request to the API, a TLS 1.1 handshake, the old insecure port, and
etcd without a client certificate. Every probe has a bounded timeout and reports PASS, FAIL or WARN (could not
decide) with what it saw; none sends a credential.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
import warnings
from dataclasses import dataclass
from urllib.parse import urlsplit

from kubeharden.core.catalog import APISERVER, ETCD
from kubeharden.core.catalog.apiserver import INSECURE_PORT
from kubeharden.core.results import LiveOutcome, Status
from kubeharden.core.state import HostState

TIMEOUT = 5.0
ANONYMOUS_API = "anonymous_api"
TLS11_REFUSED = "tls11_refused"
INSECURE_PORT_CLOSED = "insecure_port_closed"
ETCD_REQUIRES_CLIENT_CERT = "etcd_requires_client_cert"
FIREWALL_FILTERS = "firewall_filters"
FILTER_TIMEOUT = 3.0


@dataclass(frozen=True)
class ProbePlan:
    """Where to probe one host: its inventory address and the ports its components serve."""

    address: str
    apiserver_port: int | None = None
    apiserver_note: str = ""
    etcd_port: int | None = None
    etcd_note: str = ""


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def plan(state: HostState) -> ProbePlan:
    """The ports to probe, read from the components' flags (pure)."""
    api_port: int | None = None
    api_note = etcd_note = ""
    etcd_port: int | None = None
    api = state.component(APISERVER)
    if api is not None:
        port = api.flag("--secure-port").value or "6443"
        bind = api.flag("--bind-address").value or "0.0.0.0"  # noqa: S104 -- flag default read, not a bind
        if not port.isdigit() or int(port) == 0:
            api_note = f"kube-apiserver --secure-port={port}: no secure port to probe"
        elif _loopback(bind):
            api_note = f"kube-apiserver binds to {bind} only: not reachable from this machine"
        else:
            api_port = int(port)
    etcd = state.component(ETCD)
    if etcd is not None:
        urls = etcd.flag("--listen-client-urls").value or "http://localhost:2379"
        parsed = [urlsplit(u.strip()) for u in urls.split(",") if u.strip()]
        ports = [u.port or 2379 for u in parsed if not _loopback(u.hostname or "")]
        if ports:
            etcd_port = ports[0]
        else:
            etcd_note = f"etcd listens on loopback only ({urls})"
    return ProbePlan(state.address, api_port, api_note, etcd_port, etcd_note)


def _unverified_context() -> ssl.SSLContext:
    """No server verification: these probes send no credential, they only look at what the server answers."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _get(address: str, port: int, path: str, timeout: float) -> int:
    conn = http.client.HTTPSConnection(address, port, timeout=timeout, context=_unverified_context())
    try:
        conn.request("GET", path, headers={"Accept": "application/json"})
        response = conn.getresponse()
        response.read(4096)
        return response.status
    finally:
        conn.close()


def anonymous_api(address: str, port: int, timeout: float = TIMEOUT) -> LiveOutcome:
    """GET /api without credentials must be 401 (not even authenticated as system:anonymous); /livez 200."""
    try:
        api = _get(address, port, "/api", timeout)
        livez = _get(address, port, "/livez", timeout)
    except (OSError, http.client.HTTPException) as exc:
        return LiveOutcome(Status.WARN, "", f"could not reach kube-apiserver at {address}:{port}: {exc}")
    observed = f"GET /api -> {api}, GET /livez -> {livez} (no credentials)"
    if api != 401:
        why = {
            403: "the request was authenticated as system:anonymous; only authorization stopped it",
            200: "the API answered an anonymous client",
        }.get(api, "anonymous requests get past authentication")
        return LiveOutcome(Status.FAIL, observed, why)
    if livez != 200:
        return LiveOutcome(Status.WARN, observed, "the health endpoint is not open to the kubelet's anonymous probes")
    return LiveOutcome(Status.PASS, observed)


def _tls11_context() -> ssl.SSLContext:
    context = _unverified_context()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1_1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


def local_tls11_problem() -> str | None:
    """Why this machine's OpenSSL cannot offer TLS 1.1, or None when it can (its ClientHello says 1.1)."""
    if not ssl.HAS_TLSv1_1:
        return f"{ssl.OPENSSL_VERSION} is built without TLS 1.1"
    try:
        context = _tls11_context()
        outgoing = ssl.MemoryBIO()
        conn = context.wrap_bio(ssl.MemoryBIO(), outgoing)
        try:
            conn.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hello = outgoing.read()
    except (ssl.SSLError, ValueError) as exc:
        return f"{ssl.OPENSSL_VERSION} refuses to offer TLS 1.1 ({exc})"
    if len(hello) < 11 or hello[0] != 0x16 or hello[9:11] != b"\x03\x02":
        return f"{ssl.OPENSSL_VERSION} did not produce a TLS 1.1 ClientHello"
    return None


def tls11_refused(address: str, port: int, timeout: float = TIMEOUT) -> LiveOutcome:
    """A TLS 1.1-only handshake must be refused by the server (not merely unsendable by us)."""
    problem = local_tls11_problem()
    if problem:
        return LiveOutcome(Status.WARN, "", f"cannot test: {problem}")
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except OSError as exc:
        return LiveOutcome(Status.WARN, "", f"could not reach {address}:{port}: {exc}")
    with sock:
        try:
            with _tls11_context().wrap_socket(sock) as tls:
                return LiveOutcome(
                    Status.FAIL, f"TLS 1.1 handshake accepted ({tls.version()}, {(tls.cipher() or ('?',))[0]})"
                )
        except ssl.SSLError as exc:
            return LiveOutcome(Status.PASS, f"TLS 1.1 handshake refused ({exc.reason or exc})")
        except (ConnectionResetError, BrokenPipeError) as exc:
            return LiveOutcome(Status.PASS, f"TLS 1.1 handshake refused (connection closed: {exc})")
        except OSError as exc:
            return LiveOutcome(Status.WARN, "", f"handshake did not finish: {exc}")


def insecure_port_closed(address: str, port: int = INSECURE_PORT, timeout: float = TIMEOUT) -> LiveOutcome:
    """Nothing may accept TCP connections on the old insecure API port."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return LiveOutcome(Status.FAIL, f"{address}:{port} accepts TCP connections")
    except ConnectionRefusedError:
        return LiveOutcome(Status.PASS, f"{address}:{port} refused the connection")
    except OSError as exc:
        return LiveOutcome(Status.PASS, f"{address}:{port} gave no connection ({exc})")


def _request(sock: socket.socket) -> bytes:
    sock.sendall(b"GET /version HTTP/1.1\r\nHost: etcd\r\nConnection: close\r\n\r\n")
    return sock.recv(512)


def etcd_requires_client_cert(address: str, port: int, timeout: float = TIMEOUT) -> LiveOutcome:
    """A client without a certificate must not complete a request to etcd (TLS nor plain HTTP)."""
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except OSError as exc:
        return LiveOutcome(Status.PASS, f"{address}:{port} gave no connection from here ({exc})")
    with sock:
        try:
            with _unverified_context().wrap_socket(sock) as tls:
                answer = _request(tls)
        except ssl.SSLError as exc:
            if "WRONG_VERSION_NUMBER" not in str(exc):
                return LiveOutcome(Status.PASS, f"request without a client certificate refused ({exc.reason or exc})")
            answer = _plain(address, port, timeout)
            if answer.startswith(b"HTTP/"):
                status = answer.split(b"\r\n", 1)[0].decode(errors="replace")
                return LiveOutcome(Status.FAIL, f"etcd serves plain HTTP without authentication: {status}")
            return LiveOutcome(Status.PASS, "no TLS and no HTTP answer")
        except OSError as exc:
            return LiveOutcome(Status.PASS, f"connection closed without an answer ({exc})")
    if answer.startswith(b"HTTP/"):
        status = answer.split(b"\r\n", 1)[0].decode(errors="replace")
        return LiveOutcome(Status.FAIL, f"etcd answered a client without a certificate: {status}")
    return LiveOutcome(Status.PASS, "connection closed without an answer")


def _plain(address: str, port: int, timeout: float) -> bytes:
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            return _request(sock)
    except OSError:
        return b""


def firewall_filters(address: str, ports: list[int], timeout: float = FILTER_TIMEOUT) -> LiveOutcome:
    """Ports only control-plane nodes may reach must give no connection from here (the operator's machine): a
    dropped SYN (timeout) is the firewall at work; a refusal means the packet reached the host unfiltered."""
    seen, status = [], Status.PASS
    for port in ports:
        try:
            with socket.create_connection((address, port), timeout=timeout):
                seen.append(f"{port} accepted a connection")
                status = Status.FAIL
        except ConnectionRefusedError:
            seen.append(f"{port} refused (reached the host unfiltered)")
            status = Status.WARN if status is Status.PASS else status
        except OSError:
            seen.append(f"{port} filtered (no answer in {timeout:.0f}s)")
    note = "" if status is Status.PASS else "this machine must not be a control-plane node of the cluster"
    return LiveOutcome(status, f"{address}: " + ", ".join(seen), note)


def run_probes(state: HostState, timeout: float = TIMEOUT) -> tuple[dict[str, LiveOutcome], float]:
    """Every probe that has a target on this host, and the seconds they took."""
    started = time.monotonic()
    target = plan(state)
    found: dict[str, LiveOutcome] = {}
    if state.component(APISERVER) is not None:
        if target.apiserver_port is None:
            note = LiveOutcome(Status.WARN, "", target.apiserver_note)
            found[ANONYMOUS_API] = found[TLS11_REFUSED] = note
        else:
            found[ANONYMOUS_API] = anonymous_api(target.address, target.apiserver_port, timeout)
            found[TLS11_REFUSED] = tls11_refused(target.address, target.apiserver_port, timeout)
        found[INSECURE_PORT_CLOSED] = insecure_port_closed(target.address, INSECURE_PORT, timeout)
    if state.component(ETCD) is not None:
        if target.etcd_port is None:
            found[ETCD_REQUIRES_CLIENT_CERT] = LiveOutcome(Status.PASS, target.etcd_note, "not reachable from here")
        else:
            found[ETCD_REQUIRES_CLIENT_CERT] = etcd_requires_client_cert(target.address, target.etcd_port, timeout)
    if state.firewall is not None:
        ports = [10250, 2380] if state.role == "control_plane" else [10250]
        found[FIREWALL_FILTERS] = firewall_filters(state.address, ports)
    return found, time.monotonic() - started
