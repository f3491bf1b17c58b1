"""Generation lookups: ID intake, the durable exactly-once queue, and the metrics it feeds."""
