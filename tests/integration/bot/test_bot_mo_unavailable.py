"""The patient presses «Подписать онлайн» while the clinic cannot counter-sign (its МО
certificate is not in force): a plain, kind answer with nothing internal in it, no signing
request, and both buttons still acting — through the MAX and Goskey emulators, with the real
signer provider of the installation."""

from __future__ import annotations

from datetime import timedelta

from medsign.crypto.keys import issue_certificate, load_pem, save_pem
from medsign.domain import bot
from medsign.signing.signers import development_keys
from tests import factories as f
from tests.integration.bot.conftest import invite
from tests.integration.bot.stand import BotStand

# What a patient must never read: words of staff, of the key store and of the API.
INTERNAL = ("сертификат", "МО", "медицинская организация", "администратор", "mo_signing",
            "unavailable", "истёк", "не действует")


def certificate_not_yet_in_force(stand: BotStand, code: str = "mo1") -> None:
    """The МО's key in the installation's key folder, with a certificate that starts long after
    the visit (made by the installation's own development CA, so it is kept as it is)."""
    org = f.organization()
    keys = stand.container.keys_dir
    _, key, cert = development_keys(keys, code=code, name=org["name"], ogrn=org["ogrn"],
                                    inn=org["inn"])
    ca = load_pem(keys / "dev-ca.key", keys / "dev-ca.pem")
    save_pem(issue_certificate(ca, common_name=org["name"], organization=org["name"],
                               ogrn=org["ogrn"], inn=org["inn"],
                               not_before=stand.clock.now() + timedelta(days=400)), key, cert)


def test_the_patient_is_told_kindly_and_may_still_choose(stand: BotStand) -> None:
    certificate_not_yet_in_force(stand)
    invited = invite(stand)
    stand.press(invited.user_id, invited.mid, invited.sign)
    stand.work()

    assert stand.toasts(invited.user_id) == [bot.SIGNING_ONLINE_UNAVAILABLE_TOAST]
    [told] = stand.sent_with(invited.user_id, bot.SIGNING_ONLINE_UNAVAILABLE)
    assert "в клинике" in told["text"]
    for word in INTERNAL:
        assert word not in told["text"] and word not in bot.SIGNING_ONLINE_UNAVAILABLE_TOAST
    assert stand.signing_requests() == []
    assert stand.notification().choice is None  # type: ignore[union-attr]
    assert stand.invitation(invited.user_id)["keyboard"] is not None  # its buttons still act

    stand.press(invited.user_id, invited.mid, invited.paper)
    stand.work()
    assert stand.toasts(invited.user_id)[-1] == bot.PAPER_TOAST
    assert stand.consents()["medical_intervention"] == ("paper", "pending")
