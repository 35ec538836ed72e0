"""The domain ring: what a workflow is and how time runs — pure, no I/O but reading the
files it is asked to load, no clock reads (time comes in as ``now``), no SQL.

definition, yamlsource, validation, graph_checks, loader   the workflow format, staged
org, org_loader                                            the org directory (units, people)
fields, expressions, machine, recipients                   deciding one event
duration, calendar, calendar_overrides, sla                working time and SLA clocks
templates/ (sandbox, budget, renderer, checks)             notice templates, sandboxed
notice, cases, period, scope, diagram                      shapes shared by the rings above

Imports nothing of storage, service, builtin, report or drivers (import-linter checks it).
"""
