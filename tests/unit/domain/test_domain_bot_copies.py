"""The captions of the signed documents sent to the patient as files."""

from __future__ import annotations

from medsign.domain import bot


def test_one_document_is_named_with_why_it_is_sent() -> None:
    text = bot.signed_copy("Согласие на обработку персональных данных", number=1, count=1)
    assert text == ("Ваш экземпляр подписанных документов — сохраните его себе.\n\n"
                    "Согласие на обработку персональных данных")


def test_several_documents_are_numbered_and_only_the_first_says_why() -> None:
    first = bot.signed_copy("Согласие А", number=1, count=2)
    second = bot.signed_copy("Согласие Б", number=2, count=2)
    assert first.startswith("Ваши экземпляры подписанных документов")
    assert first.endswith("Документ 1 из 2: Согласие А")
    assert second == "Документ 2 из 2: Согласие Б"
