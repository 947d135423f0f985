"""Rollups: the writes ingest makes, the batch statement, and the reads funnels use."""
