"""The Kubernetes Gateway API (gateway.networking.k8s.io), as Istio serves it.

Owns the spec models of the kinds served (`models`; the kinds themselves are listed in
`config.kinds`, `GATEWAY_API_SERVED`) and the API server's rules on them (`rules`: the CRDs'
schema and CEL validation, with field paths), the conversion istiod does internally into Istio
`Gateway` and `VirtualService` objects (`convert`, `http_routes`), and what
Istio's gateway controller derives from a `Gateway` of class `istio`: its automated deployment
(`deployment`) and the status it writes back (`status`). Gateway API documents are stored as
they are read (never as `ConfigObject`s: Istio's `Gateway` has the same kind name); what
translation sees is their conversion. Part of `config`: imports nothing above it. Pure: no I/O.
"""
