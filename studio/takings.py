"""`studio payments`: what was sold and refunded, one line per payment, then totals per currency."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from db.models import Payment, PaymentState


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else ""


def _price(amount: int, currency: str) -> str:
    return f"{amount} {currency}" if currency else "store"


def payment_line(payment: Payment) -> str:
    buyer = f"{payment.platform}:{payment.platform_user_id}" + ("" if payment.user_id is not None else " (deleted)")
    line = (f"{_when(payment.created_at)}  {payment.platform:<8} {payment.external_id:<28} {buyer:<28} "
            f"{payment.pack_id:<10} {_price(payment.amount, payment.currency):>10} {payment.credits:>5} cr  {payment.state}")
    if payment.state == PaymentState.refunded:
        line += f" {_when(payment.refunded_at)}, {payment.credits_taken_back} cr taken back"
        if payment.credits_taken_back < payment.credits:
            line += f", shortfall {payment.credits - payment.credits_taken_back}"
    return line


def report(payments: Sequence[Payment], since: datetime | None) -> list[str]:
    """Takings: payments made since ``since`` count as sold, refunds made since as refunded."""
    sold: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # count, amount, credits
    refunded: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for payment in payments:
        key = f"{payment.platform} {payment.currency or 'store'}"
        if since is None or payment.created_at >= since:
            totals = sold[key]
            totals[0], totals[1], totals[2] = totals[0] + 1, totals[1] + payment.amount, totals[2] + payment.credits
        if payment.state == PaymentState.refunded and (since is None or (payment.refunded_at and payment.refunded_at >= since)):
            totals = refunded[key]
            totals[0], totals[1], totals[2] = totals[0] + 1, totals[1] + payment.amount, totals[2] + payment.credits_taken_back
    lines = [payment_line(p) for p in payments]
    if not payments:
        lines.append("no payments" + (f" since {since:%Y-%m-%d}" if since else ""))
    for key in sorted(set(sold) | set(refunded)):
        s, r = sold[key], refunded[key]
        unit = key.split(" ", 1)[1]
        if unit == "store":  # the platform's store keeps the price (Discord SKUs)
            lines.append(f"{key}: sold {s[0]} ({s[2]} credits); refunded {r[0]} ({r[2]} credits taken back)")
            continue
        lines.append(f"{key}: sold {s[0]} for {s[1]} {unit} ({s[2]} credits); refunded {r[0]} for {r[1]} {unit} "
                     f"({r[2]} credits taken back); net {s[1] - r[1]} {unit}")
    return lines
