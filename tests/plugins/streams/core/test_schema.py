"""Unit tests of typed stream schemas and the State Protocol change events they build."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel

from netscript import CollectionDefinition, StreamSchemaError, define_stream_schema
from tests.plugins.streams.core.helpers import SCHEMA, Execution, Job

RFC3339_MILLIS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


class Numbered(BaseModel):
    number: int
    label: str


def assert_recent_timestamp(value: str) -> None:
    assert RFC3339_MILLIS_Z.match(value), value
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None
    assert abs(datetime.now(UTC) - parsed) < timedelta(seconds=60)


# -- validation --------------------------------------------------------------------------


def test_unknown_collection_raises_schema_error_naming_the_known_ones() -> None:
    with pytest.raises(StreamSchemaError, match=r"unknown collection 'nope'") as caught:
        SCHEMA["nope"]
    assert "['execution', 'job']" in str(caught.value)
    assert isinstance(caught.value, ValueError)  # usable where a ValueError is expected


def test_invalid_values_raise_schema_error() -> None:
    with pytest.raises(StreamSchemaError, match="invalid 'execution' value"):
        SCHEMA["execution"].upsert({"id": "e1"})  # status is required
    with pytest.raises(StreamSchemaError):
        SCHEMA["execution"].upsert({"id": "e1", "status": "ok", "attempt": "many"})
    with pytest.raises(StreamSchemaError):
        SCHEMA["job"].insert(["not", "a", "mapping"])  # type: ignore[arg-type]
    with pytest.raises(StreamSchemaError):
        SCHEMA["execution"].update({"id": "e1", "status": "ok"}, old_value={"id": "e1"})


def test_empty_primary_key_raises_schema_error() -> None:
    with pytest.raises(StreamSchemaError, match="empty primary key 'id'"):
        SCHEMA["execution"].upsert({"id": "", "status": "queued"})
    with pytest.raises(StreamSchemaError, match="non-empty key"):
        SCHEMA["execution"].delete("")


def test_duplicate_type_across_collections_is_rejected() -> None:
    with pytest.raises(StreamSchemaError, match="share type 'execution'"):
        define_stream_schema(
            {
                "execution": CollectionDefinition(Execution, "execution", "id"),
                "retry": CollectionDefinition(Job, "execution", "id"),
            }
        )


def test_primary_key_must_be_a_field_of_the_model() -> None:
    with pytest.raises(StreamSchemaError, match="primary_key 'uuid' is not a field of Execution"):
        CollectionDefinition(schema=Execution, type="execution", primary_key="uuid")


def test_definition_and_schema_shape_errors() -> None:
    with pytest.raises(StreamSchemaError, match="pydantic model class"):
        CollectionDefinition(schema=dict, type="x", primary_key="id")  # type: ignore[type-var]
    with pytest.raises(StreamSchemaError, match="non-empty"):
        CollectionDefinition(schema=Execution, type="", primary_key="id")
    with pytest.raises(StreamSchemaError, match="at least one collection"):
        define_stream_schema({})
    with pytest.raises(StreamSchemaError, match="must be a CollectionDefinition"):
        define_stream_schema({"job": {"schema": Job, "type": "job"}})  # type: ignore[dict-item]


# -- events ------------------------------------------------------------------------------


def test_upsert_event_wire_shape() -> None:
    event = SCHEMA["execution"].upsert({"id": "exec-1", "status": "running"})
    wire = event.to_json()
    assert set(wire) == {"type", "key", "value", "headers"}  # no null old_value
    assert wire["type"] == "execution"
    assert wire["key"] == "exec-1"
    assert wire["value"] == {"id": "exec-1", "status": "running", "attempt": 0}
    assert set(wire["headers"]) == {"operation", "timestamp"}  # no null txid
    assert wire["headers"]["operation"] == "upsert"
    assert_recent_timestamp(wire["headers"]["timestamp"])
    assert json.loads(event.to_bytes()) == wire
    assert b" " not in event.to_bytes()  # compact separators


def test_model_instances_and_operations() -> None:
    job = Job(id="j1", name="nightly", version=3)
    for operation in ("insert", "update", "upsert"):
        wire = getattr(SCHEMA["job"], operation)(job).to_json()
        assert wire["headers"]["operation"] == operation
        assert wire["value"] == {"id": "j1", "name": "nightly", "version": 3}
        assert wire["key"] == "j1"


def test_update_with_old_value_and_txid() -> None:
    event = SCHEMA["job"].update(
        {"id": "j1", "name": "b"}, old_value=Job(id="j1", name="a"), txid="tx-9"
    )
    wire = event.to_json()
    assert wire["old_value"] == {"id": "j1", "name": "a", "version": 0}
    assert wire["headers"]["txid"] == "tx-9"
    assert wire["headers"]["operation"] == "update"


def test_explicit_timestamp_is_kept() -> None:
    wire = SCHEMA["job"].upsert({"id": "j", "name": "n"}, timestamp="2024-01-02T03:04:05.678Z")
    assert wire.to_json()["headers"]["timestamp"] == "2024-01-02T03:04:05.678Z"


def test_delete_event_wire_shape() -> None:
    wire = SCHEMA["job"].delete("j-7").to_json()
    assert set(wire) == {"type", "key", "headers"}  # value is left out, not null
    assert wire["type"] == "job"
    assert wire["key"] == "j-7"
    assert wire["headers"]["operation"] == "delete"
    assert_recent_timestamp(wire["headers"]["timestamp"])
    with_old = SCHEMA["job"].delete("j-7", old_value={"id": "j-7", "name": "x"}).to_json()
    assert with_old["old_value"] == {"id": "j-7", "name": "x", "version": 0}


def test_non_string_primary_key_is_stringified() -> None:
    schema = define_stream_schema({"numbers": CollectionDefinition(Numbered, "number", "number")})
    wire = schema["numbers"].upsert({"number": 7, "label": "seven"}).to_json()
    assert wire["key"] == "7"
    assert wire["value"] == {"number": 7, "label": "seven"}
    assert schema["numbers"].upsert({"number": 0, "label": "zero"}).key == "0"


def test_collection_for_type_and_mapping_protocol() -> None:
    schema = define_stream_schema(
        {
            "executions": CollectionDefinition(Execution, "execution", "id"),
            "jobs": CollectionDefinition(Job, "job", "id"),
        }
    )
    assert schema.collection_for_type("execution") == "executions"
    assert schema.collection_for_type("job") == "jobs"
    assert schema.collection_for_type("jobs") is None
    assert schema.collection_for_type("unknown") is None
    assert len(schema) == 2
    assert list(schema) == ["executions", "jobs"]
    assert schema["jobs"].definition.primary_key == "id"


def test_schema_honours_the_mapping_protocol_for_missing_names() -> None:
    """StateSchema is a Mapping: membership and .get() of a missing name must not raise."""
    assert "execution" in SCHEMA
    assert "nope" not in SCHEMA
    assert SCHEMA.get("nope") is None


def test_parse_value_validates_stream_values() -> None:
    parsed = SCHEMA["execution"].parse_value({"id": "e", "status": "done", "attempt": 2})
    assert parsed == Execution(id="e", status="done", attempt=2)
    with pytest.raises(StreamSchemaError):
        SCHEMA["execution"].parse_value({"id": "e"})
    with pytest.raises(StreamSchemaError):
        SCHEMA["execution"].parse_value(None)
