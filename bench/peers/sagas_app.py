"""Our sagas service, as ``bench/sagas_throughput.py`` runs it: ``netscript up`` on this
config (streams, workers and sagas, the way a user runs them: every instance's transitions
are also published to ``/sagas/instances``).

``three`` has three in-process steps, ``three-jobs`` the same three steps as worker jobs; each
step returns a small dict merged into the instance's state, as DBOS's steps in
``peers/dbos_app.py`` do.
"""

from netscript import Config, JobContext, Saga, SagaContext, Step, hookimpl

config = Config(name="bench-sagas", plugins=["streams", "workers", "sagas"], entry_points=False)


def reserve(ctx: SagaContext) -> dict[str, object]:
    return {"reserved": ctx.input["n"]}


def charge(ctx: SagaContext) -> dict[str, object]:
    return {"charged": ctx.state["reserved"]}


def ship(ctx: SagaContext) -> dict[str, object]:
    return {"shipped": ctx.state["charged"]}


def step_job(ctx: JobContext) -> dict[str, object]:
    return {ctx.idempotency_key.split(":")[1] if ctx.idempotency_key else "step": True}


@hookimpl
def netscript_register_jobs(register):  # type: ignore[no-untyped-def]
    register(name="bench-step", func=step_job, retries=0)


@hookimpl
def netscript_register_sagas(register):  # type: ignore[no-untyped-def]
    register(
        Saga(
            name="three",
            steps=[
                Step("reserve", run=reserve),
                Step("charge", run=charge),
                Step("ship", run=ship),
            ],
        )
    )
    register(
        Saga(
            name="three-jobs",
            steps=[
                Step("reserve", job="bench-step"),
                Step("charge", job="bench-step"),
                Step("ship", job="bench-step"),
            ],
        )
    )
