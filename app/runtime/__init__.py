"""Long-lived services with a start/stop life: ingest writer, journal, webhook worker, caches."""
