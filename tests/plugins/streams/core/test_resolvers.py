"""Unit tests of where the server is, how to authenticate, and the topic inspection report."""

from __future__ import annotations

import json

import pytest

from netscript import (
    CollectionDefinition,
    StreamConfigError,
    build_stream_url,
    define_stream_schema,
    get_streams_auth,
    get_streams_url,
    inspect_stream_topic,
)
from netscript.plugins.streams.core.resolvers import needs_tls
from tests.plugins.streams.core.helpers import SCHEMA, Execution, Job

ASPIRE = "services__streams__http__0"

# -- URL -----------------------------------------------------------------------------------


def test_explicit_override_wins_over_discovery() -> None:
    env = {"DURABLE_STREAMS_URL": "http://127.0.0.1:1111", ASPIRE: "http://127.0.0.1:2222"}
    assert get_streams_url(env) == "http://127.0.0.1:1111"


def test_discovery_variable_is_used_when_no_override() -> None:
    assert get_streams_url({ASPIRE: "https://streams.local:4437"}) == "https://streams.local:4437"
    blank = {"DURABLE_STREAMS_URL": "   ", ASPIRE: "http://127.0.0.1:2222"}
    assert get_streams_url(blank) == "http://127.0.0.1:2222"


def test_values_are_stripped() -> None:
    assert get_streams_url({"DURABLE_STREAMS_URL": " http://127.0.0.1:1 \n"}) == (
        "http://127.0.0.1:1"
    )


def test_no_url_names_both_variables() -> None:
    with pytest.raises(StreamConfigError) as caught:
        get_streams_url({"UNRELATED": "http://127.0.0.1:1"})
    message = str(caught.value)
    assert "DURABLE_STREAMS_URL" in message
    assert ASPIRE in message
    assert "netscript up" in message


@pytest.mark.parametrize("value", ["127.0.0.1:4437", "ftp://127.0.0.1:4437", "streams"])
def test_non_http_url_is_rejected_with_the_variable_named(value: str) -> None:
    with pytest.raises(StreamConfigError, match=r"DURABLE_STREAMS_URL=.* is not an http"):
        get_streams_url({"DURABLE_STREAMS_URL": value})
    with pytest.raises(StreamConfigError, match=rf"{ASPIRE}=.* is not an http"):
        get_streams_url({ASPIRE: value})


def test_process_environment_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DURABLE_STREAMS_URL", raising=False)
    monkeypatch.setenv(ASPIRE, "http://127.0.0.1:4437")
    assert get_streams_url() == "http://127.0.0.1:4437"
    monkeypatch.setenv("DURABLE_STREAMS_URL", "http://127.0.0.1:9")
    assert get_streams_url() == "http://127.0.0.1:9"
    assert build_stream_url("/a") == "http://127.0.0.1:9/a"
    monkeypatch.delenv("DURABLE_STREAMS_URL")
    monkeypatch.delenv(ASPIRE)
    with pytest.raises(StreamConfigError):
        build_stream_url("/a")


@pytest.mark.parametrize(
    ("path", "base", "expected"),
    [
        (
            "/workers/executions",
            "http://127.0.0.1:4437/",
            "http://127.0.0.1:4437/workers/executions",
        ),
        (
            "/workers/executions",
            "http://127.0.0.1:4437",
            "http://127.0.0.1:4437/workers/executions",
        ),
        (
            "workers/executions",
            "http://127.0.0.1:4437///",
            "http://127.0.0.1:4437/workers/executions",
        ),
        ("/a", "http://127.0.0.1:4437/prefix/", "http://127.0.0.1:4437/prefix/a"),
    ],
)
def test_build_stream_url_trims_slashes(path: str, base: str, expected: str) -> None:
    assert build_stream_url(path, base) == expected


def test_build_stream_url_rejects_an_empty_path() -> None:
    with pytest.raises(StreamConfigError, match="must not be empty"):
        build_stream_url("", "http://127.0.0.1:4437")


# -- auth ----------------------------------------------------------------------------------


def test_auth_header_forms() -> None:
    assert get_streams_auth({}) == {}
    assert get_streams_auth({"STREAMS_SECRET": "s3cret"}) == {"Authorization": "Bearer s3cret"}
    assert get_streams_auth({"DURABLE_STREAMS_SECRET": "d"}) == {"Authorization": "Bearer d"}
    both = {"STREAMS_SECRET": "first", "DURABLE_STREAMS_SECRET": "second"}
    assert get_streams_auth(both) == {"Authorization": "Bearer first"}
    empty_first = {"STREAMS_SECRET": "", "DURABLE_STREAMS_SECRET": "second"}
    assert get_streams_auth(empty_first) == {"Authorization": "Bearer second"}


def test_auth_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMS_SECRET", raising=False)
    monkeypatch.setenv("DURABLE_STREAMS_SECRET", "from-env")
    assert get_streams_auth() == {"Authorization": "Bearer from-env"}
    monkeypatch.delenv("DURABLE_STREAMS_SECRET")
    assert get_streams_auth() == {}


# -- inspection ------------------------------------------------------------------------------


def test_inspection_is_json_stable_and_sorted() -> None:
    reversed_schema = define_stream_schema(
        {
            "job": CollectionDefinition(Job, "job", "id"),
            "execution": CollectionDefinition(Execution, "execution", "id"),
        }
    )
    first = inspect_stream_topic(SCHEMA, stream_path="/w/x", producer_id="svc")
    second = inspect_stream_topic(SCHEMA, stream_path="/w/x", producer_id="svc")
    other_order = inspect_stream_topic(reversed_schema, stream_path="/w/x", producer_id="svc")
    dumped = first.model_dump_json()
    assert dumped == second.model_dump_json() == other_order.model_dump_json()
    assert first.model_dump() == json.loads(dumped)

    report = json.loads(dumped)
    assert report["package"] == "netscript.streams"
    assert report["target"] == "/w/x"
    assert report["summary"] == "2 collection(s): execution, job on /w/x produced by svc"
    collections = report["details"]["collections"]
    assert [c["name"] for c in collections] == ["execution", "job"]
    assert collections[0] == {
        "name": "execution",
        "type": "execution",
        "primaryKey": "id",
        "model": "Execution",
        "fields": ["attempt", "id", "status"],
    }
    assert collections[1]["fields"] == sorted(collections[1]["fields"])
    assert report["details"]["streamPath"] == "/w/x"
    assert report["details"]["producerId"] == "svc"


def test_inspection_without_a_stream() -> None:
    report = inspect_stream_topic(SCHEMA).model_dump()
    assert report["target"] == "schema"
    assert report["summary"] == "2 collection(s): execution, job"
    assert report["details"]["streamPath"] is None
    assert report["details"]["producerId"] is None


@pytest.mark.parametrize(
    ("url", "tls"),
    [
        ("http://127.0.0.1:4437", False),
        ("HTTP://localhost", False),
        ("https://streams.example", True),
        ("HTTPS://streams.example", True),
    ],
)
def test_certificates_are_loaded_only_for_https(url: str, tls: bool) -> None:
    assert needs_tls(url) is tls
