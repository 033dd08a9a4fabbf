"""OpenQuake interoperability: read its exposure, fragility NRML and GMF CSVs; compute scenario damage
as its ``scenario_damage`` calculator does; write damage CSVs in its layouts.

Checked against oq-engine's scenario-damage QA cases (tests/risk/openquake/data/).
"""

from .errors import OQFileNotFound, OQInputError
from .exposure_csv import Exposure, read_exposure, read_exposure_csv
from .gmf import (DEFAULT_MAX_DISTANCE_KM, GroundMotionFields, Sites, associate, read_gmf_csv,
                  read_sites_csv)
from .nrml import FragilitySource, parse_xml, read_exposure_xml, read_fragility_model
from .scenario_damage import (ScenarioDamageResult, ScenarioDamageRun, compute_scenario_damage,
                              run_scenario_damage)
from .taxonomy_mapping import read_taxonomy_mapping

__all__ = [
    "OQInputError", "OQFileNotFound", "Exposure", "read_exposure", "read_exposure_csv", "read_exposure_xml",
    "DEFAULT_MAX_DISTANCE_KM", "GroundMotionFields", "Sites", "associate", "read_gmf_csv", "read_sites_csv",
    "FragilitySource", "parse_xml", "read_fragility_model", "ScenarioDamageResult", "ScenarioDamageRun",
    "compute_scenario_damage", "run_scenario_damage", "read_taxonomy_mapping",
]
