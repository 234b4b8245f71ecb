"""Outbound events to the МИС (Standard Webhooks).

- :mod:`~medsign.webhooks.outbox`: an event and its deliveries written in the transaction of
  the change that causes it; what the delivery step reads and records.
- :mod:`~medsign.webhooks.service`: endpoints (create, list, rotate the secret, disable,
  enable), deliveries and their attempts, replay.
- :mod:`~medsign.webhooks.flow`: the runner's ``webhook.deliver`` step (the POST); only the
  composition root imports it.
"""
