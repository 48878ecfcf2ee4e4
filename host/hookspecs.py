"""The host's hooks, and nothing else.

A plugin's own extension points (the workers plugin's ``netscript_register_jobs``, say) are
declared in that plugin's ``hookspecs.py`` and added with :func:`netscript_register_hookspecs`.

Hooks are called with keyword arguments only, so a spec can grow an argument without
breaking plugins: an implementation declares only the arguments it uses. Contributions go
through a ``register`` callback; the host validates what is registered in one place
(``netscript/host/registry.py``) and a bad registration is one line naming the plugin.

Loading the app calls the first five in this order, each plugin in dependency order; a run
(``netscript up``) then calls the last two:

1. ``netscript_register_hookspecs``, then every hookimpl is checked against a spec;
2. ``netscript_register_plugin``; the plugin graph is ordered (``--without`` applied);
3. ``netscript_register_settings``; every plugin's settings are validated;
4. ``netscript_configure``;
5. ``netscript_register_resources``; the resource graph is ordered;
6. (the resources start) ``netscript_startup`` once every resource is up;
7. ``netscript_shutdown`` when the run stops (reverse order), before any resource stops.

The app is loaded by ``netscript up``, and again wherever the same app is needed: by
:func:`netscript.load_app` in a plugin's own process, by a plugin's command, by ``netscript
--help`` refreshing its list of commands, by ``graph`` and ``plugins``. So the registration
hooks and ``netscript_configure`` may run in several processes and more than once per run:
keep them declarations, free of side effects. ``netscript_startup`` and
``netscript_shutdown`` run only in ``netscript up``, once per run.

``netscript_register_commands`` is called when the CLI looks for a command that is not one
of its own (``netscript <command>``), and when ``netscript --help`` lists them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .markers import hookspec

if TYPE_CHECKING:
    from netscript.orchestrator.states import ResourceStatus

    from .config import Config
    from .context import RunContext


@hookspec
def netscript_register_hookspecs(register: Callable[[object], None]) -> None:
    """Declare hooks of the plugin's own, for other plugins to implement.

    Called each time the app is loaded, right after every plugin is imported and before any
    hookimpl is checked, so other plugins may implement these hooks. Like pytest's
    ``pytest_addhooks``.

    :param register: call ``register(module)`` with a module (or class) whose functions are
        marked ``@hookspec``; every name must start with ``netscript_`` and be new. The
        plugin calls its hooks itself, usually in its service (:func:`netscript.load_app`,
        then ``app.host.call_each(...)``).
    """


@hookspec
def netscript_register_plugin(register: Callable[..., None]) -> None:
    """Declare the plugin's manifest.

    Called each time the app is loaded, after the hookspecs are added, before anything else
    of the plugin.

    :param register: call ``register(PluginManifest(...))`` (or with the same fields as
        keyword arguments) exactly once.
    """


@hookspec
def netscript_register_settings(register: Callable[[type[Any]], None]) -> None:
    """Declare the plugin's typed settings.

    Called each time the app is loaded, after every manifest is registered and the plugins
    are ordered.
    Values come from ``Config(settings={"<plugin>": {...}})`` and the environment
    (``NETSCRIPT_<PLUGIN>__<FIELD>``, which wins); a bad value stops the run before
    anything starts, naming the plugin and the field.

    :param register: call ``register(Model)`` once, with a pydantic model class whose
        fields all have defaults or are set in the config or the environment.
    """


@hookspec
def netscript_configure(config: Config) -> None:
    """Adjust or validate the run's configuration.

    Called each time the app is loaded, after every plugin's settings are validated and
    before any resource is registered, in plugin order; what it changes in ``config`` is what
    ``netscript_register_resources`` sees. (A warm start may already have launched the last
    run's root resources; any root this changes is restarted, never kept stale.)

    :param config: the run's :class:`netscript.Config`.
    """


@hookspec
def netscript_register_resources(
    register: Callable[..., None], config: Config, settings: Any
) -> None:
    """Contribute the services (resources) the plugin runs.

    Called each time the app is loaded, after ``netscript_configure``, in plugin order.

    :param register: call ``register(ResourceSpec(...))`` (or keyword arguments) once
        per resource. The resource belongs to the calling plugin.
    :param config: the run's :class:`netscript.Config`.
    :param settings: the plugin's validated settings (``None`` if it registered no model),
        so a setting can shape its resources (how many replicas, say).
    """


@hookspec
def netscript_startup(
    config: Config, resources: dict[str, ResourceStatus], context: RunContext
) -> Any:
    """The app is up: every resource reached its start condition.

    Called once per run, the first time every resource is up (never, if one never comes
    up), in plugin order. May return an awaitable, which is awaited before the next plugin's.

    :param config: the run's configuration.
    :param resources: resource name -> status, as it was when the app came up (read-only).
    :param context: the run: live statuses, ``restart(name)``, the streams endpoint and
        credentials, ``announce(text)``.
    """


@hookspec
def netscript_shutdown(config: Config) -> Any:
    """The run is stopping.

    Called once per run, when it stops (Ctrl-C, SIGTERM, ``netscript down``, or a failure
    with ``--exit-on-failure``), in reverse plugin order, before any resource is stopped.
    Every plugin is called even if one fails. May return an awaitable.

    :param config: the run's configuration.
    """


@hookspec
def netscript_register_commands(register: Callable[..., None]) -> None:
    """Contribute CLI subcommands (``netscript <name> ...``).

    Called when ``netscript`` is given a command that is not one of its own (``up``,
    ``ps``, ...), and when ``netscript --help`` lists the app's commands (cached between
    runs while the app's files are unchanged); not during ``netscript up``.

    :param register: call ``register(name=, help=, configure=, run=)``:
        ``configure(parser)`` adds ``argparse`` arguments (``--config`` is reserved), and
        ``run(args) -> int`` executes the command and returns its exit code;
        ``args.netscript`` is a :class:`netscript.CommandContext` (the app, the plugin's
        settings and state folder).
    """
