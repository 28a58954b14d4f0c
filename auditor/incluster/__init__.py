"""In-cluster mode: `scan --publish` keeps its state in a ConfigMap, reports drift between
runs, applies policy reports, and `serve-metrics` serves the last run's metrics."""
