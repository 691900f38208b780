"""Pricing rules, one small module per priced Terraform resource type (or a family priced alike),
in one package per cloud, after Infracost's `internal/resources/<cloud>/` and `registry.go`.

A rule module exports `TYPES` (the resource types it prices) and `price(resource, context)` (their
cost components); its cloud's `__init__.py` lists it in that cloud's `RULES` table. Resources
that cost nothing themselves are declared in `free.py`, and those billed only by traffic in
`usage.py`; `registry.py` joins them all, and `planner.cost.pricing.price_resource` looks a type
up there. Each registered type has a golden test of its priced output
(`tests/test_pricing_golden.py`).
"""
