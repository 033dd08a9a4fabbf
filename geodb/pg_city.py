"""The city geodatabase in PostgreSQL + PostGIS: :class:`geodb.city.CityDB` on a server database.

The same design as :mod:`geodb.pg_county` one level up: the city's tables of :data:`geodb.city.CITY_DDL`
in PostgreSQL types, the division layers ``city``, ``counties``, ``townships``, ``villages`` and one
layer per form as PostGIS tables, the append-only audit guard, and writers taking turns on a lock keyed
by the city code. The PostgreSQL-specific SQL comes from :class:`geodb.pg_county.PgStore`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from schemas.model import Form

from .city import CITY_DDL, CITY_FORMAT, CityDB, CityDivisions
from .county import layer_spec
from .pg_county import PgStore, creating, write_layer


class PgCityDB(PgStore, CityDB):
    """An open city geodatabase on PostgreSQL + PostGIS."""

    def boundary(self):
        import shapely

        geoms = self._boundary_geoms("city")
        return shapely.union_all(geoms) if geoms else None

    def city_nodes(self, record_ids: Iterable[int]) -> dict[int, list[tuple[str, list[str], str, int]]]:
        import json

        out: dict[int, list] = {}
        for rid_, rev, anc, at, aside in self.conn.execute(
                "SELECT record_id, revision_id, ancestors, created_at, set_aside FROM census_revisions "
                "WHERE record_id = ANY(?::bigint[]) ORDER BY id", ([int(i) for i in record_ids],)):
            out.setdefault(rid_, []).append((rev, json.loads(anc), at, aside))
        return out


def create_city_pg(url: str, *, city: str, city_name: str, divisions: CityDivisions,
                   forms: Mapping[str, Form], settings: Mapping[str, str | None], at: str,
                   actor: str | None = None) -> None:
    """Create the city geodatabase in an existing (empty) PostgreSQL database — what
    :func:`geodb.city.create_city_gpkg` makes, in ONE transaction (a failure leaves nothing)."""
    specs = [layer_spec(f) for f in forms.values()]
    base: dict[str, Any] = {"format": CITY_FORMAT, "city": city, "city_name": city_name, "created_at": at}
    with creating(PgCityDB, url, code=city, tables=("city", "counties", "townships", "villages"), specs=specs,
                  ddl=CITY_DDL, base=base, settings=settings) as db:
        for layer, gdf, desc in (("city", divisions.city, "市级行政区 / city"),
                                 ("counties", divisions.counties, "县级行政区 / county-level units"),
                                 ("townships", divisions.townships, "乡镇（街道）/ townships"),
                                 ("villages", divisions.villages, "行政村（社区）/ villages")):
            write_layer(db.conn, layer, gdf, "MultiPolygon", promote_to_multi=True, description=desc)
        db.append_audit("init", city, {"city": city, "city_name": city_name, "forms": sorted(forms),
                                       "counties": len(divisions.counties), "townships": len(divisions.townships),
                                       "villages": len(divisions.villages)}, actor=actor, at=at)


__all__ = ["PgCityDB", "create_city_pg"]
