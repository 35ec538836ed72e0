"""Revisions ``0001`` (schema 1, the baseline) … head; each sets ``gf_meta.schema_version``."""
