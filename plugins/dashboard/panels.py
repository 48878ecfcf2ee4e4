"""What a plugin's dashboard panel is: a live table of one collection of one of its streams.

    from netscript import Column, Panel, hookimpl

    @hookimpl(optionalhook=True)        # loads in a run without the dashboard too
    def netscript_register_dashboard(register):
        register(Panel(
            id="orders", title="Orders", stream="/orders/state", type="order", key="orderId",
            columns=[Column("orderId"), Column("status", kind="status"), Column("total")],
        ))

The dashboard relays the stream to the page (the secret stays server-side) and keeps one
row per key, live; ``kind="status"`` colours a value (completed, failed, running...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

PANEL_ID = r"^[a-z][a-z0-9-]{0,40}$"


class Column(BaseModel):
    """One column: the entity's field ``field`` (a dotted path into it), titled ``title``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str = Field(min_length=1)
    title: str = ""
    kind: Literal["text", "status", "json"] = "text"

    def __init__(self, field: str | None = None, /, **options: Any) -> None:
        if field is not None:
            options["field"] = field
        super().__init__(**options)


class RowAction(BaseModel):
    """A button on a panel's rows: ``method path`` on the panel's resource's API, ``{field}``
    placeholders filled from the row (URL-encoded), offered only where ``when`` matches
    (field -> values); the page shows ``command`` (same placeholders) as the CLI equivalent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=PANEL_ID)
    title: str = Field(min_length=1)
    path: str = Field(pattern=r"^/")
    method: Literal["POST", "PUT", "DELETE"] = "POST"
    command: str = ""
    when: dict[str, list[Any]] = Field(default_factory=dict)

    def fields(self) -> list[str]:
        import string

        texts = (self.path, self.command)
        return sorted({f for text in texts for _, f, _, _ in string.Formatter().parse(text) if f})


class Panel(BaseModel):
    """A live table of the entities of ``type`` on ``stream``, one row per ``key``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=PANEL_ID)
    title: str = Field(min_length=1)
    stream: str = Field(pattern=r"^/[A-Za-z0-9/_.-]+$")
    type: str = Field(min_length=1)
    key: str = Field(min_length=1)
    columns: list[Column] = Field(min_length=1)
    resource: str | None = None  # the resource the panel belongs to (its plugin's service)
    actions: list[RowAction] = Field(default_factory=list)
    detail: str | None = Field(
        None, pattern=r"^/", description="a row's detail: GET on the resource's API, "
        "{field} placeholders filled from the row; shown on demand",
    )
    limit: int = Field(200, ge=1, le=5000, description="rows shown at most (newest last)")
    plugin: str = ""

    def page_config(self) -> dict[str, Any]:
        """What the page needs to draw it."""
        return {
            "id": self.id,
            "title": self.title,
            "type": self.type,
            "key": self.key,
            "limit": self.limit,
            "columns": [
                {"field": c.field, "title": c.title or c.field, "kind": c.kind}
                for c in self.columns
            ],
            "actions": [
                {"id": a.id, "title": a.title, "when": a.when, "fields": a.fields()}
                for a in self.actions
            ],
            "detail": self.detail_fields() if self.detail else None,
        }

    def detail_fields(self) -> list[str]:
        import string

        return sorted({f for _, f, _, _ in string.Formatter().parse(self.detail or "") if f})

    @model_validator(mode="after")
    def _actions_need_a_resource(self) -> Panel:
        if (self.actions or self.detail) and not self.resource:
            raise ValueError(
                f"panel {self.id!r}: actions and detail need resource= (whose API they call)"
            )
        return self


class PanelRegistry:
    """The panels every plugin registered, by id, in plugin order."""

    def __init__(self) -> None:
        self.panels: dict[str, Panel] = {}

    def register_for(self, plugin: str) -> Callable[..., None]:
        def register(panel: Panel) -> None:
            if not isinstance(panel, Panel):
                raise TypeError(f"register() takes a Panel, not {type(panel).__name__}")
            first = self.panels.get(panel.id)
            if first is not None:
                raise ValueError(f"panel {panel.id!r} is already registered by {first.plugin!r}")
            self.panels[panel.id] = panel.model_copy(update={"plugin": plugin})

        return register


def collect_panels(app: Any) -> PanelRegistry:
    """Every panel the app's plugins register through ``netscript_register_dashboard``.

    :raises HostError: a plugin's registration is invalid (one line naming it).
    """
    registry = PanelRegistry()
    app.host.call_each(
        "netscript_register_dashboard",
        lambda plugin: {"register": registry.register_for(plugin.name)},
    )
    return registry
