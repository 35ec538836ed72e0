"""The engine: domain (definitions, machine, SLA maths, calendar, org), storage, and the facade.

Domain modules — no database, no drivers, no clock reads; they only read the files they load:
errors, suggest, yamlsource, definition, expressions, fields, machine, loader, org, org_loader,
duration, calendar, sla, recipients, templates, cases. Storage: tables, store, rows. Facade:
engine, with its parts timers (SLA timer passes) and notices (recipients, rendering, outbox).
"""
