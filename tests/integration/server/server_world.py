"""Builders shared by the server tests: a store with two projects, users of every role."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labelloop.core.records import AnnotationRecord, Box, ItemRecord
from labelloop.core.schema import LabelSchema, ProjectSettings
from labelloop.services.users import Users
from labelloop.storage import Store
from labelloop.storage.store import ProjectInfo

SECRET = "test-secret-" + "q8Zr5uYv2LmN7xWc4TbK9pHs3FdJ6gAe"
PASSWORD = "correct horse battery"
GOLD_SOURCE = "gold-secret-source-1f9"
ROLES = ("admin", "reviewer", "annotator")
OTHER = "otherann-zq7"
XSS = "<script>window.__pwned = 1</script><img src=x onerror=alert(1)>"


def cheap_users(store: Store) -> Users:
    """Accounts with a fast argon2 setting (tests only)."""
    from argon2 import PasswordHasher

    return Users(store, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def png(path: Path, size: tuple[int, int] = (320, 240)) -> Path:
    """A small image with two coloured rectangles to box."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, (235, 238, 245))
    d = ImageDraw.Draw(img)
    d.rectangle([40, 50, 120, 140], fill=(220, 60, 60))
    d.rectangle([180, 90, 290, 200], fill=(60, 120, 220))
    img.save(path)
    return path


@dataclass
class World:
    """A store with a text project (A) and a detection project (B)."""

    store: Store
    users: Users
    a: ProjectInfo
    b: ProjectInfo
    a_items: list[int]
    b_items: list[int]
    honeypot: int
    media: Path
    ids: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)


def build_world(tmp: Path, *, url: str | None = None, honeypot_rate: float = 0.0,
                n_text: int = 6) -> World:
    """Create both projects and users ``admin``, ``reviewer``, ``annotator`` and OTHER."""
    store = Store(url or f"sqlite:///{tmp / 'labelloop.db'}")
    schema = LabelSchema.parse({"task": "text-classification", "classes": {
        "ham": "A genuine comment about the video.",
        "spam": "Self-promotion, links, <b>requests</b> to subscribe."}})
    a = store.create_project("comments", schema, ProjectSettings(
        overlap=2, honeypot_rate=honeypot_rate))
    texts = [f"comment number {i}" for i in range(n_text - 1)] + [XSS]
    ra = store.import_records(a.id, [ItemRecord(data={"text": t}) for t in texts])
    hp = store.import_records(a.id, [ItemRecord(data={"text": "check out my channel!!!"})])
    gold = store.ensure_source(a.id, "gold", GOLD_SOURCE)
    store.upsert_annotations(a.id, [AnnotationRecord(item_id=hp.item_ids[0],
                                                     source_id=gold.id, label=1)])
    model = store.ensure_source(a.id, "model", "zero-shot", "1")
    store.upsert_annotations(a.id, [AnnotationRecord(item_id=ra.item_ids[0], source_id=model.id,
                                                     label=1, confidence=0.83)])
    media = tmp / "media"
    media.mkdir(exist_ok=True)
    b = store.create_project("cells", LabelSchema.parse(
        {"task": "object-detection", "classes": {"red": "Red block", "blue": "Blue block"}}))
    imgs = [ItemRecord(data={"image": png(media / f"img{i}.png").name}, width=320, height=240)
            for i in range(2)]
    rb = store.import_records(b.id, imgs)
    pre = store.ensure_source(b.id, "model", "detector", "1")
    store.upsert_annotations(b.id, [AnnotationRecord(
        item_id=rb.item_ids[0], source_id=pre.id, confidence=0.7,
        boxes=[Box(x=35, y=45, w=90, h=100, label="red", score=0.7)])])
    users = cheap_users(store)
    w = World(store, users, store.get_project("comments"), store.get_project("cells"),
              ra.item_ids, rb.item_ids, hp.item_ids[0], media)
    for name, role in (("admin", "admin"), ("reviewer", "reviewer"),
                       ("annotator", "annotator"), (OTHER, "annotator")):
        u, _ = users.add(name, role, PASSWORD)
        w.ids[name] = u.id or 0
        w.tokens[name] = users.create_token(u.id or 0, "tests")
    return w


def login(client: Any, name: str, password: str = PASSWORD) -> str:
    """Log in through the HTML form; return the CSRF token of the session."""
    page = client.get("/login")
    nonce = re.search(r'name="nonce" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = client.post("/login", data={"name": name, "password": password, "nonce": nonce,
                                    "next": "/"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    home = client.get("/")
    return re.search(r'"X-CSRF-Token": "([0-9a-f]+)"', home.text).group(1)  # type: ignore[union-attr]
