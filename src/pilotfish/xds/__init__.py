"""xDS: snapshot cache, ADS gRPC server (SotW and delta), ACK/NACK, per-proxy sync status.

The stream state machine (`xds.stream`) does no I/O; `xds.server` only moves messages.
"""
