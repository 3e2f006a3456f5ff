"""Where a webhook may be sent: the addresses `facedb hooks add` accepts, checked again
by the delivery worker on the address it connects to (docs/EVENTS.md "Where webhooks
may go").

- Always refused: unspecified (0.0.0.0, ::), link-local (169.254.0.0/16, fe80::/10,
  the cloud metadata service 169.254.169.254 among them), the other metadata
  addresses (fd00:ec2::254, 100.100.100.200), multicast, reserved and broadcast
  addresses, IPv4-mapped IPv6 addresses (::ffff:a.b.c.d: write the IPv4 address), and
  hosts written as a number or in a short, octal or hex form (2852039166, 0x7f.1,
  0177.0.0.1, 127.1), which name an address while hiding it.
- Private unless the webhook is added with --allow-private: RFC 1918 (10/8,
  172.16/12, 192.168/16), shared (100.64/10), unique local (fc00::/7) and every other
  address that is not globally routable. A door controller on the LAN is the use.
- Loopback (127.0.0.0/8, ::1) is allowed: a receiver on the server itself (a local
  relay, the tests' receivers) is the operator's own.

A host name is resolved when the webhook is added (refused when it resolves to an
address refused above) and again at every delivery: the connection goes to the very
address that was checked, so a name that changes its answer between the check and
the connection (DNS rebinding) gains nothing. Through an HTTP proxy (http_proxy,
https_proxy) the proxy is what is checked and connected to.
"""

from __future__ import annotations

import ipaddress
import re
import socket

from facedb.errors import InvalidInputError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_METADATA = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),
        ipaddress.ip_address("fd00:ec2::254"),
        ipaddress.ip_address("100.100.100.200"),
    }
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# A host made of numbers and dots: an address in some notation, canonical or not.
_NUMERIC_HOST = re.compile(r"(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?", re.IGNORECASE)


class RefusedAddressError(OSError):
    """A delivery's address is not allowed (raised inside the connection, so that the
    attempt fails like an unreachable receiver and says why)."""


def refusal(address: Address, *, allow_private: bool) -> str | None:
    """Why a webhook may not be sent to ``address``, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"{address} is an IPv4-mapped address (write {address.ipv4_mapped})"
        if address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
            return refusal(embedded, allow_private=allow_private)
    if address in _METADATA:
        return f"{address} is a cloud metadata address"
    if address.is_unspecified:
        return f"{address} is the unspecified address"
    if address.is_link_local:
        return f"{address} is a link-local address"
    if address.is_multicast:
        return f"{address} is a multicast address"
    if address.is_loopback:
        return None
    if address.is_reserved or address == ipaddress.IPv4Address("255.255.255.255"):
        return f"{address} is a reserved address"
    if not address.is_global and not allow_private:
        return f"{address} is a private address (add the webhook with --allow-private)"
    return None


def check_host(host: str, *, allow_private: bool) -> None:
    """InvalidInputError when a webhook to ``host`` is refused: an address literal
    checked by ``refusal``, a numeric host, or a name that resolves to a refused
    address now (a name that does not resolve now is accepted: it is checked again
    at every delivery)."""
    literal = _literal(host)
    if literal is not None:
        reason = refusal(literal, allow_private=allow_private)
        if reason is not None:
            raise InvalidInputError(f"a webhook may not be sent to {host}: {reason}")
        return
    try:
        resolved = {ipaddress.ip_address(str(info[4][0])) for info in _resolve(host, 443)}
    except OSError:
        return
    for address in sorted(resolved, key=str):
        reason = refusal(address, allow_private=allow_private)
        if reason is not None:
            raise InvalidInputError(f"a webhook may not be sent to {host}: it resolves to {reason}")


def _literal(host: str) -> Address | None:
    if "%" in host:  # an IPv6 zone: a link-local address of one interface
        raise InvalidInputError(f"a webhook may not be sent to {host}: an address with a zone")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_HOST.fullmatch(host):
        raise InvalidInputError(
            f"a webhook may not be sent to {host}: a host written as a number or a short, "
            "octal or hex address (write the address as four decimal numbers, or a name)"
        )
    return None


def _family(address: Address) -> int:
    return socket.AF_INET6 if address.version == 6 else socket.AF_INET


def _resolve(host: str, port: int) -> list[tuple[int, int, int, str, tuple[object, ...]]]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [(family, kind, proto, name, tuple(addr)) for family, kind, proto, name, addr in infos]


def connect_checked(
    address: tuple[str, int],
    timeout: object,
    source_address: tuple[str, int] | None = None,
    *,
    allow_private: bool,
) -> socket.socket:
    """http.client's create_connection, on a checked address: the host is resolved,
    every address is checked, and the connection goes to the first one that answers."""
    host, port = address
    literal = _literal(host)
    infos = (
        [(_family(literal), 0, 0, "", (str(literal), port))]
        if literal is not None
        else _resolve(host, port)
    )
    if not infos:
        raise RefusedAddressError(f"{host} has no address")
    for info in infos:
        reason = refusal(ipaddress.ip_address(str(info[4][0])), allow_private=allow_private)
        if reason is not None:
            raise RefusedAddressError(
                f"refused: {reason}" if literal else f"refused: {host} resolves to {reason}"
            )
    error: OSError | None = None
    for family, _, _, _, sockaddr in infos:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            if isinstance(timeout, int | float):  # else http.client's "default" sentinel
                sock.settimeout(timeout)
            if source_address is not None:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error or RefusedAddressError(f"{host} has no address")
