"""The storage ring: all SQL. The only place that imports SQLAlchemy, SQLModel or the tables.

tables     the tables (SQLModel classes; SQLAlchemy Core runs the statements)
store      ``Store``: connections, transactions, the schema; its statement groups below
cases, timers, outbox, heartbeat, definitions, kpi   statements, grouped by what they are about
claims     the one claim-under-a-lease that timers and the outbox share
records    typed rows: what the store hands out (database rows never leave this ring)
"""
