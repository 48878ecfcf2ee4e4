"""``netscript init [DIR]``: a new app, ready for ``netscript up`` and ``pytest``.

It writes a ``netscript.config.py`` with the four built-in plugins and one example plugin of
its own (``plugins/example``: a job, a saga of that job, and a signed webhook that starts the
saga), a test of it, and a ``.gitignore``. It never overwrites: a folder that already holds
an app (or any of these files) is refused.
"""

from __future__ import annotations

import re
from pathlib import Path

from netscript.host.errors import HostError

CONFIG = '''"""{name}: a NetScript app. `netscript up` runs it; `python -m pytest` tests it."""

from netscript import Config

config = Config(
    name="{name}",
    plugins=["streams", "workers", "sagas", "triggers", "./plugins/example"],
)
'''

PLUGIN_INIT = '''"""The app's example plugin: a job, a saga of it, a webhook starting the saga."""
'''

PLUGIN_HOOKS = '''"""What the example plugin contributes: job ``greet``, saga ``welcome`` (one
step: the job), and webhook ``signup`` (Standard Webhooks) starting the saga for the body's
``name``.

Try it while ``netscript up`` runs, from another terminal in this folder::

    netscript sagas start welcome --key ada --input '{{"name": "Ada"}}' --wait
    netscript triggers secret signup      # what a sender signs with
"""

from netscript import JobContext, Saga, Step, Webhook, hookimpl, start_saga


def greet(ctx: JobContext) -> dict:
    """A saga's job step gets {{"input": the saga's input, "state": its state so far}}."""
    name = ctx.payload["input"]["name"]
    return {{"greeting": f"Hello, {{name}}!"}}


WELCOME = Saga(name="welcome", steps=[Step("greet", job="greet")])

SIGNUP = Webhook(
    "signup",
    verifier="standard",
    action=start_saga("welcome", correlation_key="name"),
)


@hookimpl
def netscript_register_plugin(register):
    register(
        name="example",
        version="0.1.0",
        kind="app",
        description="the example plugin of {name}",
        depends_on=["workers", "sagas", "triggers"],
    )


@hookimpl
def netscript_register_jobs(register):
    register(name="greet", func=greet, retries=2, timeout=30.0)


@hookimpl
def netscript_register_sagas(register):
    register(WELCOME)


@hookimpl
def netscript_register_triggers(register):
    register(SIGNUP)
'''

TEST = '''"""The example plugin: its job does what it says, and the app loads with it."""

from pathlib import Path

from netscript import JobContext, load_app
from plugins.example.hooks import greet

APP = Path(__file__).resolve().parents[1] / "netscript.config.py"


def test_greet_says_hello() -> None:
    ctx = JobContext(job="greet", execution_id="e-1", attempt=1,
                     payload={{"input": {{"name": "Ada"}}, "state": {{}}}})
    assert greet(ctx) == {{"greeting": "Hello, Ada!"}}


def test_the_app_runs_the_four_plugins_and_the_example() -> None:
    app = load_app(APP)
    assert [p.name for p in app.plugins] == [
        "streams", "workers", "sagas", "triggers", "example",
    ]
    assert [r.name for r in app.resources] == ["streams", "workers", "sagas", "triggers"]
'''

CONFTEST = '''# pytest puts this folder on sys.path: tests import the app's plugins as `plugins.*`.
'''

GITIGNORE = """.netscript/
__pycache__/
.pytest_cache/
"""


def files(name: str) -> dict[str, str]:
    """The new app's files, by path relative to its folder."""
    return {
        "netscript.config.py": CONFIG.format(name=name),
        "plugins/__init__.py": "",
        "plugins/example/__init__.py": PLUGIN_INIT,
        "plugins/example/hooks.py": PLUGIN_HOOKS.format(name=name),
        "tests/test_example.py": TEST.format(),
        "conftest.py": CONFTEST,
        ".gitignore": GITIGNORE,
    }


def app_name(folder: Path) -> str:
    """A config name from the folder's name: lower case, letters, digits and dashes."""
    name = re.sub(r"[^a-z0-9]+", "-", folder.resolve().name.lower()).strip("-")
    return name or "app"


def init(folder: Path) -> list[Path]:
    """Write a new app into ``folder`` (made if missing); the files written.

    :raises HostError: the folder holds an app already, or one of the files.
    """
    folder = folder.expanduser()
    if folder.exists() and not folder.is_dir():
        raise HostError(f"{folder} is a file, not a folder")
    wanted = files(app_name(folder))
    there = [path for path in wanted if (folder / path).exists()]
    if there:
        raise HostError(
            f"{folder} already holds {', '.join(sorted(there))}: netscript init writes a new "
            "app into an empty folder (or one without these files); nothing was written"
        )
    written = []
    for path, text in wanted.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        written.append(target)
    return written


def cmd_init(folder: str) -> int:
    target = Path(folder)
    written = init(target)
    where = "this folder" if folder in (".", "") else str(target)
    print(f"a new app in {where}: {len(written)} files")
    for path in written:
        print(f"  {path.relative_to(target)}")
    step = "" if folder in (".", "") else f"cd {folder} && "
    print(f"next: {step}netscript up    (and `python -m pytest` for its test)")
    return 0
