"""Citadel: root CA, SPIFFE workload identities, CSR signing, rotation."""
