"""Baseline forecasts: demand per SKU x site x day, late-return delays, cleaning failures.

Estimator-like classes with ``fit`` / ``predict`` / ``save`` / ``load``; scores in ``metrics``.
"""
