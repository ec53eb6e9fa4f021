"""The one SSRF-guarded HTTP client for requests to customer-supplied URLs.

Every request to a URL a customer gave us (webhook callbacks, image URLs) goes through
`guarded_get` or `guarded_post`; nothing else may open a connection to such a URL.
RELIABILITY.md W2/W3 and "Outgoing requests to customer URLs"; reference
billing-reliability.md §3.3.

Rules, applied on every call (DNS answers change, so a URL accepted at submit time is checked
again at each request):

1. `validate_url`: http or https only, no credentials in the URL, a hostname, at most
   `MAX_URL_LENGTH` characters, printable ASCII only. Plain http is allowed because many
   customers run http callback receivers; the body is signed (Standard Webhooks), not secret.
2. `resolve_public`: the host is resolved once with `socket.getaddrinfo` and every answer must
   be a public unicast address. One bad answer refuses the whole host, so a mixed answer
   (public + private) cannot win a race. Python's `ip.is_global` is not enough on its own:
   it returns True for the NAT64 (`64:ff9b::7f00:1`) and 6to4 (`2002:7f00:1::`) forms of
   127.0.0.1, for multicast `224.0.0.1` and for `192.0.0.8`, so an explicit deny list is
   checked as well (see `_DENIED_NETWORKS`).
3. Pinning: we open the TCP connection ourselves to the exact address that was checked and
   hand the connected socket to urllib3, so there is no second DNS lookup (DNS rebinding
   cannot switch the address). The original hostname is still sent as the Host header and, for
   https, as SNI and as the name the certificate is verified against.
4. Redirects are never followed: a 3xx comes back to the caller like any other status.
5. Time and bytes are capped: the connect phase gets at most `CONNECT_TIMEOUT` seconds per
   address, and a watchdog shuts the socket down when the total `timeout` is spent, so a
   server that drips one byte at a time cannot hold a worker. Response bodies are streamed and
   reading stops at the byte cap. Content-Encoding is not decoded (we ask for `identity`), so
   the cap counts wire bytes and a gzip bomb is never inflated.

Setting `WEBHOOK_ALLOW_PRIVATE_NETWORKS` (default False) additionally allows loopback and
private-network addresses (127/8, ::1, 10/8, 172.16/12, 192.168/16, fc00::/7, 100.64/10) for
local development and tests. Cloud metadata addresses stay blocked whatever the setting.

DNS resolution uses the system resolver and its own timeouts (resolv.conf `timeout` and
`attempts`); the total `timeout` budget starts counting at the call.
"""

from outbound.netguard.base import (
    CONNECT_TIMEOUT,
    MAX_URL_LENGTH,
    USER_AGENT,
    BlockedDestination,
    FetchError,
    GuardedResponse,
    IPAddress,
)
from outbound.netguard.policy import address_block_reason, resolve_public
from outbound.netguard.transport import guarded_get, guarded_post
from outbound.netguard.urls import validate_url

__all__ = [
    "CONNECT_TIMEOUT",
    "MAX_URL_LENGTH",
    "USER_AGENT",
    "BlockedDestination",
    "FetchError",
    "GuardedResponse",
    "IPAddress",
    "address_block_reason",
    "guarded_get",
    "guarded_post",
    "resolve_public",
    "validate_url",
]
