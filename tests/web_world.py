"""A street's worth of work for the web workbench's tests, screenshots and benchmarks.

``build_world(url, files_dir)`` fills a database with the built-in workflows' cases on the
web test org (``tests/data_web/org.yaml``): four-list problems in every column of the area
board (one overdue, one asking two departments, one reworked, one with photos, one written
off), questions to departments (必答题) and department questions open for claims (抢答题),
and a case in another area (out of Wannan's scope). Every person's password is
``PASSWORD``. The clock is a ``WorldClock`` the caller may move.

``serve(world)`` runs the API with the workbench on a real uvicorn server on loopback in a
thread; ``server.url``; ``server.stop()``.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

DATA_WEB = Path(__file__).parent / "data_web"
WEB_ORG = DATA_WEB / "org.yaml"
PASSWORD = "gridflow-2026!"
START = datetime(2026, 9, 7, 1, 30, tzinfo=UTC)  # Monday 09:30 in Shanghai, a working day


class WorldClock:
    """A settable clock (the engine's)."""

    def __init__(self, now: datetime = START):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


def photo_png(width: int = 160, height: int = 120, hue: int = 0) -> bytes:
    """A real PNG: a soft gradient (looks like a photo thumbnail, not a blank)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = []
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            r = (80 + x + hue) % 256
            g = (120 + y + hue // 2) % 256
            b = (160 + (x + y) // 2) % 256
            row += bytes((r, g, b))
        rows.append(bytes(row))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )


@dataclass
class World:
    engine: Any
    clock: WorldClock
    files_dir: Path
    cases: dict[str, int] = field(default_factory=dict)

    def close(self) -> None:
        self.engine.close()


def fast_hasher() -> Any:
    """argon2id with small costs: tests sign in many times (production keeps the defaults)."""
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


def build_world(url: str, files_dir: Path, *, passwords: bool = True, org: Path = WEB_ORG) -> World:
    from io import BytesIO

    from gridflow import Engine
    from gridflow.domain.org_loader import load_org_file

    clock = WorldClock()
    engine = Engine(url, directory=load_org_file(org), clock=clock)
    engine.files.configure(files_dir)
    engine.accounts.hasher = fast_hasher()
    w = World(engine, clock, files_dir)
    if passwords:
        for person in engine.directory.people:
            engine.accounts.set_password(person, PASSWORD)

    def start(key: str, wf: str, who: str, **data: Any) -> int:
        case = engine.start(wf, actor=who, data=data)
        w.cases[key] = case.id
        return case.id

    def fire(key: str, trigger: str, who: str, comment: str | None = None, **data: Any) -> None:
        engine.fire(w.cases[key], trigger, actor=who, data=data, comment=comment)

    clock.now = START - timedelta(days=10)
    # 问题清单: listed ten days ago and never accepted — overdue
    start(
        "stairs",
        "four_list",
        "wannan-r1.chief",
        title="楼道堆物堵塞消防通道",
        source="patrol",
        location="宛南一村12号楼",
    )
    clock.now = START - timedelta(days=8)
    start(
        "elevator", "four_list", "wannan-r2.chief", title="老旧小区加装电梯意见分歧", source="visit"
    )
    fire("elevator", "accept", "wannan.chief", owner="fenglin.head")
    start(
        "drain", "four_list", "wannan-r1.chief", title="雨水管网堵塞，雨天积水", source="complaint"
    )
    fire("drain", "accept", "wannan.chief")
    fire(
        "drain",
        "assign",
        "wannan.chief",
        lead_department="city_mgmt",
        deadline="2026-09-18",
        co_departments=["sanitation"],
    )
    start(
        "garbage", "four_list", "wannan-r1-m1.chief", title="垃圾分类点异味扰民", source="hotline"
    )
    fire("garbage", "accept", "wannan.chief")
    fire("garbage", "ask", "wannan.chief", ask_departments=["sanitation", "city_mgmt"])
    clock.now = START - timedelta(days=6)
    start("shed", "four_list", "wannan-r2.chief", title="违章搭建彩钢板棚", source="patrol")
    fire("shed", "accept", "wannan.chief")
    fire("shed", "assign", "wannan.chief", lead_department="city_mgmt", deadline="2026-09-25")
    photos = []
    for hue in (0, 90):
        record = engine.files.store(
            BytesIO(photo_png(hue=hue)), f"现场{hue}.png", uploader="city_mgmt.liaison"
        )
        photos.append(record.id)
    fire("shed", "report", "city_mgmt.liaison", result="已拆除彩钢板棚，恢复绿地", photos=photos)
    engine.files.bind({"photos": photos}, w.cases["shed"], "city_mgmt.liaison")
    start("lamp", "four_list", "wannan-r1.chief", title="小区路灯损坏", source="patrol")
    fire("lamp", "accept", "wannan.chief")
    fire("lamp", "assign", "wannan.chief", lead_department="city_mgmt", deadline="2026-09-10")
    fire("lamp", "report", "city_mgmt.liaison", result="已更换路灯8盏")
    fire("lamp", "submit_for_inspection", "wannan.chief", residents_informed=True)
    fire("lamp", "rework", "fenglin.head", comment="仍有2盏不亮")
    fire("lamp", "report", "city_mgmt.liaison", result="全部修复")
    fire("lamp", "submit_for_inspection", "wannan.chief", residents_informed=True)
    clock.now = START - timedelta(days=4)
    start("wall", "four_list", "wannan-r2.chief", title="围墙破损存在安全隐患", source="visit")
    fire("wall", "accept", "wannan.chief")
    fire("wall", "assign", "wannan.chief", lead_department="city_mgmt", deadline="2026-09-08")
    fire("wall", "report", "city_mgmt.liaison", result="已修复围墙")
    fire("wall", "submit_for_inspection", "wannan.chief", residents_informed=True)
    fire("wall", "pass_inspection", "fenglin.head")
    start(
        "bikes", "four_list", "wannan-r1-m1.chief", title="小区门口共享单车乱停放", source="patrol"
    )
    start("ximu", "four_list", "ximu-r1.chief", title="西木一村下水道反味", source="complaint")
    clock.now = START - timedelta(days=2)
    # 双向举手: a question to the police (必答题), one being answered, two open for claims
    start(
        "ask_police",
        "raise_hand",
        "wannan-r1.chief",
        title="夜间广场舞噪声扰民",
        question="晚上十点后仍有音响，居民多次投诉",
        category="normal",
    )
    fire("ask_police", "dispatch", "fenglin.dispatch", department="police")
    start(
        "ask_police2",
        "raise_hand",
        "wannan-r2.chief",
        title="电动车楼道充电隐患",
        category="simple",
    )
    fire("ask_police2", "dispatch", "fenglin.dispatch", department="police")
    fire("ask_police2", "sign", "police.liaison")
    start(
        "patrol",
        "raise_hand",
        "police.liaison",
        direction="dept_asks",
        title="夜间平安巡逻志愿队招募",
        department="police",
        max_awardees=2,
    )
    start(
        "sorting",
        "raise_hand",
        "sanitation.liaison",
        direction="dept_asks",
        title="垃圾分类宣传进楼组",
        department="sanitation",
        max_awardees=3,
    )
    fire("sorting", "raise_hand", "wannan-r2.chief")
    clock.now = START
    return w


class Server:
    """uvicorn serving ``app`` on a free loopback port, in a thread."""

    def __init__(self, app: Any):
        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=1,
            lifespan="on",
        )
        self.app = app
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="web-test-server", daemon=True)
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        api = getattr(self.app.state, "api", None)
        if api is not None:
            api.stopping.set()  # open event streams end now
        self.server.should_exit = True
        self.thread.join(timeout=10)


def make_app(world: World, **web: Any) -> Any:
    from gridflow.drivers.http.app import create_app
    from gridflow.drivers.http.settings import HttpSettings
    from gridflow.drivers.web.settings import WebSettings

    http = HttpSettings(files_dir=str(world.files_dir), sse_poll_seconds=0.2)
    return create_app(world.engine, http, web=WebSettings(**web), sweep=False)


def serve(world: World, **web: Any) -> Server:
    return Server(make_app(world, **web))
