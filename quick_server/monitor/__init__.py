"""Seeing what the server does: request and job observations (bounded),
the dashboard, `status.json`, the `status` command and Prometheus
metrics. Consumers of what the connection layer, the job table and the
services hub report; the core never imports this wing."""
