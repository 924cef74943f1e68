"""The refusals only the HTTP service makes: who is calling, and the upload links it hands out.

They are ``LifecycleError``s, so one handler answers every refusal with the platform's body
(``to_dict()``). A request that is not signed with a known key, or whose signature does not
match, answers 401 ``APIGW.0301``, and a key used where it has no right answers 403
``APIGW.0302``: the codes Huawei Cloud's API gateway answers for IAM authentication, in front of
the platform's own services.
"""

from __future__ import annotations

from lifecycle.errors import NOT_FOUND, LifecycleError

UNAUTHENTICATED = "APIGW.0301"
NOT_AUTHORIZED = "APIGW.0302"


class Unauthenticated(LifecycleError):
    """The request is not signed (SDK-HMAC-SHA256) with a known access key, or its signature does
    not match."""

    code = UNAUTHENTICATED
    http_status = 401

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"incorrect authentication information: {problem}")


class NotAuthorized(LifecycleError):
    """The access key is valid, but not for this project or this path."""

    code = NOT_AUTHORIZED
    http_status = 403

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"the access key is not authorized: {problem}")


class UploadLinkInvalid(LifecycleError):
    """The upload URL was not issued by this service for this file, or it has expired."""

    http_status = 403

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"the upload URL is not valid: {problem}")


class PathNotFound(LifecycleError):
    """Not Found."""

    code = NOT_FOUND
    http_status = 404

    def __init__(self, method: str, path: str) -> None:
        super().__init__(f"no such path: {method} {path}")


class BodyTooLarge(LifecycleError):
    """The request body is larger than this path accepts."""

    http_status = 413

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"the request body is larger than {limit} bytes")
