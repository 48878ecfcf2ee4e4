"""The dashboard as ``bench/dashboard_latency.py`` runs it: the streams server, the dashboard,
and one panel over ``/bench/items`` (collection ``item``, key ``id``, up to 1,000 rows), which
the benchmark's producer writes to."""

from netscript import Column, Config, Panel, hookimpl

config = Config(name="bench-dashboard", plugins=["streams", "dashboard"], entry_points=False)


@hookimpl(optionalhook=True)
def netscript_register_dashboard(register):  # type: ignore[no-untyped-def]
    register(
        Panel(
            id="items", title="Items", stream="/bench/items", type="item", key="id",
            columns=[Column("id"), Column("n"), Column("sent")], limit=1000,
        )
    )  # fmt: skip
