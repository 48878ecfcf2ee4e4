"""``python -m netscript.orchestrator.held FD PRELOAD -- python -m MODULE args...``: a
resource started early. It imports ``PRELOAD`` (comma-separated modules; ``module:function``
also calls the function) while its dependencies start, then waits for ``go`` on the pipe
``FD``; then it runs ``MODULE`` as ``__main__`` in this very process (the imports are done),
with ``sys.argv`` as ``python -m`` would set it. End of file instead of ``go`` (the run
stopped first, or the supervisor chose to start it afresh): it exits 0 without running
anything.

``netscript up`` starts a resource this way when its spec lists ``preload`` and it waits for
dependencies (:meth:`netscript.orchestrator.launcher.Launcher.prestart_held`).
"""

from __future__ import annotations

import importlib
import os
import runpy
import sys


def main(argv: list[str]) -> int:
    if len(argv) < 6 or argv[2] != "--" or argv[4] != "-m":
        print("usage: python -m netscript.orchestrator.held FD PRELOAD -- python -m MODULE ...",
              file=sys.stderr)  # fmt: skip
        return 2
    fd, preload, module, args = int(argv[0]), argv[1], argv[5], argv[6:]
    for name in filter(None, preload.split(",")):
        module_name, _, function = name.partition(":")
        try:  # what fails here fails again, with its traceback, in the run
            loaded = importlib.import_module(module_name)
            if function:  # "module:function": called too (netscript.host.app:preload_app)
                getattr(loaded, function)()
        except Exception:
            continue
    got = b""
    while True:  # until "go" or end of file
        chunk = os.read(fd, 16)
        got += chunk
        if not chunk or b"\n" in got:
            break
    os.close(fd)
    if got.strip() != b"go":
        return 0
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
