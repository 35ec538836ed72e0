"""The service ring: the ``Engine`` and its parts — every way in goes through here.

engine       ``Engine``: the public API, composed of the parts below (no mixins)
runtime      what the parts share: store, clock, calendar, owner, base URL
definitions  workflows in force, stored revisions, the org directory
cases        ``CaseWriter``: start, fire — one event, one transaction
queries      ``CaseReader``: get, history, children, find, available triggers
timers       ``TimerService``: due SLA timers acted on exactly once; provisional deadlines
notices      ``NoticeService``: recipients → rendered notices → outbox; digest; preview
outbox       ``Dispatcher`` (delivery through channels) and ``OutboxAdmin``
kpi, status  report snapshots; how the system is doing
views        stored records read as domain values

Speaks no SQL (import-linter checks it): statements are the store's.
"""
