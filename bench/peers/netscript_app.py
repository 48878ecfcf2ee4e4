"""Our workers service, as the benchmark runs it: ``netscript up`` on this config (streams
and workers, the way a user runs them: every transition is also published to the stream)."""

from netscript import Config, JobContext, hookimpl
from peers.marks import mark

config = Config(name="bench", plugins=["streams", "workers"], entry_points=False)


def noop(ctx: JobContext) -> bool:
    return True


def marked(ctx: JobContext) -> bool:
    mark(ctx.payload["k"])
    return True


@hookimpl
def netscript_register_jobs(register):  # type: ignore[no-untyped-def]
    register(name="noop", func=noop, retries=0)
    register(name="marked", func=marked, retries=0)
