"""The streams core library: typed schemas, the durable producer, the live consumer.

This is the seed's ``@netscript/plugin-streams-core`` in Python; ``netscript``
re-exports it. Start with :func:`define_stream_schema` and :func:`create_durable_stream`.
"""

from .errors import (
    StreamBufferFull,
    StreamClosedError,
    StreamConfigError,
    StreamDeliveryError,
    StreamError,
    StreamSchemaError,
    StreamUnsupportedOperationError,
)
from .inspection import StreamTopicInspectionReport, inspect_stream_topic
from .producer import DurableStreamProducer, ProducerOptions, create_durable_stream
from .resolvers import build_stream_url, get_streams_auth, get_streams_url
from .schema import (
    ChangeEvent,
    ChangeHeaders,
    CollectionDefinition,
    CollectionEvents,
    StateSchema,
    define_stream_schema,
)
from .topics import (
    StreamTopicConsumer,
    StreamTopicProducer,
    Subscription,
    define_stream_consumer,
    define_stream_producer,
)
from .view import Change, StreamView, open_stream_view

__all__ = [
    "Change",
    "ChangeEvent",
    "ChangeHeaders",
    "CollectionDefinition",
    "CollectionEvents",
    "DurableStreamProducer",
    "ProducerOptions",
    "StateSchema",
    "StreamBufferFull",
    "StreamClosedError",
    "StreamConfigError",
    "StreamDeliveryError",
    "StreamError",
    "StreamSchemaError",
    "StreamTopicConsumer",
    "StreamTopicInspectionReport",
    "StreamTopicProducer",
    "StreamUnsupportedOperationError",
    "StreamView",
    "Subscription",
    "build_stream_url",
    "create_durable_stream",
    "define_stream_consumer",
    "define_stream_producer",
    "define_stream_schema",
    "get_streams_auth",
    "get_streams_url",
    "inspect_stream_topic",
    "open_stream_view",
]
