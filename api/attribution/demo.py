"""Demo data of the attribution app: compute credits and RFM over the demo orders, then a referral."""

from __future__ import annotations

from typing import Any

from api.attribution import services


def seed_attribution(*, rng: Any, stdout: Any = None) -> str:  # noqa: ARG001 - deterministic, no randomness
    """Run a full attribution and score RFM over the demo data; returns a one-line account."""
    run = services.attribution_run(full=True)
    scored = services.rfm_recompute()
    credits = run.credits_written if run else 0
    return f"{credits} credits over {run.orders_processed if run else 0} orders, {scored} RFM scores"
