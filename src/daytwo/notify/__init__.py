"""Notifications: channels, routes, a durable outbox, deduplicated alerts that escalate.

An analysis hands its recorded run to :mod:`daytwo.notify.consumer` (a pipeline plugin, after
the backlog): every open P1/P2 item without an alert raises one, regressions and resolutions
update it. Each alert is routed to channels (the owner's, and the rules of the deployment),
written to the outbox in the ledger in the same transaction, and delivered with retries and
backoff by :func:`daytwo.notify.outbox.deliver_due` (``daytwo serve`` runs it every few seconds,
``daytwo notify deliver`` on demand).
"""
