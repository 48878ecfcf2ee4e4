"""Typed stream schemas: collections of entities, and State Protocol change events.

A schema maps collection names to :class:`CollectionDefinition` (a pydantic model, the
State Protocol ``type`` discriminator and the primary-key field). Its per-collection
helpers validate values and build change events::

    from pydantic import BaseModel
    from netscript import CollectionDefinition, define_stream_schema

    class Execution(BaseModel):
        id: str
        status: str

    schema = define_stream_schema(
        {"execution": CollectionDefinition(schema=Execution, type="execution", primary_key="id")}
    )
    event = schema["execution"].upsert({"id": "exec-1", "status": "running"})
    event.to_json()  # {"type": "execution", "key": "exec-1", "value": {...}, "headers": {...}}
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from json.encoder import encode_basestring_ascii
from types import MappingProxyType
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import StreamSchemaError, UnknownCollection

Operation = Literal["insert", "update", "delete", "upsert"]
OPERATIONS: tuple[Operation, ...] = ("insert", "update", "delete", "upsert")
M = TypeVar("M", bound=BaseModel)


class ChangeHeaders(BaseModel):
    """``headers`` of a State Protocol change event.

    Example::

        ChangeHeaders(operation="upsert", timestamp="2025-01-15T10:30:00Z")
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    operation: Operation
    timestamp: str | None = None
    txid: str | None = None


class ChangeEvent(BaseModel):
    """A State Protocol change event (``type``, ``key``, ``value``, ``old_value``, ``headers``).

    Example::

        event = schema["execution"].upsert({"id": "e1", "status": "running"})
        event.key, event.headers.operation  # ("e1", "upsert")
        producer.publish(event)
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    type: str
    key: str
    value: Any = None
    old_value: Any = None
    headers: ChangeHeaders

    def to_json(self) -> dict[str, Any]:
        """The wire form: optional fields are left out rather than sent as null."""
        return self.model_dump(mode="json", exclude_none=True)

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_json(), separators=(",", ":")).encode("utf-8")


def now_timestamp() -> str:
    """An RFC 3339 UTC timestamp with milliseconds, as the TypeScript producer writes."""
    return timestamp_bytes().decode()


_stamp_cache: tuple[int, bytes] = (-1, b"")


def timestamp_bytes() -> bytes:
    """:func:`now_timestamp` as bytes, formatted at most once per millisecond."""
    global _stamp_cache
    millis = time.time_ns() // 1_000_000
    cached_millis, cached = _stamp_cache
    if millis != cached_millis:
        moment = datetime.fromtimestamp(millis / 1000, UTC)
        cached = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z").encode()
        _stamp_cache = (millis, cached)
    return cached


def _json_string(text: str) -> bytes:
    """``json.dumps(text)`` as bytes (the C encoder ``json.dumps`` itself calls)."""
    return encode_basestring_ascii(text).encode()


_OPERATION_HEADERS = {
    operation: b',"headers":{"operation":"' + operation.encode() + b'","timestamp":"'
    for operation in OPERATIONS
}


@dataclass(frozen=True)
class CollectionDefinition(Generic[M]):
    """One collection: its pydantic ``schema``, State Protocol ``type`` and ``primary_key``.

    Example::

        CollectionDefinition(schema=Execution, type="execution", primary_key="id")
    """

    schema: type[M]
    type: str
    primary_key: str

    def __post_init__(self) -> None:
        if not (isinstance(self.schema, type) and issubclass(self.schema, BaseModel)):
            raise StreamSchemaError(f"schema must be a pydantic model class, got {self.schema!r}")
        if not self.type:
            raise StreamSchemaError("type must be a non-empty string")
        if self.primary_key not in self.schema.model_fields:
            raise StreamSchemaError(
                f"primary_key {self.primary_key!r} is not a field of {self.schema.__name__}"
            )


@dataclass(frozen=True)
class CollectionEvents(Generic[M]):
    """Event helpers for one collection: validate values, build change events.

    Example::

        schema["execution"].insert({"id": "e1", "status": "queued"})
        schema["execution"].delete("e1")
    """

    name: str
    definition: CollectionDefinition[M]

    def validate(self, value: M | Mapping[str, Any]) -> M:
        """Validate a value (a model instance or a mapping) against the collection's model."""
        model = self.definition.schema
        try:
            if isinstance(value, model):
                return model.model_validate(value.model_dump())
            return model.model_validate(value)
        except ValidationError as exc:
            raise StreamSchemaError(f"invalid {self.name!r} value: {exc}") from exc

    def key_of(self, value: M) -> str:
        key = getattr(value, self.definition.primary_key)
        if key is None or key == "":
            raise StreamSchemaError(
                f"{self.name!r} value has an empty primary key {self.definition.primary_key!r}"
            )
        return str(key)

    def _event(self, operation: Operation, key: str, value: Any, **extra: Any) -> ChangeEvent:
        headers = ChangeHeaders(
            operation=operation,
            timestamp=extra.pop("timestamp", None) or now_timestamp(),
            txid=extra.pop("txid", None),
        )
        return ChangeEvent(
            type=self.definition.type, key=key, value=value, headers=headers, **extra
        )

    def _change(
        self, operation: Operation, value: M | Mapping[str, Any], old_value: Any, **extra: Any
    ) -> ChangeEvent:
        model = self.validate(value)
        dumped = model.model_dump(mode="json")
        if old_value is not None:
            old_value = self.validate(old_value).model_dump(mode="json")
        return self._event(operation, self.key_of(model), dumped, old_value=old_value, **extra)

    def insert(self, value: M | Mapping[str, Any], **extra: Any) -> ChangeEvent:
        return self._change("insert", value, None, **extra)

    def update(
        self, value: M | Mapping[str, Any], *, old_value: Any = None, **extra: Any
    ) -> ChangeEvent:
        return self._change("update", value, old_value, **extra)

    def upsert(self, value: M | Mapping[str, Any], **extra: Any) -> ChangeEvent:
        return self._change("upsert", value, None, **extra)

    def delete(self, key: str, *, old_value: Any = None, **extra: Any) -> ChangeEvent:
        if key is None or str(key) == "":
            raise StreamSchemaError(f"{self.name!r} delete needs a non-empty key")
        if old_value is not None:
            old_value = self.validate(old_value).model_dump(mode="json")
        return self._event("delete", str(key), None, old_value=old_value, **extra)

    def encode(self, operation: Operation, value: M | Mapping[str, Any]) -> bytes:
        """The wire bytes of an insert / update / upsert of ``value`` (the producer's fast path).

        Same output as ``upsert(value).to_bytes()``, built without intermediate models.
        """
        schema = self.definition.schema
        if isinstance(value, schema):
            model = value
        else:
            try:
                # What model_validate calls, without its per-call argument handling (1 µs).
                model = schema.__pydantic_validator__.validate_python(value)
            except ValidationError as exc:
                raise StreamSchemaError(f"invalid {self.name!r} value: {exc}") from exc
        key = getattr(model, self.definition.primary_key)
        if key is None or key == "":
            self.key_of(model)  # raises the error
        return b"".join(
            (
                self._type_prefix,
                encode_basestring_ascii(key if type(key) is str else str(key)).encode(),
                b',"value":',
                model.__pydantic_serializer__.to_json(model),
                _OPERATION_HEADERS[operation],
                timestamp_bytes(),
                b'"}}',
            )
        )

    def encode_delete(self, key: str) -> bytes:
        """The wire bytes of a delete of ``key``."""
        if key is None or str(key) == "":
            raise StreamSchemaError(f"{self.name!r} delete needs a non-empty key")
        return b"".join(
            (
                self._type_prefix,
                _json_string(str(key)),
                b',"headers":{"operation":"delete","timestamp":"',
                timestamp_bytes(),
                b'"}}',
            )
        )

    @cached_property
    def _type_prefix(self) -> bytes:
        return b'{"type":' + json.dumps(self.definition.type).encode() + b',"key":'

    def parse_value(self, value: Any) -> M:
        """Validate a value read from the stream."""
        return self.validate(value)


@dataclass(frozen=True)
class StateSchema(Mapping[str, CollectionEvents[Any]]):
    """A frozen map of collection name → :class:`CollectionEvents`.

    Example::

        schema = define_stream_schema({"job": CollectionDefinition(Job, "job", "id")})
        schema["job"].upsert(Job(id="j1", name="nightly"))
        schema.collection_for_type("job")  # "job"
    """

    collections: Mapping[str, CollectionEvents[Any]]
    _by_type: Mapping[str, str] = field(repr=False)

    def __getitem__(self, name: str) -> CollectionEvents[Any]:
        try:
            return self.collections[name]
        except KeyError:
            raise UnknownCollection(
                f"unknown collection {name!r}; the schema has {sorted(self.collections)}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.collections)

    def __len__(self) -> int:
        return len(self.collections)

    def collection_for_type(self, event_type: str) -> str | None:
        """The collection whose State Protocol ``type`` is ``event_type``."""
        return self._by_type.get(event_type)


def define_stream_schema(collections: Mapping[str, CollectionDefinition[Any]]) -> StateSchema:
    """Freeze a map of collections into a :class:`StateSchema`.

    Example::

        schema = define_stream_schema({
            "execution": CollectionDefinition(schema=Execution, type="execution", primary_key="id"),
        })
    """
    if not collections:
        raise StreamSchemaError("a stream schema needs at least one collection")
    by_type: dict[str, str] = {}
    helpers: dict[str, CollectionEvents[Any]] = {}
    for name, definition in collections.items():
        if not isinstance(definition, CollectionDefinition):
            raise StreamSchemaError(f"collection {name!r} must be a CollectionDefinition")
        if definition.type in by_type:
            raise StreamSchemaError(
                f"collections {by_type[definition.type]!r} and {name!r} share type "
                f"{definition.type!r}"
            )
        by_type[definition.type] = name
        helpers[name] = CollectionEvents(name, definition)
    return StateSchema(MappingProxyType(helpers), MappingProxyType(by_type))
