"""What changed between two meetings' registers: ``ringi register diff 35 36``.

Both sides are replayed from the events (each meeting's cutoff, its
publication's if it was published; one pass over the log when they nest), and
compared request by request, over every request filed by then, not only the
rows each register shows: new requests, stage changes, new answers (a
correction included, with the answer it corrects) and support changes.
"""

from __future__ import annotations

from pydantic import BaseModel

from ..domain.view import RequestView
from ..domain.vocabulary import Category, Stage
from ..store import RingiStore
from .replay import meeting_cutoff, replay_many


class NewRequest(BaseModel):
    number: int
    category: Category
    target: str
    stage: Stage
    support: int | None


class StageChange(BaseModel):
    number: int
    before: Stage
    after: Stage


class NewAnswer(BaseModel):
    number: int
    answer_id: str
    meeting: int | None
    text: str
    corrects: str | None = None


class SupportChange(BaseModel):
    number: int
    before: int | None  # None: not known (an imported request before its count)
    after: int | None


class RegisterDiff(BaseModel):
    before: int  # meeting numbers
    after: int
    new_requests: list[NewRequest]
    stage_changes: list[StageChange]
    new_answers: list[NewAnswer]
    support_changes: list[SupportChange]

    @property
    def empty(self) -> bool:
        return not (
            self.new_requests or self.stage_changes or self.new_answers or self.support_changes
        )

    def text(self) -> str:
        out = [f"第{self.before}回 → 第{self.after}回"]
        if self.empty:
            return out[0] + ": no changes"
        if self.new_requests:
            out.append("new requests:")
            out += [
                f"  No.{r.number} {r.category.value} {r.target}: {r.stage.value}"
                f" ({r.stage.label_ja}), support {_count(r.support)}"
                for r in self.new_requests
            ]
        if self.stage_changes:
            out.append("stage changes:")
            out += [
                f"  No.{c.number}: {c.before.value} ({c.before.label_ja}) → "
                f"{c.after.value} ({c.after.label_ja})"
                for c in self.stage_changes
            ]
        if self.new_answers:
            out.append("new answers:")
            for a in self.new_answers:
                tag = f" (第{a.meeting}回)" if a.meeting else ""
                fix = f" [corrects {a.corrects}]" if a.corrects else ""
                text = a.text.replace("\n", " ")
                out.append(f"  No.{a.number} {a.answer_id}{tag}{fix}: {_clip(text)}")
        if self.support_changes:
            out.append("support changes:")
            out += [
                f"  No.{c.number}: {_count(c.before)} → {_count(c.after)}"
                for c in self.support_changes
            ]
        return "\n".join(out)


def _count(support: int | None) -> str:
    return "unknown" if support is None else str(support)


def _clip(text: str, width: int = 120) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _support(view: RequestView) -> int | None:
    return view.support if view.support_known else None


def diff_views(
    before: dict[int, RequestView], after: dict[int, RequestView], a: int, b: int
) -> RegisterDiff:
    new_requests, stages, answers, supports = [], [], [], []
    for number, view in sorted(after.items()):
        old = before.get(number)
        if old is None:
            new_requests.append(
                NewRequest(
                    number=number,
                    category=view.category,
                    target=view.target,
                    stage=view.stage,
                    support=_support(view),
                )
            )
        else:
            if old.stage is not view.stage:
                stages.append(StageChange(number=number, before=old.stage, after=view.stage))
            if _support(old) != _support(view):
                supports.append(
                    SupportChange(number=number, before=_support(old), after=_support(view))
                )
        known = {x.answer_id for x in old.answers} if old is not None else set()
        answers += [
            NewAnswer(
                number=number,
                answer_id=x.answer_id,
                meeting=x.meeting,
                text=x.text,
                corrects=x.corrects,
            )
            for x in view.answers
            if x.answer_id not in known
        ]
    return RegisterDiff(
        before=a,
        after=b,
        new_requests=new_requests,
        stage_changes=stages,
        new_answers=answers,
        support_changes=supports,
    )


def diff_meetings(store: RingiStore, a: int, b: int) -> RegisterDiff:
    """The changes from meeting ``a``'s register to meeting ``b``'s."""
    first, second = replay_many(store, [meeting_cutoff(store, a), meeting_cutoff(store, b)])
    return diff_views(first.views, second.views, a, b)
