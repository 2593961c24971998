"""A span (named-entity) project added to a test store: texts, pre-labels and a honeypot."""

from __future__ import annotations

from dataclasses import dataclass

from labelloop.core.records import AnnotationRecord, ItemRecord, Span
from labelloop.core.schema import LabelSchema, ProjectSettings
from labelloop.storage import Store
from labelloop.storage.store import ProjectInfo

SPAN_GOLD = "span-gold-secret-7c2"
SPAN_XSS = "<img src=x onerror=\"window.__pwned=1\"> Ada <script>window.__pwned=2</script> wins"
TEXTS = [
    "Ada Lovelace met Charles Babbage in London.",
    "Grace Hopper joined the Navy and later worked at Remington Rand.",
    SPAN_XSS,
]
HONEYPOT = "Alan Turing worked in Manchester."


@dataclass
class SpanWorld:
    """The span project, its items (texts in order, then the honeypot) and sources."""

    project: ProjectInfo
    items: list[int]
    honeypot: int


def add_span_project(store: Store, *, overlap: int = 2, honeypot_rate: float = 0.0
                     ) -> SpanWorld:
    """Create project ``people`` (task ``spans``: PER, ORG, LOC) with a label-model
    pre-label on the first text and gold spans on a honeypot."""
    schema = LabelSchema.parse({"task": "spans", "classes": {
        "PER": "A person", "ORG": "An organisation", "LOC": "A place"}})
    p = store.create_project("people", schema, ProjectSettings(
        overlap=overlap, honeypot_rate=honeypot_rate))
    items = store.import_records(p.id, [ItemRecord(data={"text": t}) for t in TEXTS]).item_ids
    hp = store.import_records(p.id, [ItemRecord(data={"text": HONEYPOT})]).item_ids[0]
    lm = store.ensure_source(p.id, "label_model", "span-label-model")
    store.upsert_annotations(p.id, [AnnotationRecord(
        item_id=items[0], source_id=lm.id, confidence=0.62,
        spans=[Span(start=0, end=12, label="PER", score=0.9),
               Span(start=17, end=32, label="PER", score=0.55),
               Span(start=36, end=42, label="LOC")])])
    gold = store.ensure_source(p.id, "gold", SPAN_GOLD)
    store.upsert_annotations(p.id, [AnnotationRecord(
        item_id=hp, source_id=gold.id,
        spans=[Span(start=0, end=11, label="PER"), Span(start=22, end=32, label="LOC")])])
    return SpanWorld(store.get_project("people"), items, hp)
