"""The Grafana dashboard, built from typed panels and written to vercel-ai-gateway.json.

The JSON is the artefact users import (and the Helm chart ships); this package is its source,
so that some 40 panels share one style and one set of selectors, and every metric name comes
from the metric contract (``exporter.metrics``). After a change:

    .venv/bin/python -m grafana.dashboards

- ``panels``: the panel kinds as dataclasses, and how each becomes Grafana JSON;
- ``queries``: selectors restricted to the dashboard's variables, and the recorded series;
- ``rows/``: one module per row of the dashboard;
- ``dashboard``: variables, layout and the whole document.

tests/dashboard/test_dashboard_static.py fails when the JSON and this package disagree.
"""
