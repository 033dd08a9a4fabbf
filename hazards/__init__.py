"""Hazard layers: the typed registry, raster I/O, point sampling, zonal statistics, classification.

Importing this package is cheap (numpy and affine only); rasterio, xarray and exactextract load on
first use. Storage CRS for every layer is EPSG:4490.
"""

from hazards.errors import CRSMismatchError, HazardError, RasterFormatError, RasterNotFoundError, UnknownHazard
from hazards.io import (STORAGE_CRS, get_crs, get_transform, make_dataarray, read_netcdf, read_raster,
                        write_geotiff, write_netcdf_stack)
from hazards.registry import (FAMILIES, FLOOD_RETURN_PERIODS, LAYERS, RISK_LEVELS, HazardClass, HazardFamily,
                              HazardLayerSpec, classify, get_family, get_layer, layers_for_family)
from hazards.sampling import sample_many, sample_points
from hazards.zonal import zonal_stats

__all__ = [
    "CRSMismatchError", "HazardError", "RasterFormatError", "RasterNotFoundError", "UnknownHazard",
    "STORAGE_CRS", "get_crs", "get_transform", "make_dataarray", "read_netcdf", "read_raster",
    "write_geotiff", "write_netcdf_stack",
    "FAMILIES", "FLOOD_RETURN_PERIODS", "LAYERS", "RISK_LEVELS", "HazardClass", "HazardFamily",
    "HazardLayerSpec", "classify", "get_family", "get_layer", "layers_for_family",
    "sample_many", "sample_points", "zonal_stats",
]
