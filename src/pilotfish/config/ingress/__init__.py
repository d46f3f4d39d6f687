"""Kubernetes Ingress (networking.k8s.io/v1 `Ingress`, `IngressClass`) as Istio's ingress
controller serves it: `models` reads and checks the documents, `convert` makes of them the Istio
Gateway and VirtualServices istiod makes, on the mesh's ingress gateway."""
