"""`census demo`: the whole census on the embedded sample county, step by step.

Each step is a plain function over the library; the demo says plainly what it made and what is not
built yet, so a newcomer sees the real state of the toolkit.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from .common import EXIT_OK, callback_progress, handle_errors, progress

# Steps of the full census that later capabilities add; the demo lists them as not yet available.
NOT_YET = [
    ("模拟外业调查与回传包", "simulated fieldwork and signed return packages"),
    ("县级数据库导入、冲突与反馈", "county geodatabase import, conflicts and feedback"),
    ("风险评估与五级区划", "risk assessment and five-level zoning"),
    ("区划图与县级报告", "zoning maps and the county report"),
]


@click.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="输出目录 / output folder.")
@click.option("--buildings", default=30000, show_default=True, type=click.IntRange(min=100),
              help="样例县房屋图斑数量 / building footprints in the sample county.")
@click.option("--seed", default=2020, show_default=True, type=int, help="随机种子 / random seed.")
@handle_errors
def demo(out_dir: str, buildings: int, seed: int) -> None:
    """在内置样例县（兴城市）上运行整个普查流程 / Run the census end to end on the sample county.

    \b
    Example:
      census demo --out demo_out
      census demo --out demo_small --buildings 2000
    """
    from schemas.catalogue import all_forms
    from schemas.xlsform import export_xlsform

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    made: list[tuple[str, str]] = []
    t0 = time.perf_counter()

    # 1. the form catalogue, as XLSForms an ODK/Kobo server can take
    forms = all_forms()
    xdir = out / "xlsforms"
    xdir.mkdir(exist_ok=True)
    with progress("导出表单 / exporting forms", total=len(forms)) as advance:
        for form in forms.values():
            export_xlsform(form, xdir / f"{form.id}.xlsx")
            advance()
    blocks = sorted({f.block.title_zh for f in forms.values()})
    made.append((str(xdir), f"{len(forms)} 张普查表单的 XLSForm（覆盖 {len(blocks)} 个普查内容分块）/ "
                            f"XLSForms of {len(forms)} census forms"))

    # 2. the sample county: real boundaries, generated townships, terrain, buildings, hazard layers
    from sample_data.build import build_sample

    with progress("生成样例县 / building the sample county", total=None) as advance:
        cb = callback_progress(advance)
        result = build_sample(out / "sample", county="211481", buildings=buildings, seed=seed, quicklook=True,
                              progress=lambda step, done, total: cb(done, total))
    made.append((str(out / "sample"), f"样例县：{result.summary_zh()} / sample county: {result.summary_en()}"))

    summary = {"out": str(out), "seconds": round(time.perf_counter() - t0, 1),
               "made": [{"path": p, "what": w} for p, w in made],
               "not_yet": [f"{zh} / {en}" for zh, en in NOT_YET]}
    (out / "demo_summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    click.echo(f"演示完成，用时 {summary['seconds']} 秒 / demo finished in {summary['seconds']} s")
    for p, w in made:
        click.echo(f"  ✔ {p}: {w}")
    click.echo("尚未实现（后续版本）/ not built yet:")
    for zh, en in NOT_YET:
        click.echo(f"  … {zh} / {en}")
    raise SystemExit(EXIT_OK)
