"""The default app that ``netscript up`` runs in this repository.

Plugins are module names (``plugins.streams``) or paths relative to this file
(``./plugins/workers``). ``NETSCRIPT_*`` environment variables override what is set here
(``NETSCRIPT_GRACE_PERIOD=10``, ``NETSCRIPT_STATE_DIR=/tmp/run``).
"""

from host.config import Config

# Workers, sagas and triggers join this list in their own issue.
config = Config(name="netscript", plugins=["plugins.streams"])
