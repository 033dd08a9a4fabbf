"""OpenQuake readers: formats they accept, and hostile input they refuse with file, line and field."""

from pathlib import Path

import numpy as np
import pytest

from risk.fragility import ContinuousFragility, DiscreteFragility
from risk.openquake import (OQInputError, associate, compute_scenario_damage, parse_xml, read_exposure,
                            read_fragility_model, read_gmf_csv, read_sites_csv, read_taxonomy_mapping)
from risk.openquake.errors import check_file
from risk.openquake.gmf import Sites

DATA = Path(__file__).parent / "data"


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


NRML05 = """<?xml version="1.0" encoding="utf-8"?>
<nrml xmlns="http://openquake.org/xmlns/nrml/0.5">
  <fragilityModel id="fm" assetCategory="buildings" lossCategory="{loss}">
    <description>test</description>
    <limitStates>slight complete</limitStates>
    <fragilityFunction id="W" format="continuous" shape="logncdf">
      <imls imt="SA(0.3)" noDamageLimit="0.02" minIML="0.05" maxIML="3.0"/>
      <params ls="slight" mean="0.3" stddev="0.1"/>
      <params ls="complete" mean="{mean}" stddev="0.3"/>
    </fragilityFunction>
    <fragilityFunction id="C" format="discrete">
      <imls imt="PGA" noDamageLimit="0.05">0.1 0.2 0.4</imls>
      <poes ls="slight">0.1 0.5 0.9</poes>
      <poes ls="complete">0.0 0.1 0.4</poes>
    </fragilityFunction>
  </fragilityModel>
</nrml>
"""


def frag05(tmp_path, loss="structural", mean="0.9"):
    return write(tmp_path, "frag.xml", NRML05.format(loss=loss, mean=mean))


# ------------------------------------------------------------------------------------------- fragility

def test_nrml05_continuous_and_discrete(tmp_path):
    src = read_fragility_model(frag05(tmp_path, loss="nonstructural"))
    m = src.model
    assert src.nrml_version == "0.5" and src.loss_type == "nonstructural"
    assert m.limit_states == ("slight", "complete")
    assert m.imt_for("W") == "SA(0.3)" and m.imt_for("C") == "PGA"
    w = m.functions["W"][1]
    assert isinstance(w, ContinuousFragility)
    assert (w.mean, w.stddev, w.min_iml, w.max_iml, w.no_damage_limit) == (0.9, 0.3, 0.05, 3.0, 0.02)
    c = m.functions["C"][0]
    assert isinstance(c, DiscreteFragility)
    assert c.imls == (0.1, 0.2, 0.4) and c.poes == (0.1, 0.5, 0.9) and c.no_damage_limit == 0.05


def test_nrml04_continuous_case_2():
    src = read_fragility_model(DATA / "case_2" / "fragility_continuous.xml")
    assert src.nrml_version == "0.4" and src.loss_type == "structural"
    f = src.model.functions["RM"][1]
    assert (f.limit_state, f.mean, f.stddev, f.min_iml, f.max_iml) == ("LS2", 0.40, 0.12, 0.1, 9.9)


def test_nrml04_discrete_with_model_level_iml(tmp_path):
    p = write(tmp_path, "f.xml", """<nrml xmlns="http://openquake.org/xmlns/nrml/0.4">
      <fragilityModel format="discrete"><limitStates>a b</limitStates>
        <IML IMT="MMI">7 8 9</IML>
        <ffs noDamageLimit="6"><taxonomy>X</taxonomy>
          <ffd ls="a"><poEs>0.1 0.5 0.9</poEs></ffd><ffd ls="b"><poEs>0 0.2 0.5</poEs></ffd></ffs>
      </fragilityModel></nrml>""")
    f = read_fragility_model(p).model.functions["X"][0]
    assert f.imls == (7.0, 8.0, 9.0) and f.no_damage_limit == 6.0
    assert read_fragility_model(p).model.imt == "MMI"


@pytest.mark.parametrize("text, line, field", [
    (NRML05.replace('stddev="0.3"', ''), 9, "stddev"),
    (NRML05.replace('ls="complete" mean', 'ls="moderate" mean'), 6, "ls"),
    (NRML05.replace('mean="0.3"', 'mean="abc"'), 8, "mean"),
    (NRML05.replace('mean="0.3"', 'mean="-0.3"'), 8, "mean"),
    (NRML05.replace('format="continuous"', 'format="spline"'), 6, "format"),
    (NRML05.replace('<poes ls="complete">0.0 0.1 0.4', '<poes ls="complete">0.0 0.1'), 14, None),
    (NRML05.replace('<poes ls="complete">0.0 0.1 0.4', '<poes ls="complete">0.0 0.1 1.4'), 14, None),
    (NRML05.replace("0.1 0.2 0.4", "0.1 0.4 0.2"), 12, "imls"),
    (NRML05.replace('id="C"', 'id="W"'), 11, "id"),
    (NRML05.replace('imt="PGA" ', ''), 12, "imt"),
    (NRML05.replace("slight complete", ""), 5, "limitStates"),
])
def test_fragility_errors_name_line_and_field(tmp_path, text, line, field):
    p = write(tmp_path, "bad.xml", text.format(loss="structural", mean="0.9"))
    with pytest.raises(OQInputError) as e:
        read_fragility_model(p)
    assert e.value.line == line and e.value.field == field
    assert "bad.xml" in str(e.value) and f"line {line}" in e.value.message_en


def test_xml_bomb_and_doctype_are_refused(tmp_path):
    bomb = write(tmp_path, "bomb.xml", """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<nrml>&lol2;</nrml>""")
    with pytest.raises(OQInputError, match="DOCTYPE"):
        parse_xml(bomb)
    ext = write(tmp_path, "ext.xml", '<?xml version="1.0"?><!DOCTYPE x SYSTEM "file:///etc/passwd"><x/>')
    with pytest.raises(OQInputError, match="DOCTYPE"):
        parse_xml(ext)


def test_malformed_xml_names_line(tmp_path):
    p = write(tmp_path, "m.xml", "<nrml>\n<fragilityModel>\n<limitStates>a</limitStates>\n</nrml>\n")
    with pytest.raises(OQInputError) as e:
        parse_xml(p)
    assert e.value.line == 4 and "malformed XML" in e.value.message_en


def test_not_a_fragility_file_and_size_cap(tmp_path):
    with pytest.raises(OQInputError, match="fragilityModel"):
        read_fragility_model(DATA / "case_1" / "exposure_model.xml")
    big = write(tmp_path, "big.xml", "<x>" + "a" * 2000 + "</x>")
    with pytest.raises(OQInputError, match="too large"):
        check_file(big, "XML ", "XML", max_bytes=1000)
    with pytest.raises(FileNotFoundError):
        read_fragility_model(tmp_path / "nope.xml")


# -------------------------------------------------------------------------------------------- exposure

EXPOSURE = "id,lon,lat,taxonomy,number,structural,CRESTA\na1,15.48,38.09,RM,3000,3000,01\na2,15.56,38.17,RC,2,1,02\n"


def test_exposure_csv(tmp_path):
    e = read_exposure(write(tmp_path, "exp.csv", EXPOSURE))
    assert e.ids == ["a1", "a2"] and e.taxonomy == ["RM", "RC"]
    np.testing.assert_array_equal(e.number, [3000, 2])
    assert e.tags == {"CRESTA": ["01", "02"]}  # cost columns are not tags
    assert e.origin[1][1] == 3


def test_exposure_xml_with_csv_and_field_renames(tmp_path):
    write(tmp_path, "assets.csv", "ASSET,X,Y,TAX,N,zone\nb1,120.1,40.5,RC,5,A\nb2,120.2,40.6,RM,,B\n")
    xml = write(tmp_path, "exp.xml", """<nrml xmlns="http://openquake.org/xmlns/nrml/0.5"><exposureModel id="e">
      <exposureFields><field oq="id" input="ASSET"/><field oq="lon" input="X"/><field oq="lat" input="Y"/>
      <field oq="taxonomy" input="TAX"/><field oq="number" input="N"/></exposureFields>
      <tagNames>zone</tagNames><assets>assets.csv</assets></exposureModel></nrml>""")
    e = read_exposure(xml)
    assert e.ids == ["b1", "b2"] and e.tags == {"zone": ["A", "B"]}
    np.testing.assert_array_equal(e.number, [5, 1])  # a missing number counts one building, as in OQ


def test_exposure_inline_xml_case_1():
    e = read_exposure(DATA / "case_1" / "exposure_model.xml")
    assert e.ids == ["a1", "a2", "a3"] and e.tags["CRESTA"] == ["?", "01.1", "?"]
    np.testing.assert_allclose(e.lon, [15.48, 15.56, 15.48])


@pytest.mark.parametrize("text, line, field, words", [
    ("id,lon,lat,number\na,1,2,3\n", 1, "taxonomy", "required column"),
    ("id,lon,lat,taxonomy,number\na,1,2,RC,3\nb,east,2,RC,3\n", 3, "lon", "not a number"),
    ("id,lon,lat,taxonomy,number\na,1,95,RC,3\n", 2, "lat", "outside"),
    ("id,lon,lat,taxonomy,number\na,1,2,RC,-3\n", 2, "number", "outside"),
    ("id,lon,lat,taxonomy,number\na,1,2,RC,3\na,1,2,RC,3\n", 3, "id", "repeated"),
    ("id,lon,lat,taxonomy,number\na,1,2,RC\n", 2, None, "columns"),
    ("id,lon,lat,taxonomy,number\na,1,2,,3\n", 2, "taxonomy", "empty"),
    ("id,lon,lat,taxonomy,number\n", None, None, "no assets"),
])
def test_exposure_csv_errors(tmp_path, text, line, field, words):
    with pytest.raises(OQInputError) as e:
        read_exposure(write(tmp_path, "exp.csv", text))
    assert (e.value.line, e.value.field) == (line, field)
    assert words in e.value.message_en and "exp.csv" in e.value.message_zh


# ------------------------------------------------------------------------------------------ GMF, sites

def test_gmf_reader_layouts(tmp_path):
    g = read_gmf_csv(write(tmp_path, "g.csv", "event_id,site_id,PGA,gmv_SA(0.3)\n1,0,0.1,0.2\n0,1,0.3,0.4\n"))
    assert g.imts == ("PGA", "SA(0.3)") and g.events.tolist() == [0, 1]
    m = g.matrix("SA(0.3)", np.array([0, 1]), 2)
    np.testing.assert_array_equal(m, [[np.nan, 0.2], [0.4, np.nan]])
    # OpenQuake export comment line, trailing blanks
    g2 = read_gmf_csv(write(tmp_path, "g2.csv", '#,,"generated_by=OQ"\nsid,eid,gmv_PGA\n0,0,0.5  \n'))
    assert g2.values["PGA"].tolist() == [0.5]


@pytest.mark.parametrize("text, line, field, words", [
    ("sid,eid,gmv_PGA\n0,0,0.1\n0,0,0.2\n", 3, "eid", "twice"),  # OQ case_2 once had such a row
    ("sid,eid,gmv_PGA\n0,0,big\n", 2, "gmv_PGA", "not a number"),
    ("sid,eid,gmv_PGA\n0,0,-0.1\n", 2, "gmv_PGA", "negative"),
    ("sid,eid,gmv_PGA\n0,x,0.1\n", 2, "eid", "integer"),
    ("rlzi,sid,eid,gmv_PGA\n0,0,0,0.1\n1,0,1,0.1\n", 3, "rlzi", "realisations"),
    ("sid,eid,vs30\n0,0,760\n", 1, "gmv_<IMT>", "no ground-motion columns"),
    ("eid,gmv_PGA\n0,0.1\n", 1, "sid", "required column"),
    ("sid,eid,gmv_PGA\n", None, None, "no ground-motion rows"),
])
def test_gmf_errors(tmp_path, text, line, field, words):
    with pytest.raises(OQInputError) as e:
        read_gmf_csv(write(tmp_path, "gmf.csv", text))
    assert (e.value.line, e.value.field) == (line, field)
    assert words in e.value.message_en


def test_sites_reader_and_errors(tmp_path):
    s = read_sites_csv(write(tmp_path, "s.csv", "lon,lat,vs30\n1,2,760\n3,4,760\n"))
    assert s.ids.tolist() == [0, 1]  # no id column: row order, as OpenQuake numbers sites.csv
    with pytest.raises(OQInputError, match="repeated") as e:
        read_sites_csv(write(tmp_path, "d.csv", "site_id,lon,lat\n0,1,2\n0,3,4\n"))
    assert e.value.line == 3
    with pytest.raises(OQInputError, match="outside") as e:
        read_sites_csv(write(tmp_path, "o.csv", "site_id,lon,lat\n0,200,2\n"))


def test_association_nearest_site_and_distance_cut():
    sites = Sites(np.array([10, 11]), np.array([120.0, 120.5]), np.array([40.0, 40.0]))
    row, dist = associate([120.1, 120.45, 121.5], [40.0, 40.0, 40.0], sites, max_distance_km=20)
    assert row.tolist() == [0, 1, -1]
    # 0.1 degree of longitude at 40°N on a 6371 km sphere ≈ 8.52 km (chord ≈ arc at this scale)
    assert dist[0] == pytest.approx(6371 * np.radians(0.1) * np.cos(np.radians(40)), rel=1e-4)


# ------------------------------------------------------------------------------ errors across the files

def _inputs(tmp_path, exposure=EXPOSURE, gmf="sid,eid,gmv_PGA,gmv_SA(0.3)\n0,0,0.2,0.3\n1,0,0.3,0.4\n"):
    e = read_exposure(write(tmp_path, "exp.csv", exposure))
    g = read_gmf_csv(write(tmp_path, "gmf.csv", gmf))
    s = read_sites_csv(write(tmp_path, "sites.csv", "site_id,lon,lat\n0,15.48,38.09\n1,15.56,38.17\n"))
    return e, g, s


def test_taxonomy_missing_from_fragility_model(tmp_path):
    e, g, s = _inputs(tmp_path)
    with pytest.raises(OQInputError) as err:
        compute_scenario_damage(e, read_fragility_model(frag05(tmp_path)), g, s)
    assert (Path(err.value.path).name, err.value.line, err.value.field) == ("exp.csv", 2, "taxonomy")
    assert "'RM'" in err.value.message_en and "frag.xml" in err.value.message_en and "C, W" in err.value.message_en


def test_imt_missing_from_gmf(tmp_path):
    e, g, s = _inputs(tmp_path, exposure="id,lon,lat,taxonomy,number\na,15.48,38.09,W,1\n",
                      gmf="sid,eid,gmv_PGA\n0,0,0.2\n")
    with pytest.raises(OQInputError) as err:
        compute_scenario_damage(e, read_fragility_model(frag05(tmp_path)), g, s)
    assert Path(err.value.path).name == "gmf.csv" and err.value.field == "gmv_SA(0.3)"
    assert "'W'" in err.value.message_en


def test_gmf_site_missing_from_sites_file(tmp_path):
    e, g, s = _inputs(tmp_path, exposure="id,lon,lat,taxonomy,number\na,15.48,38.09,C,1\n",
                      gmf="sid,eid,gmv_PGA\n0,0,0.2\n7,0,0.3\n")
    with pytest.raises(OQInputError, match="site id 7") as err:
        compute_scenario_damage(e, read_fragility_model(frag05(tmp_path)), g, s)
    assert err.value.line == 3


def test_no_asset_within_reach_and_dropped_assets(tmp_path):
    exposure = "id,lon,lat,taxonomy,number\nnear,15.48,38.09,C,1\nfar,16.5,38.09,C,1\n"
    e, g, s = _inputs(tmp_path, exposure=exposure)
    r = compute_scenario_damage(e, read_fragility_model(frag05(tmp_path)), g, s, max_distance_km=15)
    assert [e.ids[i] for i in r.kept] == ["near"] and r.dropped[0][0] == "far"
    assert r.dropped[0][1] == pytest.approx(82.7, abs=0.5)  # 0.94° of longitude at 38.09°N
    with pytest.raises(OQInputError, match="within 0.001 km"):
        compute_scenario_damage(read_exposure(write(tmp_path, "x.csv", exposure.replace("15.48,", "15.481,"))),
                                read_fragility_model(frag05(tmp_path)), g, s, max_distance_km=0.001)


def test_missing_gmf_rows_mean_undamaged_even_with_min_iml(tmp_path):
    # W is continuous; with minIML 0.25 a present zero is clipped up to 0.25 (OQ), a missing row is undamaged
    fp = write(tmp_path, "frag.xml", NRML05.format(loss="structural", mean="0.9").replace('minIML="0.05"',
                                                                                       'minIML="0.25"'))
    e, g, s = _inputs(tmp_path, exposure="id,lon,lat,taxonomy,number\na,15.48,38.09,W,10\nb,15.56,38.17,W,10\n",
                      gmf="sid,eid,gmv_SA(0.3)\n0,0,0.0\n0,1,0.0\n1,0,0.0\n")
    r = compute_scenario_damage(e, read_fragility_model(fp), g, s)
    f = read_fragility_model(fp).model.functions["W"][0]
    assert r.n_events == 2 and f([0.0])[0] == f([0.25])[0] > 0.1
    assert r.mean[0, 1] + r.mean[0, 2] == pytest.approx(10 * f([0.25])[0])  # both events at minIML
    assert r.mean[1, 1] + r.mean[1, 2] == pytest.approx(10 * f([0.25])[0] / 2)  # event 1 missing: undamaged


def test_taxonomy_mapping_weights(tmp_path):
    mp = write(tmp_path, "map.csv", "taxonomy,risk_id,weight\nMIX,C,0.25\nMIX,W,0.75\n")
    mapping = read_taxonomy_mapping(mp)
    assert mapping == {"MIX": [("C", 0.25), ("W", 0.75)]}
    e, g, s = _inputs(tmp_path, exposure="id,lon,lat,taxonomy,number\na,15.48,38.09,MIX,4\n")
    src = read_fragility_model(frag05(tmp_path))
    r = compute_scenario_damage(e, src, g, s, mapping, str(mp))
    expect = 4 * (0.25 * src.model.damage_fractions("C", [0.2], 1e-7)[0]
                  + 0.75 * src.model.damage_fractions("W", [0.3], 1e-7)[0])
    np.testing.assert_allclose(r.mean[0], expect)
    assert sorted(r.imts) == ["PGA", "SA(0.3)"]
    bad = write(tmp_path, "bad.csv", "taxonomy,conversion,weight\nMIX,C,0.5\nMIX,W,0.4\n")
    with pytest.raises(OQInputError, match="add up to 0.9") as err:
        read_taxonomy_mapping(bad)
    assert err.value.line == 2
    gone = write(tmp_path, "gone.csv", "taxonomy,conversion\nMIX,Q\n")
    with pytest.raises(OQInputError, match="mapped to 'Q' by gone.csv"):
        compute_scenario_damage(e, src, g, s, read_taxonomy_mapping(gone), str(gone))
