"""Desktop app speed: start-up, opening a 200-field form, filtering 100,000 records.

Goals: start-up (``census-desktop --db T.db --screenshot``, a fresh process, imports included) ≤ 2 s;
opening a generated 200-field form in the editor ≤ 200 ms; a search keystroke over 100,000 records
(filter + sort + model reset) ≤ 100 ms.

    .venv/bin/python benchmarks/bench_desktop.py                 # builds a small store in a temp dir
    .venv/bin/python benchmarks/bench_desktop.py --db T.db       # start-up on your own store
    .venv/bin/python benchmarks/bench_desktop.py --records 100000
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

GOALS = {"startup": 2.0, "open_form": 0.200, "filter": 0.100}


def make_store(work: Path) -> Path:
    from sample_data.build import build_sample
    from sync.county import enrol_device, init_county
    from geodb.township import TownshipStore

    build_sample(work / "sample", buildings=2000, resolution=0.004)
    init_county(work / "county.gpkg", county="211481", sample=work / "sample")
    import geopandas as gpd
    b = gpd.read_file(work / "sample" / "sample.gpkg", layer="buildings", columns=["township_code"])
    township = str(b["township_code"].value_counts().index[0])
    _, enr = enrol_device(work / "county.gpkg", township=township, enumerator="张三", out=work / "e.json")
    TownshipStore.init(work / "T.db", enr, work / "sample").close()
    return work / "T.db"


def bench_startup(db: Path, runs: int = 3) -> float:
    exe = Path(sys.executable).with_name("census-desktop")
    times = []
    for i in range(runs):
        t = time.perf_counter()
        subprocess.run([str(exe), "--db", str(db), "--screenshot", str(db.parent / f"shot{i}.png")], check=True,
                       capture_output=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def big_form(n: int = 200):
    """A form with ``n`` fields of every type, made in code."""
    from schemas.model import Block, Choice, ChoiceList, Field, FieldType, Form, Text

    cl = ChoiceList("opts", Text("选项", "options"), tuple(Choice(str(i), Text(f"选项{i}", f"option {i}"))
                                                          for i in range(1, 7)))
    kinds = [FieldType.TEXT, FieldType.INTEGER, FieldType.DECIMAL, FieldType.DATE, FieldType.SELECT_ONE,
             FieldType.SELECT_MULTIPLE, FieldType.GEOPOINT]
    fields = []
    for i in range(n):
        t = kinds[i % len(kinds)]
        fields.append(Field(f"f{i}", t, Text(f"字段{i}", f"field {i}"), required=i % 3 == 0,
                            choices="opts" if t.is_select else None,
                            relevant=f"${{f{i - 7}}} != ''" if i % 10 == 9 and i >= 7 else None))
    return Form("bench200", "1", Block.EXPOSURE, Text("二百字段测试表", "200-field form"), tuple(fields), (cl,))


def bench_open_form(runs: int = 5) -> float:
    from PyQt5.QtWidgets import QApplication

    from census_desktop.form_editor import FormEditor

    app = QApplication.instance() or QApplication([])
    form = big_form()
    FormEditor(form).deleteLater()  # warm-up (imports, validator compile)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        ed = FormEditor(form)
        ed.show()
        app.processEvents()
        times.append(time.perf_counter() - t)
        ed.close()
        ed.deleteLater()
        app.processEvents()
    return statistics.median(times)


def bench_filter(n: int) -> tuple[float, float]:
    from PyQt5.QtWidgets import QApplication, QTableView

    from census_desktop.logic import record_rows
    from census_desktop.records_model import RecordsModel

    app = QApplication.instance() or QApplication([])
    rnd = random.Random(7)
    villages = {f"211481106{v:03d}": f"{rnd.choice('东西南北前后大小')}{rnd.choice('山河沟堡屯台')}村{v}" for v in range(1, 31)}
    codes = list(villages)
    states = ["final", "draft", "has_issues", "final", "final"]
    workmap = [{"building_id": f"B{i:08d}", "village_code": codes[i % 30], "urban": 0} for i in range(n)]
    records = [{"record_uuid": f"u{i}", "key": f"B{i:08d}", "status": states[i % 5], "error_count": i % 3,
                "updated_at": "2021-06-01T08:00:00+00:00", "exported_seq": None} for i in range(n)]
    t = time.perf_counter()
    rows = record_rows(records, "rural_house", workmap=workmap, village_names=villages)
    build = time.perf_counter() - t
    model = RecordsModel()
    view = QTableView()
    view.setModel(model)
    view.resize(900, 600)
    view.show()
    model.set_rows(rows)
    app.processEvents()
    times = []
    for text in ("村1", "B0000", "有问题", "东山", "B00099"):
        t = time.perf_counter()
        model.set_filter(text)
        model.sort(0)
        app.processEvents()
        times.append(time.perf_counter() - t)
    return build, max(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", type=Path, help="a township store for the start-up run (default: build one)")
    ap.add_argument("--records", type=int, default=100_000)
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or make_store(Path(tmp))
        results["startup"] = bench_startup(db)
    results["open_form"] = bench_open_form()
    build, results["filter"] = bench_filter(args.records)
    ok = True
    print(f"start-up (fresh process, screenshot)  {results['startup']:.2f} s     goal ≤ {GOALS['startup']} s")
    print(f"open a 200-field form                 {results['open_form'] * 1000:.0f} ms    goal ≤ {GOALS['open_form'] * 1000:.0f} ms")
    print(f"filter+sort {args.records:,} records (worst)  {results['filter'] * 1000:.0f} ms    "
          f"goal ≤ {GOALS['filter'] * 1000:.0f} ms  (rows built once in {build * 1000:.0f} ms)")
    for k, goal in GOALS.items():
        ok &= results[k] <= goal
    print("OK" if ok else "SLOWER THAN GOAL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
