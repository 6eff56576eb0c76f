"""How good a model is, and what it says: one scoring path with the cold-start fallback, metrics,
ranking, the NCF protocol, baselines, and the explore helpers (recommend, biases, factor maps)."""
