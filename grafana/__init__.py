"""What the exporter ships for Grafana and Prometheus: the dashboard and its generator
(``grafana.dashboards``), the alert and recording rules (``alerts/``) and their runbook."""
