"""What the exporter watches: credits, reports, budgets, the model catalog and thresholds,
each a poller and a collector behind one interface (base.py), made by the registry
(registry.py) when the configuration turns it on."""
