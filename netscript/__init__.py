"""NetScript for Python: the small public facade.

``from netscript import hookimpl, Config, define_stream_schema, create_durable_stream``.
The names load lazily, so ``netscript --help`` does not import pydantic and httpx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Change",
    "ChangeEvent",
    "CollectionDefinition",
    "Config",
    "DurableStreamProducer",
    "ProducerOptions",
    "StateSchema",
    "StreamBufferFull",
    "StreamClosedError",
    "StreamConfigError",
    "StreamDeliveryError",
    "StreamError",
    "StreamSchemaError",
    "StreamUnsupportedOperationError",
    "StreamView",
    "__version__",
    "build_stream_url",
    "create_durable_stream",
    "define_stream_consumer",
    "define_stream_producer",
    "define_stream_schema",
    "get_streams_auth",
    "get_streams_url",
    "hookimpl",
    "inspect_stream_topic",
    "open_stream_view",
]
_HOST = frozenset({"Config", "hookimpl"})
_STREAMS = frozenset(__all__) - _HOST - {"__version__"}

if TYPE_CHECKING:
    from netscript.host.config import Config
    from netscript.host.markers import hookimpl
    from netscript.plugins.streams.core import (
        Change,
        ChangeEvent,
        CollectionDefinition,
        DurableStreamProducer,
        ProducerOptions,
        StateSchema,
        StreamBufferFull,
        StreamClosedError,
        StreamConfigError,
        StreamDeliveryError,
        StreamError,
        StreamSchemaError,
        StreamUnsupportedOperationError,
        StreamView,
        build_stream_url,
        create_durable_stream,
        define_stream_consumer,
        define_stream_producer,
        define_stream_schema,
        get_streams_auth,
        get_streams_url,
        inspect_stream_topic,
        open_stream_view,
    )


def __getattr__(name: str) -> Any:
    if name == "hookimpl":
        from netscript.host.markers import hookimpl

        return hookimpl
    if name == "Config":
        from netscript.host.config import Config

        return Config
    if name in _STREAMS:
        from netscript.plugins.streams import core

        return getattr(core, name)
    raise AttributeError(f"module 'netscript' has no attribute {name!r}")
