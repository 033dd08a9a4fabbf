"""Administrative divisions the census knows by code (GB/T 2260), as a typed registry.

The real codes of 葫芦岛市 and its six county-level units; townships (9 digits) and villages (12 digits)
come from each county's own register (the county geodatabase), checked by
:class:`schemas.validator.DivisionRegister`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model import Division


@dataclass(frozen=True)
class AdminUnit:
    code: str
    name_zh: str
    level: str          # "city" | "county"
    parent: str | None


UNITS: tuple[AdminUnit, ...] = (
    AdminUnit("211400", "葫芦岛市", "city", "210000"),
    AdminUnit("211402", "连山区", "county", "211400"),
    AdminUnit("211403", "龙港区", "county", "211400"),
    AdminUnit("211404", "南票区", "county", "211400"),
    AdminUnit("211421", "绥中县", "county", "211400"),
    AdminUnit("211422", "建昌县", "county", "211400"),
    AdminUnit("211481", "兴城市", "county", "211400"),
)
BY_CODE = {u.code: u for u in UNITS}
DEFAULT_COUNTY = "211481"


def level_of(code: str) -> Division | None:
    """The division level a code's length says, or None for a malformed code."""
    if not code.isdigit():
        return None
    return {6: Division.COUNTY, 9: Division.TOWNSHIP, 12: Division.VILLAGE}.get(len(code))


def county_of(code: str) -> str | None:
    """The 6-digit county code a township or village code belongs to."""
    return code[:6] if level_of(code) in (Division.TOWNSHIP, Division.VILLAGE) else None


def township_of(code: str) -> str | None:
    return code[:9] if level_of(code) is Division.VILLAGE else None


def county_name(code: str) -> str | None:
    unit = BY_CODE.get(code)
    return unit.name_zh if unit else None
