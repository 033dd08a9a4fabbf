"""Read and write whole layers of a geodatabase, whichever backend holds it.

Risk, exposure, maps and the report read layers as (Geo)DataFrames and write their results back. On a
GeoPackage that is pyogrio (GDAL); on a PostGIS database it is :mod:`geodb.pg_layers` (psycopg + COPY,
since the GDAL in pyogrio's wheels has no PostgreSQL driver). The semantics are pyogrio's:
``where`` is an SQL boolean expression, ``columns`` selects fields, ``read_geometry=False`` gives a
plain DataFrame.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import gpkg as gp
from .target import is_server

Target = str | os.PathLike


def list_layers(target: Target) -> list[str]:
    if is_server(target):
        from . import pg_layers
        return pg_layers.list_layers(str(target))
    import pyogrio
    return [str(name) for name, _ in pyogrio.list_layers(target)]


def field_names(target: Target, layer: str) -> list[str]:
    if is_server(target):
        from . import pg_layers
        return pg_layers.field_names(str(target), layer)
    import pyogrio
    return [str(f) for f in pyogrio.read_info(target, layer=layer)["fields"]]


def read_dataframe(target: Target, layer: str, *, where: str | None = None, columns=None,
                   read_geometry: bool = True):
    if is_server(target):
        from . import pg_layers
        return pg_layers.read_dataframe(str(target), layer, where=where,
                                        columns=None if columns is None else list(columns),
                                        read_geometry=read_geometry)
    import pyogrio
    return pyogrio.read_dataframe(target, layer=layer, where=where, columns=columns, read_geometry=read_geometry)


def write_layer(target: Target, df, layer: str, *, geometry_type: str | None = None, append: bool = False,
                description: str | None = None, promote_to_multi: bool | None = None) -> None:
    if is_server(target):
        from . import pg_layers
        pg_layers.write_layer(str(target), df, layer, geometry_type=geometry_type, append=append,
                              description=description, promote_to_multi=promote_to_multi)
        return
    from .target import refuse_if_migrated
    refuse_if_migrated(target)
    gp.write_layer(Path(target), df, layer, geometry_type=geometry_type, append=append,
                   description=description, promote_to_multi=promote_to_multi)


def as_target(target: Target) -> Path | str:
    """A file path as a Path, a server URL as it is (``Path()`` would fold its ``//``)."""
    return str(target) if is_server(target) else Path(target)


def exists(target: Target) -> bool:
    """The GeoPackage file exists / the server database answers and holds a census geodatabase."""
    from .target import exists as _exists
    return _exists(target)


def side_dir(target: Target) -> Path:
    """The folder beside the database for files that are not layers (GeoTIFFs, spreadsheets)."""
    from .target import side_dir as _side_dir
    return _side_dir(target)
