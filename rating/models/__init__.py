"""Charge models: one module each, a frozen spec and a pricing function.

The list of models lives in one place, :mod:`rating.registry`.
"""
