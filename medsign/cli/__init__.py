"""The ``medsign`` command: serve, worker, migrate, check-config, api-token, backup, restore.

Every subcommand takes ``--config PATH`` (default ``./medsign.toml``; without the file the
embedded defaults apply: SQLite under ``./var/``). Messages are in Russian; exit code 2 means
a problem with the configuration or the arguments, 1 a failure of the operation.

The subcommands live by subject: ``server`` (check-config, migrate, serve, worker),
``keys`` (import, list, check, init), ``admin`` (api-token, user), ``webhooks``
(the МИС's event endpoints), ``patients``
(patient-account), ``data`` (backup,
restore), ``reconcile`` (after a restore), ``emulators`` (demo, emulate);
``base`` holds what they share.
"""

from __future__ import annotations

import click

from medsign.cli import admin, data, emulators, keys, patients, reconcile, server, webhooks
from medsign.cli.base import CONTEXT, RussianGroup, config_option


@click.group(cls=RussianGroup, context_settings=CONTEXT,
             help="medsign — подписание медицинских согласий и договоров через мессенджер MAX "
                  "и Госключ.")
@config_option
@click.pass_context
def main(ctx: click.Context) -> None:
    ctx.ensure_object(dict)


for command in (server.check_config, server.migrate, server.serve, server.worker,
                emulators.demo, emulators.emulate, keys.keys, admin.api_token, admin.user,
                patients.patient_account,
                data.backup, data.restore, reconcile.reconcile, webhooks.webhooks):
    main.add_command(command)
