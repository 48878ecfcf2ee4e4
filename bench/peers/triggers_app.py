"""Our four plugins, as ``bench/triggers_latency.py`` runs them: ``netscript up`` on this
config. A signed webhook (``order``, GitHub scheme) starts saga ``fulfil`` for its
``orderId``: three worker-job steps (reserve, charge, ship), no-op jobs — the default app's
shape without its failures."""

from netscript import Config, JobContext, Saga, Step, Webhook, hookimpl, start_saga

config = Config(
    name="bench-triggers",
    plugins=["streams", "workers", "sagas", "triggers"],
    entry_points=False,
)


def step_job(ctx: JobContext) -> dict[str, object]:
    return {}


@hookimpl
def netscript_register_jobs(register):  # type: ignore[no-untyped-def]
    register(name="bench-step", func=step_job, retries=0)


@hookimpl
def netscript_register_sagas(register):  # type: ignore[no-untyped-def]
    register(
        Saga(
            name="fulfil",
            steps=[
                Step("reserve", job="bench-step"),
                Step("charge", job="bench-step"),
                Step("ship", job="bench-step"),
            ],
        )
    )


@hookimpl
def netscript_register_triggers(register):  # type: ignore[no-untyped-def]
    register(
        Webhook("order", verifier="github", action=start_saga("fulfil", correlation_key="orderId"))
    )
