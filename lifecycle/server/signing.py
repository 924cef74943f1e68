"""Requests signed as the platform's SDKs sign them: ``SDK-HMAC-SHA256``.

The client hashes a *canonical request* (method, path, sorted query, the headers it chose to sign,
and the body's SHA-256) into a *string to sign* with the time it gives in ``X-Sdk-Date``, and sends
``Authorization: SDK-HMAC-SHA256 Access=AK, SignedHeaders=h1;h2, Signature=HEX``, the HMAC-SHA256
of that string under its secret key. The service rebuilds the same canonical request from what it
received, so any change on the way (path, query, a signed header, one byte of the body) breaks the
signature. Written after ``huaweicloudsdkcore.signer.Signer``, the reference the tests hold it to.

Beyond the SDK's own rules the service asks that ``Host`` and ``X-Sdk-Date`` be signed, that the
date be within 15 minutes of its clock, and that a body be signed (no ``UNSIGNED-PAYLOAD``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote

from lifecycle.clock import Clock
from lifecycle.server.errors import Unauthenticated
from lifecycle.server.keys import AccessKey, AccessKeys

ALGORITHM = "SDK-HMAC-SHA256"
DATE_HEADER = "x-sdk-date"
CONTENT_HASH_HEADER = "x-sdk-content-sha256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_SKEW = timedelta(minutes=15)
EMPTY_HASH = hashlib.sha256(b"").hexdigest()
REQUIRED_SIGNED = ("host", DATE_HEADER)

_AUTHORIZATION = re.compile(
    rf"{ALGORITHM} Access=(?P<ak>[^,\s]+), SignedHeaders=(?P<headers>[^,\s]+),"
    r" Signature=(?P<signature>[0-9a-f]{64})"
)


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    """A request as it arrived: ``path`` still percent-encoded, ``query`` the raw query string,
    ``headers`` as (lower-case name, value) pairs, in order."""

    method: str
    path: str
    query: str
    headers: Sequence[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The one value of header ``name``; None if absent; ``Unauthenticated`` if repeated."""
        values = [value for key, value in self.headers if key == name]
        if len(values) > 1:
            raise Unauthenticated(f"the header {name} is given more than once")
        return values[0] if values else None


def _encode(text: str) -> str:
    return quote(text, safe="~")


def canonical_uri(path: str) -> str:
    segments = "/".join(_encode(segment) for segment in unquote(path).split("/"))
    return segments if segments.endswith("/") else segments + "/"


def canonical_query(query: str) -> str:
    pairs = []
    for part in query.split("&") if query else ():
        key, _, value = part.partition("=")
        pairs.append((unquote(key.replace("+", " ")), unquote(value.replace("+", " "))))
    return "&".join(f"{_encode(key)}={_encode(value)}" for key, value in sorted(pairs))


def canonical_request(request: ReceivedRequest, signed_headers: Sequence[str], payload_hash: str) -> str:
    headers = {}
    for name in signed_headers:
        value = request.header(name)
        if value is None:
            raise Unauthenticated(f"the signed header {name} is missing")
        headers[name] = value.strip()
    return "\n".join(
        (
            request.method.upper(),
            canonical_uri(request.path),
            canonical_query(request.query),
            "".join(f"{name}:{headers[name]}\n" for name in signed_headers),
            ";".join(signed_headers),
            payload_hash,
        )
    )


def string_to_sign(canonical: str, date: str) -> str:
    return f"{ALGORITHM}\n{date}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"


def signature(secret: str, text: str) -> str:
    return hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()


def authorization(ak: str, signed_headers: Sequence[str], signed: str) -> str:
    return f"{ALGORITHM} Access={ak}, SignedHeaders={';'.join(signed_headers)}, Signature={signed}"


class Verifier:
    """Checks a request's signature against the access keys; time from ``clock``."""

    def __init__(self, keys: AccessKeys, clock: Clock, *, max_skew: timedelta = MAX_SKEW) -> None:
        self.keys = keys
        self.clock = clock
        self.max_skew = max_skew

    def verify(self, request: ReceivedRequest) -> AccessKey:
        """The key that signed ``request``; ``Unauthenticated`` unless the signature is the key's
        and the request's date is within ``max_skew`` of now."""
        header = request.header("authorization")
        if header is None:
            raise Unauthenticated(f"the request is not signed (Authorization: {ALGORITHM} …)")
        found = _AUTHORIZATION.fullmatch(header.strip())
        if found is None:
            raise Unauthenticated(
                f"the Authorization header is not {ALGORITHM} Access=…, SignedHeaders=…, Signature=…"
            )
        signed_headers = found["headers"].split(";")
        if signed_headers != sorted(set(signed_headers)) or any(h != h.lower() for h in signed_headers):
            raise Unauthenticated("SignedHeaders must be lower-case names, sorted, each once")
        for required in REQUIRED_SIGNED:
            if required not in signed_headers:
                raise Unauthenticated(f"the header {required} must be signed")
        date = request.header(DATE_HEADER) or ""
        self._check_date(date)
        key = self.keys.get(found["ak"])
        # An unknown key and a wrong signature are told alike: keys cannot be probed for.
        expected = signature(
            key.sk if key else "",
            string_to_sign(canonical_request(request, signed_headers, self._payload_hash(request)), date),
        )
        if key is None or not hmac.compare_digest(expected, found["signature"]):
            raise Unauthenticated("the signature does not match the request (or the access key is unknown)")
        return key

    def _check_date(self, date: str) -> None:
        try:
            moment = datetime.strptime(date, DATE_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            raise Unauthenticated("X-Sdk-Date must be given as YYYYMMDDTHHMMSSZ (UTC)") from None
        if abs(self.clock.now() - moment) > self.max_skew:
            minutes = int(self.max_skew.total_seconds() // 60)
            raise Unauthenticated(f"X-Sdk-Date is more than {minutes} minutes away from the service's time")

    @staticmethod
    def _payload_hash(request: ReceivedRequest) -> str:
        if not request.body:
            return EMPTY_HASH
        actual = hashlib.sha256(request.body).hexdigest()
        claimed = request.header(CONTENT_HASH_HEADER)
        if claimed is not None and claimed != actual:
            raise Unauthenticated("the body must be signed (X-Sdk-Content-Sha256 does not match it)")
        return actual


def sign(
    request: ReceivedRequest, ak: str, sk: str, signed_headers: Sequence[str] | None = None
) -> Mapping[str, str]:
    """The ``Authorization`` header for ``request`` (which must carry ``X-Sdk-Date``): for clients
    and tests without the SDK. Signs every header given, unless told which."""
    names = sorted({name for name, _ in request.headers} if signed_headers is None else set(signed_headers))
    date = request.header(DATE_HEADER) or ""
    text = string_to_sign(canonical_request(request, names, Verifier._payload_hash(request)), date)
    return {"Authorization": authorization(ak, names, signature(sk, text))}
