"""c2d.operator: the operator service (job API for the provider) and the engine that runs jobs."""
