"""The default app that ``netscript up`` runs in this repository.

Plugins are built-in names (``streams``), module names (``mycompany.audit``) or paths
relative to this file (``./plugins/hello``). ``NETSCRIPT_*`` environment variables override what is set here
(``NETSCRIPT_GRACE_PERIOD=10``, ``NETSCRIPT_STATE_DIR=/tmp/run``).
"""

from netscript import Config

# Workers, sagas and triggers join this list in their own issue.
config = Config(name="netscript", plugins=["streams"])
