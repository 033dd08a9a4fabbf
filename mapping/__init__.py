"""Zoning and thematic maps, charts and the county report (matplotlib; plot functions take ``ax=None`` and
return the figure).

- :mod:`mapping.zoning` risk zoning per hazard, comprehensive, prevention zoning (needs ``risk_*`` layers);
- :mod:`mapping.thematic` hazard intensity, exposure density, capacity (no risk run needed);
- :mod:`mapping.dangers` hidden dangers by remediation priority, :mod:`mapping.history_maps` largest
  historical events and model-vs-record flags (need ``census risk dangers`` / ``census risk history``);
- :mod:`mapping.report` the Chinese county report (PDF), :mod:`mapping.report_assessment` its chapters on
  the two assessments, :mod:`mapping.report_parts` shared pieces; :mod:`mapping.charts` its charts;
- :mod:`mapping.compose`, :mod:`mapping.cartography`, :mod:`mapping.labels`, :mod:`mapping.layout`: the map page;
- :mod:`mapping.pages`, :mod:`mapping.tables`: report page layout; :mod:`mapping.stats`: its numbers;
- :mod:`mapping.source`, :mod:`mapping.context`: what is read (county GeoPackage, city outline, sea);
- :mod:`mapping.fonts` CJK font discovery; :mod:`mapping.styles` colours, lines, pages; :mod:`mapping.fmt` numbers.
"""
