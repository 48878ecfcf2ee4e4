"""The pluggy host: hookspecs, plugin manager, config loading and the plugin graph.

Writing a plugin (this docstring is the tutorial)::

    # plugins/hello/hooks.py -- declarations only, no I/O at import
    from netscript import hookimpl

    @hookimpl
    def netscript_register_plugin(register):
        register(name="hello", kind="service", depends_on=["streams"])

    @hookimpl
    def netscript_register_resources(register, config):
        register(name="hello", module="plugins.hello", dynamic_port=True,
                 health={"path": "/health"})

and name it in ``netscript.config.py``: ``Config(plugins=["streams", "./plugins/hello"])``
(``streams`` is a built-in: ``netscript.plugins.streams``). The host imports
``plugins.hello`` (the project folder is on ``sys.path``), takes its ``hooks`` submodule
(the package has no hookimpls of its own), validates the manifest, starts ``streams``
first, and gives ``hello`` ``services__streams__http__0`` once streams is healthy.

The modules, one concept each:

- ``markers``: ``hookspec`` / ``hookimpl``; ``hookspecs``: every hook, nothing else;
- ``manifest``: what a plugin declares; ``model``: the loaded app; ``errors``: ``HostError``;
- ``config``: ``Config`` and ``load_config_file``; ``loading``: references to plugin objects;
- ``registry``: the ``register`` callbacks; ``graph``: start order; ``resources``: linking;
- ``manager``: ``Host`` (the typed plugin manager) and ``load_app``;
- ``awaitables``: the one bridge from sync hooks to async; ``messages``: one-line errors.

Importing this package imports nothing; import the module you need.
"""
