"""Precomputed forecasts, one row per SKU, site and day (demand) or per outstanding rental (late
returns), written by the job's forecast step and served by ``GET /forecasts/*``. Each row names the
model that made it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from allocation.jobs.db import Base

__all__ = ["DemandForecastRow", "LateReturnForecastRow"]


class DemandForecastRow(Base):
    __tablename__ = "forecast_demand"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(String(32))
    job_id: Mapped[str] = mapped_column(String(32), index=True)
    sku_id: Mapped[str] = mapped_column(String(64))
    site_id: Mapped[str] = mapped_column(String(64))
    day: Mapped[dt.date] = mapped_column(Date)
    expected_total: Mapped[float] = mapped_column(Float)
    expected_unbooked: Mapped[float] = mapped_column(Float)
    # Poisson quantiles of the day's total; null for a model without a distribution.
    p10: Mapped[float | None] = mapped_column(Float)
    p50: Mapped[float | None] = mapped_column(Float)
    p90: Mapped[float | None] = mapped_column(Float)
    model: Mapped[str] = mapped_column(String(64))
    __table_args__ = (Index("ix_forecast_demand_lookup", "dataset_id", "sku_id", "site_id", "day"),)


class LateReturnForecastRow(Base):
    __tablename__ = "forecast_late_returns"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(String(32))
    job_id: Mapped[str] = mapped_column(String(32), index=True)
    unit_id: Mapped[str] = mapped_column(String(64))
    sku_id: Mapped[str] = mapped_column(String(64))
    site_id: Mapped[str] = mapped_column(String(64))
    due_back: Mapped[dt.date] = mapped_column(Date)
    p_late: Mapped[float] = mapped_column(Float)
    expected_delay_days: Mapped[float] = mapped_column(Float)
    p90_delay_days: Mapped[int] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String(64))
    __table_args__ = (Index("ix_forecast_late_lookup", "dataset_id", "sku_id", "site_id", "due_back"),)
