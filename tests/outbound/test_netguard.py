"""W2/W3: requests to customer URLs go only to public addresses, pinned, with no redirects.

DNS is stubbed at `socket.getaddrinfo` (the process boundary). Every test also runs with a
socket class that records each outgoing connect and refuses any destination other than
loopback, so nothing leaves the machine and tests can assert where a connection went.
End-to-end tests talk to a real HTTP(S) server on 127.0.0.1 with private networks allowed.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from outbound.netguard import (
    BlockedDestination,
    FetchError,
    address_block_reason,
    guarded_get,
    guarded_post,
    resolve_public,
    validate_url,
)

HOST = "hooks.customer.test"

BAD_ADDRESSES = [
    "127.0.0.1",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "64:ff9b::7f00:1",  # NAT64 form of 127.0.0.1: ip.is_global is True
    "64:ff9b:1::a00:1",  # local-use NAT64 (RFC 8215)
    "2002:7f00:1::",  # 6to4 form of 127.0.0.1: ip.is_global is True
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "fd00:ec2::254",  # AWS IPv6 instance metadata
    "fe80::1",
    "fc00::1",
    "224.0.0.1",  # multicast: ip.is_global is True on CPython 3.11
    "198.18.0.1",
    "192.0.0.8",  # ip.is_global is True
    "::",
    "::7f00:1",  # IPv4-compatible form of 127.0.0.1
    "255.255.255.255",
    "240.0.0.1",
    "ff02::1",
]

METADATA_ADDRESSES = ["169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254"]


# --------------------------------------------------------------------------------------------
# Boundary stubs
# --------------------------------------------------------------------------------------------


@dataclass
class FakeResolver:
    """Stands in for the system resolver. Each lookup of a host pops the next scripted answer
    (the last one repeats)."""

    answers: dict[str, list[list[str]]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def answer(self, host: str, *addresses: str) -> None:
        self.answers[host] = [list(addresses)]

    def script(self, host: str, *answers: list[str]) -> None:
        self.answers[host] = [list(a) for a in answers]

    def getaddrinfo(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        self.calls.append(host)
        scripted = self.answers.get(host)
        if not scripted:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        addresses = scripted.pop(0) if len(scripted) > 1 else scripted[0]
        result = []
        for address in addresses:
            if ipaddress.ip_address(address).version == 6:
                result.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0)))
            else:
                result.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)))
        return result


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> FakeResolver:
    fake = FakeResolver()
    monkeypatch.setattr(socket, "getaddrinfo", fake.getaddrinfo)
    return fake


@pytest.fixture(autouse=True)
def connects(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record every connect(); refuse anything but loopback so no packet leaves the host."""
    attempts: list[Any] = []

    class LoopbackOnlySocket(socket.socket):
        def connect(self, address: Any) -> None:
            attempts.append(address)
            if ipaddress.ip_address(address[0]) not in (
                ipaddress.ip_address("127.0.0.1"),
                ipaddress.ip_address("::1"),
            ):
                raise ConnectionRefusedError(f"test network: {address[0]} is unreachable")
            super().connect(address)

    monkeypatch.setattr(socket, "socket", LoopbackOnlySocket)
    return attempts


@pytest.fixture
def private_allowed(settings: Any) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True


# --------------------------------------------------------------------------------------------
# A real local server
# --------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _LocalServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _record(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.hits[self.path] += 1
        self.server.requests.append(
            {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
        )
        return body

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def _route(self) -> None:
        self._record()
        path = self.path.split("?")[0]
        port = self.server.server_address[1]
        if path == "/image":
            self._send(200, IMAGE_BYTES, {"Content-Type": "image/png"})
        elif path == "/big":
            self._send(200, b"x" * 10_000)
        elif path == "/big-unsized":
            # No Content-Length: the body ends when the connection closes.
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            for _ in range(100):
                self.wfile.write(b"y" * 100)
        elif path == "/redirect":
            self._send(302, headers={"Location": f"http://127.0.0.1:{port}/target"})
        elif path == "/target":
            self._send(200, b"you followed a redirect")
        elif path == "/hook":
            self._send(200, b"r" * 5000, {"X-Receiver": "yes"})
        elif path == "/gone":
            self._send(410, b"gone")
        elif path == "/slow":
            time.sleep(2)
            self._send(200, b"late")
        elif path == "/drip":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            try:
                for _ in range(1000):
                    self.wfile.write(b"d")
                    self.wfile.flush()
                    time.sleep(0.05)
            except OSError:
                pass
        else:
            self._send(404, b"not found")


IMAGE_BYTES = bytes(range(256)) * 4


class _LocalServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hits: Counter[str] = Counter()
        self.requests: list[dict[str, Any]] = []

    @property
    def port(self) -> int:
        return self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up mid-response are part of the tests


@pytest.fixture
def server() -> Iterator[_LocalServer]:
    httpd = _LocalServer()
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _call(method: str, url: str) -> Any:
    if method == "get":
        return guarded_get(url, max_bytes=1000)
    return guarded_post(url, body=b"{}", headers={"Content-Type": "application/json"})


# --------------------------------------------------------------------------------------------
# (a) Bad addresses from DNS
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("address", BAD_ADDRESSES)
@pytest.mark.parametrize("method", ["get", "post"])
def test_hostname_resolving_to_non_public_address_is_refused_before_connecting(
    resolver: FakeResolver, connects: list[Any], address: str, method: str
) -> None:
    resolver.answer(HOST, address)
    with pytest.raises(BlockedDestination) as excinfo:
        _call(method, f"https://{HOST}/callback")
    assert str(ipaddress.ip_address(address)) in excinfo.value.reason
    assert connects == []


@pytest.mark.parametrize("method", ["get", "post"])
def test_mixed_answer_with_one_private_address_is_refused(
    resolver: FakeResolver, connects: list[Any], method: str
) -> None:
    resolver.answer(HOST, "93.184.215.14", "10.0.0.1")
    with pytest.raises(BlockedDestination, match=r"10\.0\.0\.1"):
        _call(method, f"http://{HOST}/")
    assert connects == []


def test_dns_rebinding_cannot_move_the_connection_to_loopback(
    resolver: FakeResolver, connects: list[Any]
) -> None:
    # First answer public (passes the check), any later lookup answers 127.0.0.1.
    resolver.script(HOST, ["93.184.215.14"], ["127.0.0.1"])
    with pytest.raises(FetchError, match="could not connect"):
        guarded_post(f"http://{HOST}:8080/hook", body=b"{}", headers={})
    assert resolver.calls == [HOST]
    assert connects == [("93.184.215.14", 8080)]


def test_connection_goes_to_the_checked_address_with_the_original_host_header(
    resolver: FakeResolver, connects: list[Any], server: _LocalServer, private_allowed: None
) -> None:
    resolver.script(HOST, ["127.0.0.1"], ["192.168.255.254"])
    response = guarded_get(f"http://{HOST}:{server.port}/image?x=1", max_bytes=10_000)
    assert response.body == IMAGE_BYTES
    assert response.address == "127.0.0.1"
    assert resolver.calls == [HOST]
    assert connects == [("127.0.0.1", server.port)]
    assert server.requests[0]["headers"]["Host"] == f"{HOST}:{server.port}"
    assert server.requests[0]["path"] == "/image?x=1"


def test_public_answers_are_returned_with_ipv4_mapped_addresses_unwrapped(
    resolver: FakeResolver,
) -> None:
    resolver.answer(HOST, "::ffff:8.8.8.8", "8.8.8.8", "2606:4700::1111")
    assert resolve_public(HOST, 443) == [
        ipaddress.ip_address("8.8.8.8"),
        ipaddress.ip_address("2606:4700::1111"),
    ]


def test_unresolvable_host_is_a_fetch_error(resolver: FakeResolver) -> None:
    with pytest.raises(FetchError, match="could not resolve"):
        guarded_get("https://nowhere.customer.test/", max_bytes=10)


@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_address_policy_blocks_every_bad_address(address: str) -> None:
    assert address_block_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.215.14", "2606:4700::1111"])
def test_address_policy_allows_public_unicast(address: str) -> None:
    assert address_block_reason(ipaddress.ip_address(address)) is None


# --------------------------------------------------------------------------------------------
# (b) Literal IP URLs
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.0.0.1:8000/admin",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "https://10.0.0.1/",
        "https://100.64.0.1/",
        "http://0.0.0.0/",
        "http://[64:ff9b::7f00:1]/",
        "http://[2002:7f00:1::]/",
        # Non-canonical IPv4 spellings that resolvers turn into 127.0.0.1.
        "http://127.1/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0x7f.0.0.1/",
        "http://0177.0.0.1/",
        "http://127.0.0.1./",
    ],
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_literal_ip_urls_are_refused_without_a_lookup(
    resolver: FakeResolver, connects: list[Any], url: str, method: str
) -> None:
    with pytest.raises(BlockedDestination):
        _call(method, url)
    assert resolver.calls == []
    assert connects == []


# --------------------------------------------------------------------------------------------
# (c) Real requests to a local server, private networks allowed
# --------------------------------------------------------------------------------------------


@pytest.fixture
def local_url(server: _LocalServer, private_allowed: None) -> str:
    return f"http://127.0.0.1:{server.port}"


def test_private_addresses_are_refused_unless_the_setting_is_on(
    server: _LocalServer, settings: Any
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    with pytest.raises(BlockedDestination, match="loopback"):
        guarded_get(f"http://127.0.0.1:{server.port}/image", max_bytes=10_000)
    assert server.hits == Counter()


def test_get_returns_the_body(local_url: str) -> None:
    response = guarded_get(f"{local_url}/image", max_bytes=10_000)
    assert response.status == 200
    assert response.body == IMAGE_BYTES
    assert response.headers["content-type"] == "image/png"
    assert response.address == "127.0.0.1"
    assert response.latency_ms >= 0


def test_get_sends_a_fixed_user_agent_and_asks_for_no_compression(
    local_url: str, server: _LocalServer
) -> None:
    guarded_get(f"{local_url}/image", max_bytes=10_000)
    headers = server.requests[0]["headers"]
    assert headers["User-Agent"].startswith("veosaas-netguard/")
    assert headers["Accept-Encoding"] == "identity"


def test_get_refuses_a_declared_body_over_the_cap(local_url: str) -> None:
    with pytest.raises(FetchError, match="larger than 1000 bytes"):
        guarded_get(f"{local_url}/big", max_bytes=1000)


def test_get_stops_reading_an_undeclared_body_at_the_cap(local_url: str) -> None:
    with pytest.raises(FetchError, match="larger than 1000 bytes"):
        guarded_get(f"{local_url}/big-unsized", max_bytes=1000)


def test_get_accepts_a_body_exactly_at_the_cap(local_url: str) -> None:
    assert len(guarded_get(f"{local_url}/big", max_bytes=10_000).body) == 10_000
    assert len(guarded_get(f"{local_url}/big-unsized", max_bytes=10_000).body) == 10_000


def test_get_does_not_follow_a_redirect(local_url: str, server: _LocalServer) -> None:
    with pytest.raises(FetchError, match="HTTP 302") as excinfo:
        guarded_get(f"{local_url}/redirect", max_bytes=1000)
    assert excinfo.value.status == 302
    assert server.hits["/redirect"] == 1
    assert server.hits["/target"] == 0


def test_get_raises_on_an_error_status(local_url: str) -> None:
    with pytest.raises(FetchError, match="HTTP 404") as excinfo:
        guarded_get(f"{local_url}/missing", max_bytes=1000)
    assert excinfo.value.status == 404


def test_post_returns_a_redirect_as_is_without_following_it(
    local_url: str, server: _LocalServer
) -> None:
    response = guarded_post(f"{local_url}/redirect", body=b"{}", headers={})
    assert response.status == 302
    assert response.headers["location"].endswith("/target")
    assert server.hits["/target"] == 0


def test_post_sends_body_and_headers_and_returns_an_excerpt(
    local_url: str, server: _LocalServer
) -> None:
    payload = b'{"type": "generation.succeeded"}'
    response = guarded_post(
        f"{local_url}/hook",
        body=payload,
        headers={"Content-Type": "application/json", "webhook-id": "msg_1"},
        excerpt_bytes=100,
    )
    assert response.status == 200
    assert response.body == b"r" * 100
    assert response.headers["x-receiver"] == "yes"
    received = server.requests[0]
    assert received["method"] == "POST"
    assert received["body"] == payload
    assert received["headers"]["Content-Type"] == "application/json"
    assert received["headers"]["webhook-id"] == "msg_1"
    assert received["headers"]["Content-Length"] == str(len(payload))


def test_post_returns_error_statuses_to_the_caller(local_url: str) -> None:
    response = guarded_post(f"{local_url}/gone", body=b"{}", headers={})
    assert response.status == 410
    assert response.body == b"gone"


def test_post_refuses_to_override_client_managed_headers(local_url: str) -> None:
    with pytest.raises(ValueError, match="Host"):
        guarded_post(f"{local_url}/hook", body=b"", headers={"Host": "internal.service"})


@pytest.mark.parametrize("path", ["/slow", "/drip"])
def test_a_slow_server_times_out_within_the_total_budget(local_url: str, path: str) -> None:
    # /drip sends a byte every 50 ms: per-read socket timeouts alone would never fire.
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"no complete response within 0\.5 s"):
        guarded_get(f"{local_url}{path}", max_bytes=10_000, timeout=0.5)
    assert time.monotonic() - started < 1.5


def test_connection_refused_is_a_fetch_error(private_allowed: None) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    with pytest.raises(FetchError, match="could not connect"):
        guarded_post(f"http://127.0.0.1:{port}/", body=b"", headers={})


@pytest.mark.parametrize("address", METADATA_ADDRESSES)
def test_metadata_addresses_stay_blocked_with_private_networks_allowed(
    resolver: FakeResolver, connects: list[Any], private_allowed: None, address: str
) -> None:
    resolver.answer(HOST, address)
    with pytest.raises(BlockedDestination, match="metadata"):
        guarded_get(f"http://{HOST}/latest/meta-data/", max_bytes=1000)
    with pytest.raises(BlockedDestination, match="metadata"):
        guarded_post("http://169.254.169.254/latest/meta-data/", body=b"", headers={})
    assert connects == []


@pytest.mark.parametrize(
    "address", ["64:ff9b::7f00:1", "2002:7f00:1::", "198.18.0.1", "224.0.0.1", "0.0.0.0"]
)
def test_private_setting_allows_only_loopback_and_private_ranges(
    resolver: FakeResolver, private_allowed: None, address: str
) -> None:
    resolver.answer(HOST, address)
    with pytest.raises(BlockedDestination):
        resolve_public(HOST, 80)


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "10.0.0.1", "192.168.1.1", "fc00::1"])
def test_private_setting_allows_private_ranges(
    resolver: FakeResolver, private_allowed: None, address: str
) -> None:
    resolver.answer(HOST, address)
    assert resolve_public(HOST, 80) == [ipaddress.ip_address(address)]


# --------------------------------------------------------------------------------------------
# HTTPS: pinned to the IP, SNI and certificate checked against the hostname
# --------------------------------------------------------------------------------------------


@dataclass
class _TLSServer:
    port: int
    ca_file: Path
    sni: list[str | None]
    server: _LocalServer


@pytest.fixture
def tls_server(tmp_path: Path, private_allowed: None) -> Iterator[_TLSServer]:
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(common_name: str) -> Any:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("netguard test CA"))
        .issuer_name(name("netguard test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf_cert = (
        x509.CertificateBuilder()
        .subject_name(name(HOST))
        .issuer_name(ca_cert.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    chain_file = tmp_path / "leaf.pem"
    chain_file.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + leaf_cert.public_bytes(serialization.Encoding.PEM)
    )

    sni: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain_file)
    context.sni_callback = lambda sslobj, server_name, ctx: sni.append(server_name)
    httpd = _LocalServer()
    httpd.socket = context.wrap_socket(
        httpd.socket, server_side=True, do_handshake_on_connect=False
    )
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield _TLSServer(port=httpd.port, ca_file=ca_file, sni=sni, server=httpd)
    httpd.shutdown()
    httpd.server_close()


def test_https_is_pinned_to_the_ip_and_verified_against_the_hostname(
    tls_server: _TLSServer, resolver: FakeResolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_server.ca_file))
    resolver.answer(HOST, "127.0.0.1")
    response = guarded_post(f"https://{HOST}:{tls_server.port}/hook", body=b"{}", headers={})
    assert response.status == 200
    assert response.address == "127.0.0.1"
    assert tls_server.sni == [HOST]
    assert tls_server.server.requests[0]["headers"]["Host"] == f"{HOST}:{tls_server.port}"


def test_https_certificate_for_another_name_is_refused(
    tls_server: _TLSServer, resolver: FakeResolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_server.ca_file))
    resolver.answer("other.customer.test", "127.0.0.1")
    with pytest.raises(FetchError, match="certificate"):
        guarded_get(f"https://other.customer.test:{tls_server.port}/image", max_bytes=10_000)
    assert tls_server.server.hits == Counter()


def test_https_untrusted_certificate_is_refused(
    tls_server: _TLSServer, resolver: FakeResolver
) -> None:
    resolver.answer(HOST, "127.0.0.1")
    with pytest.raises(FetchError, match="certificate"):
        guarded_get(f"https://{HOST}:{tls_server.port}/image", max_bytes=10_000)
    assert tls_server.server.hits == Counter()


# --------------------------------------------------------------------------------------------
# (d) URL validation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://files.customer.test/image.png", "scheme must be http or https"),
        ("file:///etc/passwd", "scheme must be http or https"),
        ("gopher://customer.test:70/_", "scheme must be http or https"),
        ("javascript:alert(1)", "scheme must be http or https"),
        ("hooks.customer.test/callback", "scheme must be http or https"),
        ("https://user:secret@hooks.customer.test/", "credentials"),
        ("https://user@hooks.customer.test/", "credentials"),
        ("https://hooks.customer.test@127.0.0.1/", "credentials"),
        ("http:///callback", "no host"),
        ("https://", "no host"),
        ("", "empty"),
        ("https://hooks.customer.test/" + "a" * 2048, "longer than 2048"),
        ("https://hooks.customer.test/a b", "printable ASCII"),
        ("https://hooks.customer.test/\r\nX-Injected: 1", "printable ASCII"),
        ("https://hööks.customer.test/", "printable ASCII"),
        ("https://hooks.customer.test:99999/", "malformed"),
        ("https://hooks.customer.test:0/", "port 0"),
        ("https://hooks_customer!.test/", "invalid hostname"),
        ("https://[fe80::1%25eth0]/", "IPv6"),
    ],
)
def test_invalid_urls_are_refused(resolver: FakeResolver, url: str, reason: str) -> None:
    with pytest.raises(BlockedDestination, match=reason):
        validate_url(url)
    assert resolver.calls == []


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.customer.test/callback?id=1",
        "http://hooks.customer.test:8080/callback",
        "HTTPS://Hooks.Customer.Test/",
        "https://8.8.8.8/",
        "https://[2606:4700::1111]:8443/",
        "https://" + "a" * 60 + ".customer.test/" + "p" * 1900,
    ],
)
def test_valid_urls_pass_without_a_lookup(resolver: FakeResolver, url: str) -> None:
    validate_url(url)
    assert resolver.calls == []
