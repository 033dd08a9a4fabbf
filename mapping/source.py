"""What maps and the report read from the county GeoPackage, loaded once and checked.

:class:`MapSource` wraps one county GeoPackage: county name and code (``census_settings``), the county
and township polygons, the ``risk_*`` layers written by ``census risk assess`` (docs: the risk outputs
contract) and the exposure and capacity layers filled by the townships. Every layer is read at most once.
Missing risk layers raise :class:`RiskOutputsMissing`, which tells the user to run the assessment.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mapping.errors import (
    AssessmentMissing,
    NotACountyGpkg,
    RiskColumnMissing,
    RiskOutputsMissing,
)
from risk.danger_outputs import LIST_LAYER, ZONES_LAYER
from risk.history import (
    AGREEMENT_LAYER,
    COMPARISON_LAYER,
    EVENTS_LAYER,
    TRENDS_LAYER,
    WEIGHTS_LAYER,
)

if TYPE_CHECKING:  # pragma: no cover
    import geopandas as gpd
    import pandas as pd

RISK_LAYERS: tuple[str, ...] = ("risk_grid", "risk_townships", "risk_breaks", "risk_runs")
# written by `census risk dangers` and `census risk history` (history_events and history_agreement only
# when there is something to write, so they are optional)
DANGER_LAYERS: tuple[str, ...] = (LIST_LAYER, ZONES_LAYER)
HISTORY_LAYERS: tuple[str, ...] = (TRENDS_LAYER, WEIGHTS_LAYER, COMPARISON_LAYER)
SPECIAL_MAPS: tuple[str, ...] = ("comprehensive", "prevention")


class MapSource:
    """One county GeoPackage as the maps see it. ``city`` optionally names a file with the city outline,
    ``hazards_dir`` the folder of hazard GeoTIFFs (default: the one the latest risk run used)."""

    db_kind_zh = "县级普查数据库"   # how map notes name the database (the city source says 市级)

    def __init__(self, gpkg: str | Path, *, city: str | Path | None = None, hazards_dir: str | Path | None = None):
        from geodb import layers as L
        from geodb.target import anchor_path, display_name, is_server

        self.target = L.as_target(gpkg)           # a file path, or a PostGIS URL
        self.path = anchor_path(gpkg)             # side files (== the file for a GeoPackage)
        # how notes and messages name the database: the file name, or the URL without a password
        self.db_label = display_name(gpkg) if is_server(gpkg) else self.path.name
        if not L.exists(self.target):
            raise NotACountyGpkg(self.path, "文件不存在", "file not found")
        self.city_path = Path(city) if city else None
        self._hazards_dir = Path(hazards_dir) if hazards_dir else None
        layers = self.layers
        for needed in ("census_settings", "county", "townships"):
            if needed not in layers:
                raise NotACountyGpkg(self.path, f"不是县级普查数据库（缺少图层 {needed}），请用 `census county init` 创建",
                                     f"not a county GeoPackage (no layer {needed}); make one with `census county init`")

    # ---- plain layers ------------------------------------------------------------------------------
    @cached_property
    def layers(self) -> dict[str, str | None]:
        from pyogrio.errors import DataSourceError

        from geodb import layers as L

        try:
            return {name: None for name in L.list_layers(self.target)}
        except DataSourceError as e:  # not a GeoPackage (or any vector file GDAL reads)
            raise NotACountyGpkg(self.path, f"无法作为 GeoPackage 打开（{e}）",
                                 f"cannot be opened as a GeoPackage ({e})") from None

    def has(self, layer: str) -> bool:
        return layer in self.layers

    def read(self, layer: str, columns: list[str] | None = None) -> gpd.GeoDataFrame | pd.DataFrame:
        """A layer through pyogrio (attribute tables come back as plain DataFrames)."""
        from geodb import layers as L

        if layer not in self.layers:
            raise NotACountyGpkg(self.path, f"缺少图层 {layer}", f"layer {layer} is missing")
        return L.read_dataframe(self.target, layer, columns=columns, read_geometry=True)

    @cached_property
    def settings(self) -> dict[str, str]:
        df = self.read("census_settings")
        return {str(k): (None if v is None else str(v)) for k, v in zip(df["key"], df["value"])}

    @property
    def county_code(self) -> str:
        return self.settings.get("county") or ""

    @property
    def county_name(self) -> str:
        return self.settings.get("county_name") or self.county_code

    @cached_property
    def county(self):
        """The county polygon (shapely, EPSG:4490)."""
        import shapely

        gdf = self.read("county")
        return shapely.make_valid(shapely.union_all(gdf.geometry.values))

    @cached_property
    def townships(self) -> gpd.GeoDataFrame:
        """code, name, geometry of every township, sorted by code."""
        gdf = self.read("townships")
        gdf["code"] = gdf["code"].astype(str)
        return gdf[["code", "name", "geometry"]].sort_values("code").reset_index(drop=True)

    @cached_property
    def township_names(self) -> dict[str, str]:
        return dict(zip(self.townships["code"], self.townships["name"]))

    @cached_property
    def lat0(self) -> float:
        """Central latitude of the county: the parallel at which the map's scale is true."""
        _minx, miny, _maxx, maxy = self.county.bounds
        return (miny + maxy) / 2.0

    # ---- risk outputs ---------------------------------------------------------------------------------
    def has_risk(self) -> bool:
        return all(self.has(layer) for layer in RISK_LAYERS)

    def require_risk(self, layers: tuple[str, ...] = RISK_LAYERS) -> None:
        missing = tuple(layer for layer in layers if not self.has(layer))
        if missing:
            raise RiskOutputsMissing(self.path, missing)

    def _risk(self, layer: str):
        self.require_risk((layer,))
        return self.read(layer)

    @cached_property
    def risk_grid(self) -> gpd.GeoDataFrame:
        gdf = self._risk("risk_grid")
        gdf["township_code"] = gdf["township_code"].astype(str)
        return gdf

    @cached_property
    def risk_townships(self) -> gpd.GeoDataFrame:
        gdf = self._risk("risk_townships")
        gdf["township_code"] = gdf["township_code"].astype(str)
        return gdf.sort_values("township_code").reset_index(drop=True)

    @cached_property
    def risk_runs(self) -> pd.DataFrame:
        df = self._risk("risk_runs")
        return df.sort_values("started_at", ascending=False).reset_index(drop=True)

    @cached_property
    def risk_breaks(self) -> pd.DataFrame:
        df = self._risk("risk_breaks")
        run = self.latest_run.get("run_id")
        if run is not None and "run_id" in df.columns and (df["run_id"] == run).any():
            df = df[df["run_id"] == run]
        return df.reset_index(drop=True)

    @cached_property
    def latest_run(self) -> dict:
        runs = self.risk_runs
        if not len(runs):
            return {}
        row = runs.iloc[0].to_dict()
        notes = row.get("notes")
        try:
            row["notes"] = json.loads(notes) if isinstance(notes, str) and notes else (notes or {})
        except json.JSONDecodeError:
            row["notes"] = {"text": notes}
        return row

    def breaks_for(self, hazard: str, scope: str = "grid") -> dict | None:
        """The zoning breaks of ``hazard`` ('comprehensive' or a hazard id) at ``scope``, or None."""
        df = self.risk_breaks
        hit = df[(df["hazard"] == hazard) & (df["scope"] == scope)]
        if not len(hit):
            return None
        row = hit.iloc[0].to_dict()
        b = row.get("breaks")
        row["breaks"] = tuple(json.loads(b)) if isinstance(b, str) else tuple(b or ())
        return row

    def assessed_hazards(self) -> tuple[str, ...]:
        """Risk hazard ids that have a level column in ``risk_townships``, in registry order."""
        from risk.registry import RISK_HAZARD_IDS

        cols = set(self.risk_townships.columns)
        return tuple(h for h in RISK_HAZARD_IDS if f"{h}_level" in cols)

    def require_column(self, layer: str, column: str) -> None:
        frame = getattr(self, layer)
        if column not in frame.columns:
            raise RiskColumnMissing(self.path, layer, column)

    # ---- hazards, exposure, capacity ------------------------------------------------------------------
    @property
    def hazards_dir(self) -> Path | None:
        if self._hazards_dir is not None:
            return self._hazards_dir
        if self.has("risk_runs"):
            d = self.latest_run.get("hazards_dir")
            if d:
                return Path(d)
        return None

    @cached_property
    def houses(self) -> gpd.GeoDataFrame:
        """Current building records (rural + urban) with their township, floor area and a centroid."""
        import geopandas as gpd
        import pandas as pd

        frames = []
        for layer in ("rural_house", "urban_house"):
            if not self.has(layer):
                continue
            df = self.read(layer, columns=["building_id", "floor_area", "census_township"])
            df = df[df.geometry.notna() & ~df.geometry.is_empty]
            frames.append(gpd.GeoDataFrame({
                "building_id": df["building_id"].astype(str).to_numpy(),
                "township_code": df["census_township"].astype(str).to_numpy(),
                "floor_area": pd.to_numeric(df["floor_area"], errors="coerce").fillna(0.0).to_numpy(),
                "kind": layer}, geometry=df.geometry.values, crs=df.crs))
        if not frames:
            return gpd.GeoDataFrame({"building_id": [], "township_code": [], "floor_area": [], "kind": []},
                                    geometry=[], crs="EPSG:4490")
        return pd.concat(frames, ignore_index=True)

    @cached_property
    def village_population(self) -> pd.DataFrame:
        if not self.has("village_population"):
            import pandas as pd

            return pd.DataFrame(columns=["village_code", "township_code", "resident_population"])
        df = self.read("village_population", columns=["village_code", "township_code", "resident_population"])
        df["township_code"] = df["township_code"].astype(str)
        return df

    def township_population(self) -> dict[str, float]:
        df = self.village_population
        vals = df.groupby("township_code")["resident_population"].sum(min_count=1)
        return {k: float(v) for k, v in vals.items() if np.isfinite(v)}

    @cached_property
    def township_capacity(self) -> pd.DataFrame:
        import pandas as pd

        if not self.has("township_capacity"):
            return pd.DataFrame(columns=["township_code"])
        df = pd.DataFrame(self.read("township_capacity").drop(columns="geometry", errors="ignore"))
        df["township_code"] = df["township_code"].astype(str)
        return df

    @cached_property
    def disaster_annual(self) -> pd.DataFrame:
        import pandas as pd

        if not self.has("disaster_annual"):
            return pd.DataFrame(columns=["year", "hazard_type", "direct_loss", "affected_people", "deaths"])
        return pd.DataFrame(self.read("disaster_annual").drop(columns="geometry", errors="ignore"))


    # ---- assessments of hidden dangers and historical disasters (census risk dangers / history) --------
    def has_dangers(self) -> bool:
        return all(self.has(layer) for layer in DANGER_LAYERS)

    def has_history(self) -> bool:
        return all(self.has(layer) for layer in HISTORY_LAYERS)

    def require_dangers(self) -> None:
        missing = tuple(layer for layer in DANGER_LAYERS if not self.has(layer))
        if missing:
            raise AssessmentMissing(self.path, missing, "重点隐患评估", "hidden-danger assessment",
                                    f"census risk dangers --gpkg {self.db_label} --hazards 致灾因子目录 --out 整治清单.xlsx")

    def require_history(self) -> None:
        missing = tuple(layer for layer in HISTORY_LAYERS if not self.has(layer))
        if missing:
            raise AssessmentMissing(self.path, missing, "历史灾害评估", "historical-disaster assessment",
                                    f"census risk history --gpkg {self.db_label}")

    @cached_property
    def danger_sites(self) -> gpd.GeoDataFrame:
        """``danger_remediation`` (points), county rank order."""
        self.require_dangers()
        gdf = self.read(DANGER_LAYERS[0])
        gdf["township_code"] = gdf["township_code"].astype(str)
        return gdf.sort_values("rank_county").reset_index(drop=True)

    @cached_property
    def danger_zones(self) -> gpd.GeoDataFrame:
        """``danger_threat_zones``, drawn lowest priority first so the urgent zones lie on top."""
        self.require_dangers()
        gdf = self.read(DANGER_LAYERS[1])
        gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
        return gdf.sort_values("rank_county", ascending=False).reset_index(drop=True)

    def _history_table(self, layer: str):
        import pandas as pd

        self.require_history()
        if not self.has(layer):        # events and agreement are written only when there is something
            return pd.DataFrame()
        return self.read(layer)

    @cached_property
    def history_trends(self) -> pd.DataFrame:
        return self._history_table(TRENDS_LAYER)

    @cached_property
    def history_weights(self) -> pd.DataFrame:
        return self._history_table(WEIGHTS_LAYER)

    @cached_property
    def history_comparison(self) -> gpd.GeoDataFrame:
        gdf = self._history_table(COMPARISON_LAYER)
        gdf["township_code"] = gdf["township_code"].astype(str)
        return gdf.sort_values("township_code").reset_index(drop=True)

    @cached_property
    def history_events(self):
        gdf = self._history_table(EVENTS_LAYER)
        return gdf.sort_values("rank").reset_index(drop=True) if len(gdf) else gdf

    @cached_property
    def history_agreement(self) -> pd.DataFrame:
        return self._history_table(AGREEMENT_LAYER)




def open_source(gpkg: str | Path | MapSource, **kw) -> MapSource:
    """A :class:`MapSource` from a path, or the given one unchanged."""
    return gpkg if isinstance(gpkg, MapSource) else MapSource(gpkg, **kw)
