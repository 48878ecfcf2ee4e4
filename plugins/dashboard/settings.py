"""The dashboard plugin's settings: ``Config(settings={"dashboard": {...}})`` or
``NETSCRIPT_DASHBOARD__<FIELD>``."""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, Field, field_validator


class DashboardSettings(BaseModel):
    """Where the dashboard listens: loopback unless told otherwise, explicitly.

    Example::

        Config(settings={"dashboard": {"host": "192.168.1.20", "allow_remote": True}})
    """

    host: str = Field("127.0.0.1", description="the address to bind (an IP address)")
    allow_remote: bool = Field(
        False, description="required to bind an address other than loopback (it warns)"
    )

    @field_validator("host")
    @classmethod
    def _an_address(cls, value: str) -> str:
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address") from None
        if address.is_unspecified:
            raise ValueError(f"{value} means every address: bind one specific address")
        return value

    @property
    def remote(self) -> bool:
        return not ipaddress.ip_address(self.host).is_loopback
