"""c2d.provider: the consumer-facing HTTP service (orders, signatures, encryption, compute API)."""
