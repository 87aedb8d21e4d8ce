"""Reading an asset's files for a consumer without ever showing where they are.

Allowed: http(s) URLs (redirects followed only to http(s), at most five; never to a link-local
address such as the cloud metadata service, nor to loopback or private networks unless the
provider allows them) and file:// URLs of regular files inside the publisher's own folder of
the data root, <data root>/<publisher address> (after resolving symlinks). Files are streamed in chunks, never loaded
whole; a single byte range (`Range: bytes=…`) is honoured."""

import asyncio
import hashlib
import ipaddress
import logging
import mmap
import os
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, unquote, urljoin, urlsplit

import httpcore
import httpx
from starlette.responses import Response, StreamingResponse

from c2d.provider.crypto import FileSpec
from c2d.provider.errors import BadGateway, Forbidden, InvalidRequest, RangeNotSatisfiable

log = logging.getLogger("c2d.provider.files")

CHUNK = 1 << 20
MAX_REDIRECTS = 5
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class FileNotAllowed(Forbidden):
    code = "file_not_allowed"


class FileUnavailable(BadGateway):
    code = "file_unavailable"


@dataclass(frozen=True)
class FileStat:
    content_length: int | None
    content_type: str | None


def publisher_root(data_root: Path, publisher: str) -> Path:
    """Each publisher's files live in a folder of the data root named by its address."""
    return data_root / publisher.lower()


def _split(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port out of range
    except ValueError:
        raise InvalidRequest("the URL is malformed", code="url_invalid") from None
    return parts


def check_url(url: str, root: Path, allow_private: bool = False) -> None:
    """Rejects URLs the provider would refuse to read (for /encrypt, before anything is stored)."""
    scheme = _split(url).scheme.lower()
    if scheme == "file":
        local_path(url, root, must_exist=False)
    elif scheme in ("http", "https"):
        _check_host(url, allow_private)
    else:
        raise InvalidRequest("only http, https and file URLs are allowed", code="url_scheme_not_allowed")


def local_path(url: str, data_root: Path, must_exist: bool = True) -> Path:
    parts = _split(url)
    if parts.netloc not in ("", "localhost"):
        raise FileNotAllowed("a file URL names no host")
    path = Path(unquote(parts.path))
    if not path.is_absolute() or "\x00" in str(path):
        raise FileNotAllowed("a file URL needs an absolute path")
    resolved = path.resolve()
    if not resolved.is_relative_to(data_root):
        raise FileNotAllowed("the file is outside the provider's data root")
    if must_exist and not resolved.is_file():
        raise FileUnavailable("the file is not there", status=404)
    return resolved


def _check_host(url: str, allow_private: bool) -> None:
    """Refuses URLs whose scheme or literal host address the provider must not reach (names are
    checked once resolved, when the connection is made: see CheckedBackend)."""
    parts = _split(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise FileNotAllowed("a redirect led to a URL scheme that is not allowed")
    host = parts.hostname
    if not host:
        raise InvalidRequest("the URL names no host", code="url_invalid")
    check_address(host, allow_private)


def check_address(address: str, allow_private: bool) -> None:
    """Refuses addresses the provider must not be made to reach: link-local (the cloud metadata
    service), multicast, unspecified and reserved addresses always; loopback, private and
    other non-global networks (carrier-grade NAT, documentation ranges) unless allowed
    (C2D_ALLOW_PRIVATE_URLS, for a provider whose publishers' servers are on its own network).
    A name that is not an address passes: it is checked once resolved."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        raise FileNotAllowed("the file's host is not allowed")
    if ip in _METADATA:
        raise FileNotAllowed("the file's host is not allowed")
    if not allow_private and not ip.is_global:
        raise FileNotAllowed("the file's host is on a private network")


# Cloud metadata services outside link-local space (Alibaba's, AWS's IPv6 one).
_METADATA = (ipaddress.ip_address("100.100.100.200"), ipaddress.ip_address("fd00:ec2::254"))

Resolver = Callable[[str, int], Awaitable[list[str]]]


async def resolve(host: str, port: int) -> list[str]:
    """The host's addresses, resolved without blocking the event loop."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise FileUnavailable("the file's host cannot be resolved") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class CheckedBackend(httpcore.AsyncNetworkBackend):
    """Connections to a file's server: the host is resolved once, every address it has is
    checked, and the connection goes to a checked address, so a name cannot answer one address
    to the check and another to the connection (DNS rebinding). TLS still names the host
    (httpcore passes the URL's host as server name, whatever address the socket reaches)."""

    def __init__(self, allow_private: bool, resolver: Resolver = resolve) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self.resolver(host, port)
        if not addresses:
            raise FileUnavailable("the file's host cannot be resolved")
        for address in addresses:
            check_address(address, self.allow_private)
        failure: Exception = httpcore.ConnectError("no address")
        for address in addresses:
            try:
                return await self.inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("files are not fetched over unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def file_client(timeout: float, allow_private: bool, resolver: Resolver = resolve) -> httpx.AsyncClient:
    """The HTTP client that fetches published files: every connection through CheckedBackend,
    no proxy or credentials from the environment, redirects followed by HttpFiles itself."""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    # httpx takes no network backend of its own: its pool is replaced by one that has ours.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        network_backend=CheckedBackend(allow_private, resolver),
    )
    return httpx.AsyncClient(timeout=timeout, transport=transport, trust_env=False, follow_redirects=False)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The (start, end exclusive) of a single satisfiable byte range, or None to send the whole
    file (no header, a malformed one, or several ranges: RFC 9110 lets a server ignore those)."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if not match or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":
        start, end = max(size - int(last), 0), size
    else:
        start = int(first)
        end = size if last == "" else min(int(last) + 1, size)
    if start >= size or start >= end:
        raise RangeNotSatisfiable(f"the file has {size} bytes", headers={"content-range": f"bytes */{size}"})
    return start, end


def _read_chunks(path: Path, start: int, end: int) -> Iterator[bytes]:
    with path.open("rb") as handle:
        handle.seek(start)
        remaining = end - start
        while remaining > 0:
            chunk = handle.read(min(CHUNK, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk


async def _cut(upstream: httpx.Response, start: int, end: int | None) -> AsyncIterator[bytes]:
    """Relays bytes [start, end) of an upstream body (all of it with 0, None), then closes it."""
    position = 0
    try:
        async for chunk in upstream.aiter_raw(CHUNK):
            lo, hi = max(start - position, 0), len(chunk) if end is None else min(end - position, len(chunk))
            position += len(chunk)
            if lo < hi:
                yield chunk[lo:hi]
            if end is not None and position >= end:
                return
    except httpx.HTTPError as exc:  # the file's server stalled or broke off: end the response there
        log.warning("a file's server broke off a transfer: %s", type(exc).__name__)
    finally:
        await upstream.aclose()


async def _mapped_chunks(path: Path, start: int, end: int) -> AsyncIterator[memoryview]:
    """Bytes [start, end) of a file as views of a read-only mapping, sent straight from the page
    cache (one copy fewer than read()). The pages of each sent chunk are dropped from this
    process (MADV_DONTNEED; the page cache keeps them), so a large download does not grow the
    provider's memory."""
    if start >= end:
        return
    with path.open("rb") as handle:
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        for offset in range(start, end, CHUNK):
            stop = min(offset + CHUNK, end)
            view = memoryview(mapped)[offset:stop]
            yield view  # returns once the server has written it to the socket or copied it
            with suppress(BufferError):  # a transport that still holds it keeps the mapping alive
                view.release()
            page = offset - offset % mmap.PAGESIZE
            mapped.madvise(mmap.MADV_DONTNEED, page, stop - page)
    finally:
        # A transport may still hold the last chunks (a slow or gone consumer): the mapping
        # then stays until it lets go of them, and is freed with them.
        with suppress(BufferError):
            mapped.close()


class LocalFiles:
    """file:// URLs: regular files of the publisher's own folder of the data root."""

    def __init__(self, data_root: Path) -> None:
        self.data_root = data_root

    def _path(self, spec: FileSpec, publisher: str) -> Path:
        return local_path(spec.url, publisher_root(self.data_root, publisher))

    async def response(
        self, spec: FileSpec, publisher: str, range_header: str | None, headers: dict[str, str], media_type: str
    ) -> Response:
        path = self._path(spec, publisher)
        size = path.stat().st_size
        span = parse_range(range_header, size)
        start, end = span or (0, size)
        headers["content-length"] = str(end - start)
        status = 200
        if span:
            status = 206
            headers["content-range"] = f"bytes {start}-{end - 1}/{size}"
        return StreamingResponse(_mapped_chunks(path, start, end), status, headers, media_type)

    async def stat(self, spec: FileSpec, publisher: str) -> FileStat:
        return FileStat(self._path(spec, publisher).stat().st_size, spec.contentType)

    async def sha256(self, spec: FileSpec, publisher: str) -> str:
        path, digest = self._path(spec, publisher), hashlib.sha256()
        for chunk in _read_chunks(path, 0, os.path.getsize(path)):
            digest.update(chunk)
        return digest.hexdigest()


class HttpFiles:
    """http(s) URLs, through the checked client (file_client): every hop's address checked."""

    def __init__(self, client: httpx.AsyncClient, allow_private: bool = False) -> None:
        self.client = client
        self.allow_private = allow_private

    async def response(
        self, spec: FileSpec, publisher: str, range_header: str | None, headers: dict[str, str], media_type: str
    ) -> Response:
        upstream = await self._open(spec.url, range_header)
        if upstream.status_code == 416:
            await upstream.aclose()
            raise RangeNotSatisfiable("the requested range is outside the file")
        media_type = spec.contentType or upstream.headers.get("content-type", media_type)
        length = upstream.headers.get("content-length", "")
        span = None
        if upstream.status_code == 200 and range_header and length.isdigit():
            # The file's server ignored the range: cut it out here.
            try:
                span = parse_range(range_header, int(length))
            except RangeNotSatisfiable:
                await upstream.aclose()
                raise
        if span:
            start, end = span
            headers["content-length"] = str(end - start)
            headers["content-range"] = f"bytes {start}-{end - 1}/{length}"
            return StreamingResponse(_cut(upstream, start, end), 206, headers, media_type)
        for name in ("content-length", "content-range"):
            if name in upstream.headers:
                headers[name] = upstream.headers[name]
        return StreamingResponse(_cut(upstream, 0, None), upstream.status_code, headers, media_type)

    async def stat(self, spec: FileSpec, publisher: str) -> FileStat:
        upstream = await self._open(spec.url, None, method="HEAD")
        await upstream.aclose()
        length = upstream.headers.get("content-length")
        return FileStat(
            int(length) if length and length.isdigit() else None,
            spec.contentType or upstream.headers.get("content-type"),
        )

    async def sha256(self, spec: FileSpec, publisher: str) -> str:
        digest = hashlib.sha256()
        upstream = await self._open(spec.url, None)
        try:
            async for chunk in upstream.aiter_bytes(CHUNK):
                digest.update(chunk)
        finally:
            await upstream.aclose()
        return digest.hexdigest()

    async def _open(self, url: str, range_header: str | None, method: str = "GET") -> httpx.Response:
        # identity: the bytes are relayed as they come, so they must not be compressed.
        headers = {"accept-encoding": "identity", **({"range": range_header} if range_header else {})}
        for _ in range(MAX_REDIRECTS + 1):
            _check_host(url, self.allow_private)
            try:
                request = self.client.build_request(method, url, headers=headers)
                response = await self.client.send(request, stream=True, follow_redirects=False)
            except httpx.HTTPError:
                raise FileUnavailable("the file's server did not answer") from None
            if response.is_redirect and "location" in response.headers:
                await response.aclose()
                url = urljoin(url, response.headers["location"])
                continue
            if response.status_code >= 400 and response.status_code != 416:
                await response.aclose()
                raise FileUnavailable(f"the file's server answered {response.status_code}")
            return response
        raise FileUnavailable("too many redirects")


class FileReader:
    """Opens published files for the routes (responses, sizes, checksums), each from its source."""

    def __init__(self, data_root: Path, client: httpx.AsyncClient, allow_private: bool = False) -> None:
        self.local = LocalFiles(data_root)
        self.http = HttpFiles(client, allow_private)

    def _source(self, spec: FileSpec) -> LocalFiles | HttpFiles:
        return self.local if urlsplit(spec.url).scheme.lower() == "file" else self.http

    async def response(
        self, spec: FileSpec, publisher: str, range_header: str | None, filename: str, partial_only: bool = False
    ) -> Response:
        """The file (or the range asked for) as a streamed response. With `partial_only`, an
        answer that would not be exactly the range asked for is refused (416)."""
        headers = {"content-disposition": f'attachment; filename="{filename}"', "accept-ranges": "bytes"}
        media_type = spec.contentType or "application/octet-stream"
        response = await self._source(spec).response(spec, publisher, range_header, headers, media_type)
        if partial_only and response.status_code != 206:
            if isinstance(response, StreamingResponse) and hasattr(response.body_iterator, "aclose"):
                await response.body_iterator.aclose()
            raise RangeNotSatisfiable("a continued download must ask for a single range the file has")
        return response

    async def stat(self, spec: FileSpec, publisher: str) -> FileStat:
        return await self._source(spec).stat(spec, publisher)

    async def sha256(self, spec: FileSpec, publisher: str) -> str:
        return await self._source(spec).sha256(spec, publisher)
