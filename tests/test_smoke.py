from __future__ import annotations

from ringi.domain.commands import Endorse, FileRequest
from ringi.domain.vocabulary import Actor, Category, Stage
from ringi.service import Ringi


async def test_file_and_endorse_to_hearing(ringi: Ringi) -> None:
    view = await ringi.file(
        FileRequest(
            actor=Actor.member("A社"), category=Category.REQUEST, target="API", body="bulk API"
        )
    )
    assert view.stage is Stage.GATHERING_SUPPORT
    for company in ["B社", "C社", "D社", "E社"]:
        view = await ringi.act(view.number, Endorse(actor=Actor.member(company)))
    assert view.stage is Stage.HEARING
    assert ringi.view(view.number) == view
