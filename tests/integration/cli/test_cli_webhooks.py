"""``medsign webhooks``: an administrator manages a МИС's event endpoints from the shell."""

from __future__ import annotations

from tests.integration.cli.test_cli import Cli, db_cli, fresh_url, token  # noqa: F401


def test_create_list_rotate_disable_enable(db_cli: Cli, token: str) -> None:  # noqa: F811
    made = db_cli.ok("webhooks", "create", "--client", "mis", "--url",
                     "https://mis.example.ru/hooks", "--event", "signing_request.completed",
                     "--event", "signing_request.failed")
    secret = made.stdout.strip()
    assert secret.startswith("whsec_") and "\n" not in secret
    endpoint_id = made.stderr.split()[1]
    listed = db_cli.ok("webhooks", "list", "--client", "mis").stdout
    assert endpoint_id in listed and secret not in listed
    assert "signing_request.completed,signing_request.failed\tдействует" in listed
    rotated = db_cli.ok("webhooks", "rotate-secret", endpoint_id).stdout.strip()
    assert rotated.startswith("whsec_") and rotated != secret
    db_cli.ok("webhooks", "disable", endpoint_id, "--reason", "переезд МИС")
    assert "переезд МИС" in db_cli.ok("webhooks", "list", "--client", "mis").stdout
    db_cli.ok("webhooks", "enable", endpoint_id)
    assert "действует" in db_cli.ok("webhooks", "list", "--client", "mis").stdout


def test_bad_input_is_refused_with_its_reason(db_cli: Cli, token: str) -> None:  # noqa: F811
    bad = db_cli.run("webhooks", "create", "--client", "mis", "--url",
                     "https://u:p@mis.example.ru/h", "--event", "invitation.sent")
    assert bad.returncode == 1 and "пароля" in bad.stderr
    unknown = db_cli.run("webhooks", "create", "--client", "nobody", "--url",
                         "https://mis.example.ru/h", "--event", "invitation.sent")
    assert unknown.returncode == 1 and "«nobody» не найден" in unknown.stderr
    assert db_cli.ok("webhooks", "list", "--client", "mis").stdout == ""
