"""Where the streams server is and how to authenticate, read from the environment.

Precedence is the seed's: ``DURABLE_STREAMS_URL`` (explicit override), then Aspire's
``services__streams__http__0`` discovery variable. Auth: ``STREAMS_SECRET``, then
``DURABLE_STREAMS_SECRET``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .errors import StreamConfigError

URL_VARIABLES = ("DURABLE_STREAMS_URL", "services__streams__http__0")
SECRET_VARIABLES = ("STREAMS_SECRET", "DURABLE_STREAMS_SECRET")


def get_streams_url(env: Mapping[str, str] | None = None) -> str:
    """The base URL of the durable-stream server.

    Example::

        os.environ["services__streams__http__0"] = "http://127.0.0.1:4437"
        get_streams_url()  # "http://127.0.0.1:4437"
    """
    source = os.environ if env is None else env
    for name in URL_VARIABLES:
        value = source.get(name, "").strip()
        if value:
            if not value.startswith(("http://", "https://")):
                raise StreamConfigError(f"{name}={value!r} is not an http(s) URL")
            return value
    raise StreamConfigError(
        "no streams server URL: set DURABLE_STREAMS_URL (e.g. http://127.0.0.1:4437), or run "
        "under `netscript up`, which injects services__streams__http__0"
    )


def get_streams_auth(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The auth header for the server: ``{"Authorization": "Bearer <secret>"}`` or ``{}``.

    Example::

        get_streams_auth({"STREAMS_SECRET": "s3cret"})  # {"Authorization": "Bearer s3cret"}
    """
    source = os.environ if env is None else env
    for name in SECRET_VARIABLES:
        value = source.get(name, "")
        if value:
            return {"Authorization": f"Bearer {value}"}
    return {}


def needs_tls(url: str) -> bool:
    """Whether an HTTP client for ``url`` needs TLS certificates (``httpx``'s ``verify``).

    httpx loads the CA bundle for every client it builds (~40 ms); a plain-http client never
    uses it, so clients pass ``verify=needs_tls(url)``: verification stays on for https.

    Example::

        httpx.AsyncClient(verify=needs_tls(url))  # needs_tls("http://127.0.0.1:4437") is False
    """
    return not url.lower().startswith("http://")


def build_stream_url(path: str, base_url: str | None = None) -> str:
    """Join a stream path onto the base URL (resolved from the environment if not given).

    Example::

        build_stream_url("/workers/executions", "http://127.0.0.1:4437/")
        # "http://127.0.0.1:4437/workers/executions"
    """
    base = (base_url if base_url is not None else get_streams_url()).rstrip("/")
    if not path:
        raise StreamConfigError("a stream path must not be empty")
    return f"{base}/{path.lstrip('/')}"
