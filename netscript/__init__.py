"""NetScript for Python: everything a plugin author imports, from one place.

``from netscript import hookimpl, Config, ResourceSpec, define_stream_schema, ...``. The
built-in plugins import nothing else of the host or the orchestrator. Names load lazily, so
``netscript --help`` does not import pydantic and httpx.

The installed distribution is this one package: ``netscript.host`` (the pluggy host),
``netscript.orchestrator`` (``netscript up``) and ``netscript.plugins.<name>`` (the
built-in plugins) live under it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> the module that defines it (imported on first use)
_WHERE = {
    # plugins: markers, manifests, the loaded app, errors
    "hookimpl": "netscript.host.markers",
    "hookspec": "netscript.host.markers",
    "Config": "netscript.host.config",
    "PluginManifest": "netscript.host.manifest",
    "ResourceSpec": "netscript.host.manifest",
    "HealthProbe": "netscript.host.manifest",
    "RestartPolicy": "netscript.host.manifest",
    "Dependency": "netscript.host.manifest",
    "App": "netscript.host.model",
    "LoadedPlugin": "netscript.host.model",
    "Resource": "netscript.host.model",
    "load_app": "netscript.host.app",
    "HostError": "netscript.host.errors",
    "CycleError": "netscript.host.graph",
    "MissingDependencyError": "netscript.host.graph",
    "RunContext": "netscript.host.context",
    "CommandContext": "netscript.host.context",
    # the statuses `netscript up` publishes to /netscript/resources
    "ResourceStatus": "netscript.orchestrator.states",
    "ResourceState": "netscript.orchestrator.states",
    "Health": "netscript.orchestrator.states",
    "control_resource": "netscript.orchestrator.client",
    # a plugin's service process
    "plugin_settings": "netscript.service",
    "plugin_state_dir": "netscript.service",
    "serve": "netscript.service",
    "serve_async": "netscript.service",
    "plugin_api": "netscript.webapi",
    "ApiClient": "netscript.apiclient",
    "ApiError": "netscript.apiclient",
    "service_url": "netscript.apiclient",
    "run_client_command": "netscript.apiclient",
    "print_result": "netscript.apiclient",
    "json_argument": "netscript.apiclient",
    "wait_for_entity": "netscript.follow",
    "CamelModel": "netscript.webapi",
    "ErrorBody": "netscript.webapi",
    "json_reply": "netscript.webapi",
    "json_error": "netscript.webapi",
    "describe_errors": "netscript.webapi",
    "LoopbackGuard": "netscript.guard",
    "split_host": "netscript.guard",
    "lazy": "netscript.helpers",
    "Backoff": "netscript.retry",
    "backoff_delay": "netscript.retry",
    "env_port": "netscript.helpers",
    "service_resource": "netscript.helpers",
    # the workers plugin's public side: what a job is run with, and the client
    "JobContext": "netscript.plugins.workers.jobs",
    "PermanentError": "netscript.plugins.workers.jobs",
    "WorkersClient": "netscript.plugins.workers.client",
    "WorkersError": "netscript.plugins.workers.client",
    # the sagas plugin's public side: what a saga is written with
    "Saga": "netscript.plugins.sagas.definitions",
    "Step": "netscript.plugins.sagas.definitions",
    "SagaContext": "netscript.plugins.sagas.definitions",
    "SagasClient": "netscript.plugins.sagas.client",
    "SagasError": "netscript.plugins.sagas.client",
    # the dashboard plugin's public side: a plugin's panel
    "Panel": "netscript.plugins.dashboard.panels",
    "Column": "netscript.plugins.dashboard.panels",
    "RowAction": "netscript.plugins.dashboard.panels",
    # the triggers plugin's public side: what a trigger is written with, and the client
    "Webhook": "netscript.plugins.triggers.definitions",
    "Cron": "netscript.plugins.triggers.definitions",
    "FileWatch": "netscript.plugins.triggers.definitions",
    "TriggerEvent": "netscript.plugins.triggers.definitions",
    "enqueue_job": "netscript.plugins.triggers.definitions",
    "start_saga": "netscript.plugins.triggers.definitions",
    "defer": "netscript.plugins.triggers.definitions",
    "TriggersClient": "netscript.plugins.triggers.client",
    "webhook_secret": "netscript.plugins.triggers.secret_store",
    "sign_webhook": "netscript.plugins.triggers.signatures",
    "TriggersError": "netscript.plugins.triggers.client",
    # a plugin's storage: SQLite or PostgreSQL, migrations, the outbox
    "open_database": "netscript.storage",
    "Database": "netscript.storage",
    "Migration": "netscript.storage",
    "StorageError": "netscript.storage",
    "Transaction": "netscript.storage",
    "wait_unless": "netscript.storage",
    "Outbox": "netscript.storage.outbox",
    "OutboxPublisher": "netscript.storage.outbox",
    "outbox_migration": "netscript.storage.outbox",
    # the streams library
    **dict.fromkeys(
        [
            "Change",
            "ChangeEvent",
            "CollectionDefinition",
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
            "build_stream_url",
            "create_durable_stream",
            "define_stream_consumer",
            "define_stream_producer",
            "define_stream_schema",
            "get_streams_auth",
            "get_streams_url",
            "inspect_stream_topic",
            "open_stream_view",
        ],
        "netscript.plugins.streams.core",
    ),
}

__all__ = [
    "ApiClient",
    "ApiError",
    "App",
    "Backoff",
    "CamelModel",
    "Change",
    "ChangeEvent",
    "CollectionDefinition",
    "Column",
    "CommandContext",
    "Config",
    "Cron",
    "CycleError",
    "Database",
    "Dependency",
    "DurableStreamProducer",
    "ErrorBody",
    "FileWatch",
    "Health",
    "HealthProbe",
    "HostError",
    "JobContext",
    "LoadedPlugin",
    "LoopbackGuard",
    "Migration",
    "MissingDependencyError",
    "Outbox",
    "OutboxPublisher",
    "Panel",
    "PermanentError",
    "PluginManifest",
    "ProducerOptions",
    "Resource",
    "ResourceSpec",
    "ResourceState",
    "ResourceStatus",
    "RestartPolicy",
    "RowAction",
    "RunContext",
    "Saga",
    "SagaContext",
    "SagasClient",
    "SagasError",
    "StateSchema",
    "Step",
    "StorageError",
    "StreamBufferFull",
    "StreamClosedError",
    "StreamConfigError",
    "StreamDeliveryError",
    "StreamError",
    "StreamSchemaError",
    "StreamUnsupportedOperationError",
    "StreamView",
    "Transaction",
    "TriggerEvent",
    "TriggersClient",
    "TriggersError",
    "Webhook",
    "WorkersClient",
    "WorkersError",
    "__version__",
    "backoff_delay",
    "build_stream_url",
    "control_resource",
    "create_durable_stream",
    "defer",
    "define_stream_consumer",
    "define_stream_producer",
    "define_stream_schema",
    "describe_errors",
    "enqueue_job",
    "env_port",
    "get_streams_auth",
    "get_streams_url",
    "hookimpl",
    "hookspec",
    "inspect_stream_topic",
    "json_argument",
    "json_error",
    "json_reply",
    "lazy",
    "load_app",
    "open_database",
    "open_stream_view",
    "outbox_migration",
    "plugin_api",
    "plugin_settings",
    "plugin_state_dir",
    "print_result",
    "run_client_command",
    "serve",
    "serve_async",
    "service_resource",
    "service_url",
    "sign_webhook",
    "split_host",
    "start_saga",
    "wait_for_entity",
    "wait_unless",
    "webhook_secret",
]

if TYPE_CHECKING:
    from netscript.apiclient import (
        ApiClient,
        ApiError,
        json_argument,
        print_result,
        run_client_command,
        service_url,
    )
    from netscript.follow import wait_for_entity
    from netscript.guard import LoopbackGuard, split_host
    from netscript.helpers import env_port, lazy, service_resource
    from netscript.host.app import load_app
    from netscript.host.config import Config
    from netscript.host.context import CommandContext, RunContext
    from netscript.host.errors import HostError
    from netscript.host.graph import CycleError, MissingDependencyError
    from netscript.host.manifest import (
        Dependency,
        HealthProbe,
        PluginManifest,
        ResourceSpec,
        RestartPolicy,
    )
    from netscript.host.markers import hookimpl, hookspec
    from netscript.host.model import App, LoadedPlugin, Resource
    from netscript.orchestrator.client import control_resource
    from netscript.orchestrator.states import Health, ResourceState, ResourceStatus
    from netscript.plugins.dashboard.panels import Column, Panel, RowAction
    from netscript.plugins.sagas.client import SagasClient, SagasError
    from netscript.plugins.sagas.definitions import Saga, SagaContext, Step
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
    from netscript.plugins.triggers.client import TriggersClient, TriggersError
    from netscript.plugins.triggers.definitions import (
        Cron,
        FileWatch,
        TriggerEvent,
        Webhook,
        defer,
        enqueue_job,
        start_saga,
    )
    from netscript.plugins.triggers.secret_store import webhook_secret
    from netscript.plugins.triggers.signatures import sign_webhook
    from netscript.plugins.workers.client import WorkersClient, WorkersError
    from netscript.plugins.workers.jobs import JobContext, PermanentError
    from netscript.retry import Backoff, backoff_delay
    from netscript.service import plugin_settings, plugin_state_dir, serve, serve_async
    from netscript.storage import (
        Database,
        Migration,
        StorageError,
        Transaction,
        open_database,
        wait_unless,
    )
    from netscript.storage.outbox import Outbox, OutboxPublisher, outbox_migration
    from netscript.webapi import (
        CamelModel,
        ErrorBody,
        describe_errors,
        json_error,
        json_reply,
        plugin_api,
    )


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'netscript' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return __all__
