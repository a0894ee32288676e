"""vmimage CrossGuard policy pack; rules live in :mod:`policy.rules` (pure, no pulumi imports)."""
