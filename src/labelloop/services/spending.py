"""What people's labels cost so far, against labeling every item by hand (in labels, and in
money when the project sets prices)."""

from __future__ import annotations

from dataclasses import dataclass

from labelloop.core.schema import ProjectSettings
from labelloop.storage.records import StoreStatus


@dataclass(frozen=True)
class Spending:
    """Human answers spent on a project and what labeling everything by hand would take.

    Attributes
    ----------
    answers:
        Human answers stored (every annotator, experts included).
    expert_answers:
        Of them, the answers of the project's experts (setting ``experts``).
    by_hand:
        Answers labeling every item by hand would take: items x ``overlap``.
    cost, cost_by_hand:
        The same in money at the project's prices (``None`` without a price).
    currency:
        The prices' currency.
    """

    answers: int
    expert_answers: int
    by_hand: int
    cost: float | None
    cost_by_hand: float | None
    currency: str

    @property
    def share(self) -> float:
        """Answers spent as a share of labeling everything by hand."""
        return self.answers / self.by_hand if self.by_hand else 0.0


def spending(status: StoreStatus, settings: ProjectSettings) -> Spending:
    """:class:`Spending` from a project's status counts (answers per source: an SQL
    aggregate) and its settings."""
    experts = set(settings.experts)
    human = [s for s in status.sources if s.kind == "human"]
    answers = sum(s.annotations for s in human)
    by_experts = sum(s.annotations for s in human if s.name in experts)
    by_hand = status.items * settings.overlap
    price, expert_price = settings.price_per_label, settings.expert_price()
    cost = cost_by_hand = None
    if price is not None:
        cost = (answers - by_experts) * price + by_experts * (expert_price or 0.0)
        cost_by_hand = by_hand * price
    return Spending(answers, by_experts, by_hand, cost, cost_by_hand, settings.currency)
