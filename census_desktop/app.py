"""``census-desktop``: the township enumerator's app.

    census-desktop [--db TOWN.db] [--enrolment ENROLMENT.json] [--workmap DIR] [--lang zh|en]
                   [--open BUILDING_ID|RECORD_UUID] [--screenshot FILE.png]

``--enrolment`` on first run creates the township database (at ``--db``, else next to the enrolment
file as ``ENROLMENT.db``) and opens it; later runs just open it.  ``--workmap`` is the work-map folder:
on first run its footprints are loaded into the store; on any run the map draws the village outlines
from it (else from the folder the store was made from, else round each village's footprints).
``--open`` opens a footprint's or a record's form at start.  ``--screenshot`` waits for the map, renders
the main window — with any open form drawn where it stands — into a PNG and exits (works without a
display: ``QT_QPA_PLATFORM=offscreen`` is used when no ``DISPLAY`` is set), so docs and checks can
show the app.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

CJK_FAMILIES = ("WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC",
                "Microsoft YaHei", "Microsoft YaHei UI", "SimHei", "PingFang SC", "Heiti SC", "SimSun")


def find_cjk_font(families) -> str | None:
    """The first CJK family we know among ``families`` (any case), else any family whose name says CJK."""
    lower = {f.lower(): f for f in families}
    for name in CJK_FAMILIES:
        if name.lower() in lower:
            return lower[name.lower()]
    for f in families:
        if any(k in f.lower() for k in ("cjk", "wenquanyi", "yahei", "hei", "song", "kai")):
            return f
    return None


def create_store(enrolment: Path, db: Path | None, workmap: str | Path | None):
    """Open the store for an enrolment, creating it on first run (next to the enrolment by default)."""
    from geodb.township import TownshipStore

    db = Path(db) if db is not None else enrolment.with_suffix(".db")
    if db.exists():
        return TownshipStore.open(db)
    return TownshipStore.init(db, enrolment, workmap)


def wait_for_map(app, win, timeout: float = 120.0) -> None:
    """Let the map finish loading (it loads off the GUI thread), so a screenshot shows it."""
    deadline = time.monotonic() + timeout
    while not win.map_settled and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.005)
    app.processEvents()


def screenshot(win):
    """The main window with its open forms drawn where they stand (as on screen; an offscreen platform
    has no screen to grab), each with a soft shadow."""
    from PyQt5.QtCore import QRectF
    from PyQt5.QtGui import QColor, QPainter

    pm = win.grab()
    painter = QPainter(pm)
    painter.setRenderHint(QPainter.Antialiasing, True)
    origin = win.geometry().topLeft()
    for ed in win._open_editors():
        if not ed.isVisible():
            continue
        shot = ed.grab()
        at = ed.geometry().topLeft() - origin
        for k, alpha in ((10, 14), (6, 22), (3, 34)):
            painter.setPen(QColor(0, 0, 0, 0))
            painter.setBrush(QColor(0, 0, 0, alpha))
            painter.drawRoundedRect(QRectF(at.x() - k + 3, at.y() - k + 5, shot.width() + 2 * k, shot.height() + 2 * k), k, k)
        painter.drawPixmap(at, shot)
        painter.setPen(QColor("#9aa7b3"))
        painter.setBrush(QColor(0, 0, 0, 0))
        painter.drawRect(QRectF(at.x() - 0.5, at.y() - 0.5, shot.width(), shot.height()))
    painter.end()
    return pm


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="census-desktop",
        description="自然灾害综合风险普查 乡镇填报程序 / township census entry app",
        epilog="例 / example: census-desktop --db 211481106.db\n"
               "             census-desktop --enrolment 注册文件.json --workmap sample/\n"
               "             census-desktop --db 211481106.db --workmap sample/ --open B21148110600100001\n"
               "             census-desktop --db 211481106.db --screenshot shot.png",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", type=Path, help="乡镇数据库 / township database (TOWN.db)")
    p.add_argument("--enrolment", type=Path, help="注册文件（首次使用）/ enrolment file (first run)")
    p.add_argument("--workmap", type=Path, help="调查底图目录（首次使用时载入图斑；地图村界）/ work-map folder "
                                                "(footprints on first run; village outlines on the map)")
    p.add_argument("--lang", choices=("zh", "en"), default="zh", help="界面语言 / UI language (default zh)")
    p.add_argument("--open", dest="open_key", metavar="ID", help="启动时打开该房屋编号或记录的表单 / open this "
                                                                   "building's or record's form at start")
    p.add_argument("--screenshot", type=Path, help="保存主窗口截图后退出 / save the main window as PNG and exit")
    p.add_argument("--size", default="1280x800", help="窗口大小 / window size WxH (default 1280x800)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.screenshot and not os.environ.get("DISPLAY") and not os.environ.get("QT_QPA_PLATFORM"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    try:
        width, height = (int(x) for x in args.size.lower().split("x"))
    except ValueError:
        print(f"--size 应为 宽x高，例如 1280x800 / --size must be WxH, e.g. 1280x800: {args.size}", file=sys.stderr)
        return 2
    if args.db is not None and args.enrolment is None and not args.db.is_file():
        print(f"找不到乡镇数据库 {args.db}；首次使用请加 --enrolment 注册文件.json / "
              f"township database {args.db} not found; on first run add --enrolment ENROLMENT.json", file=sys.stderr)
        return 2
    if args.enrolment is not None and not args.enrolment.is_file():
        print(f"找不到注册文件 {args.enrolment} / enrolment file {args.enrolment} not found", file=sys.stderr)
        return 2

    t0 = time.perf_counter()
    from PyQt5.QtGui import QFont, QFontDatabase
    from PyQt5.QtWidgets import QApplication, QMessageBox

    from schemas.errors import CensusError

    from . import i18n
    from .main_window import MainWindow

    i18n.set_language(args.lang)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("census-desktop")
    family = find_cjk_font(QFontDatabase().families())
    if family:
        app.setFont(QFont(family, 10))
    else:
        print(i18n.TEXT["font_missing"][0] + "\n" + i18n.TEXT["font_missing"][1], file=sys.stderr)

    store = None
    try:
        if args.enrolment is not None:
            store = create_store(args.enrolment, args.db, args.workmap)
        elif args.db is not None:
            from geodb.township import TownshipStore
            store = TownshipStore.open(args.db)
    except CensusError as e:
        print(f"{e.message_zh}\n{e.message_en}", file=sys.stderr)
        return 1

    win = MainWindow(store, workmap=args.workmap)
    win.resize(width, height)
    if not family:
        win.statusBar().showMessage(i18n.tr("font_missing"))
    if args.screenshot is not None:
        win.move(0, 0)
    win.show()
    app.processEvents()
    t_window = time.perf_counter() - t0
    if args.screenshot is not None:
        wait_for_map(app, win)
    t_map = time.perf_counter() - t0
    if args.open_key:
        if win.open_key(args.open_key) is None:
            print(f"找不到房屋编号或记录 {args.open_key} / no building or record {args.open_key}", file=sys.stderr)
    if args.screenshot is not None:
        for _ in range(5):
            app.processEvents()
        args.screenshot.parent.mkdir(parents=True, exist_ok=True)
        ok = screenshot(win).save(str(args.screenshot))
        if not ok:
            print(f"无法写入截图 {args.screenshot} / could not write {args.screenshot}", file=sys.stderr)
            return 1
        print(f"{args.screenshot}  (窗口/window {t_window:.2f} s · 地图/map {t_map:.2f} s · "
              f"共/total {time.perf_counter() - t0:.2f} s)")
        win.close()
        return 0
    if not family:
        QMessageBox.warning(win, "字体 / Font", i18n.TEXT["font_missing"][0] + "\n\n" + i18n.TEXT["font_missing"][1])
    return app.exec_()


if __name__ == "__main__":
    sys.exit(main())
