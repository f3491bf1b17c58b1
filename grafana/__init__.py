"""What the exporter ships for Grafana and Prometheus, laid out as a monitoring mixin (see
README.md here): the dashboard and its generator (``grafana.dashboards``), the recording and
alerting rules with their promtool tests (``rules/``) and the runbook (``RUNBOOK.md``)."""
