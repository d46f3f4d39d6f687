"""Typed Istio API models (pydantic v2, frozen), one subpackage per API group.

`base` holds `IstioModel` and the strict scalar types every model uses. Owns the shape of each
kind's spec, nothing else (semantic rules are `config.validation`'s). Imports only pydantic and
itself: no other pilotfish module, so a kind's models load alone (lazily, see `lazy`).
"""
