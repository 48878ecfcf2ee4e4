"""``inspect_stream_topic``: a JSON-stable diagnostic report of a schema (and producer)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from .schema import StateSchema


class StreamTopicInspectionReport(BaseModel):
    """What :func:`inspect_stream_topic` returns; ``model_dump_json()`` is stable.

    Example::

        report = inspect_stream_topic(schema, stream_path="/jobs")
        report.summary  # "1 collection(s): job on /jobs"
    """

    package: str
    target: str
    summary: str
    details: dict[str, Any]


def inspect_stream_topic(
    schema: StateSchema, *, stream_path: str | None = None, producer_id: str | None = None
) -> StreamTopicInspectionReport:
    """Describe a schema and, optionally, the producer bound to it.

    Example::

        inspect_stream_topic(executions_schema, stream_path="/workers/executions",
                             producer_id="workers-service").model_dump()
    """
    collections = []
    for name in sorted(schema):
        definition = schema[name].definition
        model = definition.schema
        collections.append(
            {
                "name": name,
                "type": definition.type,
                "primaryKey": definition.primary_key,
                "model": model.__name__,
                "fields": sorted(model.model_fields),
            }
        )
    names = ", ".join(c["name"] for c in collections)  # type: ignore[misc]
    target = stream_path or "schema"
    summary = f"{len(collections)} collection(s): {names}"
    if stream_path:
        summary += f" on {stream_path}"
    if producer_id:
        summary += f" produced by {producer_id}"
    return StreamTopicInspectionReport(
        package="netscript.streams",
        target=target,
        summary=summary,
        details={"collections": collections, "streamPath": stream_path, "producerId": producer_id},
    )
