"""The URLs a person can open to reach a server: for a server bound to
every interface (`0.0.0.0`, `::`), the loopback URL and one per address
of this machine on its networks, as Vite prints its Local and Network
URLs (`http://0.0.0.0:8000/` opens nowhere, least of all on a phone).

The machine's addresses come from the standard library only: on Linux
each interface's IPv4 address (the `SIOCGIFADDR` ioctl) and IPv6
addresses (`/proc/net/if_inet6`); anywhere, the address that would
carry traffic to the outside (a UDP socket "connected" to an address
sends nothing) and, when those find none, the addresses of the host
name. Loopback,
link-local (a URL cannot name their interface portably), multicast and
unspecified addresses are left out."""
from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import struct
from typing import Iterable, Iterator

SIOCGIFADDR = 0x8915  # Linux: an interface's IPv4 address
IF_INET6 = "/proc/net/if_inet6"
# where the route to the outside is asked for (nothing is sent)
PROBES: dict[int, str] = {socket.AF_INET: "192.0.2.1",
                         socket.AF_INET6: "2001:db8::1"}


def is_any(host: str) -> bool:
    """Whether `host` is an address of every interface (`0.0.0.0`, `::`)."""
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def url(scheme: str, host: str, port: int) -> str:
    """`scheme://host:port/`, an IPv6 address in brackets."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}/"


def server_urls(scheme: str, host: str, port: int,
                addresses: Iterable[str] | None = None,
                dual_stack: bool = False) -> tuple[str, list[str]]:
    """The URL for this machine, and those for other machines (none
    unless `host` is every interface): with `0.0.0.0`, `127.0.0.1` and
    each IPv4 address of `addresses` (by default the machine's:
    `lan_addresses`); with `::`, `::1` and each IPv6 address, and each
    IPv4 address too when the socket is `dual_stack`."""
    if not is_any(host):
        return url(scheme, host, port), []
    ipv6 = ":" in host
    families = [socket.AF_INET6] if ipv6 else [socket.AF_INET]
    if ipv6 and dual_stack:
        families.append(socket.AF_INET)
    found = list(addresses) if addresses is not None else \
        lan_addresses(families)
    wanted = {socket.AF_INET: 4, socket.AF_INET6: 6}
    versions = {wanted[family] for family in families}
    others = [url(scheme, address, port) for address in found
              if ipaddress.ip_address(address).version in versions]
    return url(scheme, "::1" if ipv6 else "127.0.0.1", port), others


def usable(address: str) -> bool:
    """Whether another machine could reach this one at `address`."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return not (ip.is_loopback or ip.is_link_local or ip.is_multicast or
                ip.is_unspecified or mapped is not None)


def lan_addresses(families: Iterable[int] = (socket.AF_INET,)
                  ) -> list[str]:
    """This machine's addresses of `families` that other machines could
    reach, the one of the route to the outside first, without repeats."""
    families = tuple(families)
    found: list[str] = []
    for family in families:
        found.extend(_outbound(family))
    if socket.AF_INET in families:
        found.extend(_interfaces_v4())
    if socket.AF_INET6 in families:
        found.extend(_interfaces_v6())
    unique = _usable(found)
    if not unique:  # (a name lookup may wait on DNS: only as a last resort)
        unique = _usable(_host_name_addresses(families))
    return unique


def _usable(addresses: Iterable[str]) -> list[str]:
    unique: dict[str, None] = {}
    for address in addresses:
        if usable(address):
            unique.setdefault(str(ipaddress.ip_address(address)), None)
    return list(unique)


def _outbound(family: int) -> Iterator[str]:
    with contextlib.suppress(OSError):
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((PROBES[family], 9))  # (UDP: nothing is sent)
            yield str(sock.getsockname()[0])


def _interfaces_v4() -> Iterator[str]:
    try:
        import fcntl  # POSIX only
        names = [name for _, name in socket.if_nameindex()]
    except (ImportError, OSError, AttributeError):
        return
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for name in names:
            request = struct.pack("256s", name.encode()[:15])
            try:
                answer = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, request)
            except OSError:  # no IPv4 address, or not Linux
                continue
            yield socket.inet_ntoa(answer[20:24])


def _interfaces_v6() -> Iterator[str]:
    if not os.path.exists(IF_INET6):
        return
    with contextlib.suppress(OSError, ValueError):
        with open(IF_INET6, encoding="ascii") as lines:
            for line in lines:
                digits = line.split()[0]
                yield str(ipaddress.IPv6Address(int(digits, 16)))


def _host_name_addresses(families: tuple[int, ...]) -> Iterator[str]:
    with contextlib.suppress(OSError, UnicodeError):
        for family, *_, address in socket.getaddrinfo(
                socket.gethostname(), None, type=socket.SOCK_STREAM):
            if family in families:
                yield str(address[0])
