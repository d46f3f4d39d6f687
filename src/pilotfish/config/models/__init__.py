"""Typed Istio API models (pydantic v2, frozen), one subpackage per API group.

`base` holds `IstioModel` and the strict scalar types every model uses.
"""
