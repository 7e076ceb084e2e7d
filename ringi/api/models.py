"""What the API takes and gives, as pydantic models (and so its OpenAPI document).

Bodies never name who acts: the actor comes from the bearer token, and the
command id from the ``Idempotency-Key`` (or a fresh one). Every body refuses
fields it does not know, so a typo is a 422 instead of a silent default.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..domain.cost import (
    MAX_HORIZON_YEARS,
    MAX_MONTHLY_VOLUME,
    MAX_YEN,
    CostBearer,
    CostInputs,
    CostItem,
)
from ..domain.lifecycle import PRIVATE_EVENTS, end_of_day, pending_timers
from ..domain.meeting import FollowedMeeting, Meeting, Publication, after_its_day
from ..domain.notifications import NotificationKind
from ..domain.subscriptions import Channel, Subscription
from ..domain.text import MAX_NUMBER as MAX_NUMBER  # the highest in a path, a query or a body
from ..domain.text import Count, MeetingNumber, Reason, RequestNumber, Target, Text
from ..domain.view import RequestView
from ..domain.vocabulary import Actor, Category, CloseReason, Role, Stage
from ..sealing import Sealer
from ..store import TimelineEntry

_EARLIEST = date(1900, 1, 1)
_LATEST = date(2199, 12, 31)


def _unicode(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return text


def _moment(when: datetime) -> datetime:
    if not _EARLIEST <= when.astimezone(UTC).date() <= _LATEST:
        raise ValueError(f"must lie between {_EARLIEST} and {_LATEST}")
    return when


def _day(day: date) -> date:
    if not _EARLIEST <= day <= _LATEST:
        raise ValueError(f"must lie between {_EARLIEST} and {_LATEST}")
    return day


# text, numbers and counts as everywhere else: ringi.domain.text
Number = RequestNumber
AtMeetingNumber = Annotated[MeetingNumber, Field(description="the meeting this is said at (第N回)")]
Moment = Annotated[
    AwareDatetime,
    AfterValidator(_moment),
    Field(description="an ISO 8601 time with its offset, between 1900 and 2199"),
]
Day = Annotated[date, AfterValidator(_day), Field(description="YYYY-MM-DD, 1900 to 2199")]


def _iso_text(value: object) -> object:
    # pydantic would read "0.0" or "1700000000" as seconds since 1970: a query gives
    # text, and only ISO 8601 text is what the document promises
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError(
            "must be an ISO 8601 date-time with its offset, e.g. 2018-09-20T14:00+09:00"
        )
    return value


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
#: a moment given in a query string
QueryMoment = Annotated[Moment, BeforeValidator(_iso_text)]


def _day_is_its_end(value: object) -> object:
    # a day given as a cutoff lasts to its end in Japan, as on the command line
    # (``ringi register --as-of 2018-09-20``) and the web pages
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return end_of_day(date.fromisoformat(value))
        except ValueError:
            return value  # not a day: refused as what it is
    return value


#: a cutoff given in a query string: a moment, or a day (through its end in Japan)
QueryCutoff = Annotated[Moment, BeforeValidator(_iso_text), BeforeValidator(_day_is_its_end)]
Yen = Annotated[Decimal, Field(ge=0, le=MAX_YEN, allow_inf_nan=False)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AtMeeting(Body):
    meeting: AtMeetingNumber | None = None


# --- members ---------------------------------------------------------------------------


class FileBody(AtMeeting):
    category: Category = Field(Category.REQUEST, description="区分: 要望 | 意見 | 質問")
    target: Target = Field(description="対象箇所: the part of the system")
    body: Text = Field(description="ご意見・ご要望: what is asked for")
    related: list[Number] = Field(default_factory=list, max_length=100)


class NoteBody(AtMeeting):
    text: Text = Field(description="the note to append (追記)")


class ClarificationAnswerBody(Body):
    text: Text


class ObjectionBody(Body):
    reason: Text = Field(description="the problem the member sees")


class DismissObjectionBody(AtMeeting):
    company: Target = Field(description="the member whose objection is ruled not blocking")
    reason: Text = Field(description="why it does not block implementation")


class WithdrawBody(Body):
    reason: Reason = ""


class BulkEndorseBody(AtMeeting):
    numbers: list[Number] = Field(
        min_length=1, max_length=10_000, description="the requests to endorse, each once"
    )

    @model_validator(mode="after")
    def _each_once(self) -> BulkEndorseBody:
        if len(set(self.numbers)) != len(self.numbers):
            raise ValueError("a number appears more than once; endorse each request once")
        return self


# --- the secretariat ---------------------------------------------------------------------


class OpenSupportBody(Body):
    deadline: Moment | None = Field(None, description="default: the policy's support window")
    until_meeting: Number | None = Field(
        None, description="instead of a deadline: until meeting N (第N回) is held"
    )

    @model_validator(mode="after")
    def _at_most_one_deadline(self) -> OpenSupportBody:
        if self.deadline is not None and self.until_meeting is not None:
            raise ValueError("give deadline or until_meeting, not both")
        return self


class QuestionBody(AtMeeting):
    question: Text


class WithdrawQuestionBody(AtMeeting):
    reason: Text


class ExtendDeadlineBody(AtMeeting):
    deadline: Moment | None = None
    until_meeting: Number | None = Field(None, description="until meeting N (第N回) is held")
    reason: Reason = ""

    @model_validator(mode="after")
    def _one_deadline(self) -> ExtendDeadlineBody:
        if (self.deadline is None) == (self.until_meeting is None):
            raise ValueError("give exactly one of deadline or until_meeting")
        return self


class FindingsBody(AtMeeting):
    text: Text


class CostItemBody(Body):
    bearer: CostBearer
    amount_yen: Yen
    label: Reason = ""


class EvaluateCostBody(AtMeeting):
    horizon_years: Count | None = Field(
        None,
        ge=1,
        le=MAX_HORIZON_YEARS,
        description="the policy's (the default); another is refused (409)",
    )
    monthly_volume: Count | None = Field(None, ge=0, le=MAX_MONTHLY_VOLUME)
    benefit_per_unit_yen: Yen | None = None
    total_benefit_yen: Yen | None = None
    cost_items: list[CostItemBody] = Field(min_length=1, max_length=100)

    def inputs(self, policy_years: int) -> CostInputs:
        """The domain's inputs (``ValidationError`` if the benefit is not stated
        one way); the horizon is the request's policy's unless given."""
        return CostInputs(
            horizon_years=self.horizon_years or policy_years,
            monthly_volume=self.monthly_volume,
            benefit_per_unit_yen=self.benefit_per_unit_yen,
            total_benefit_yen=self.total_benefit_yen,
            cost_items=tuple(
                CostItem(bearer=i.bearer, amount_yen=i.amount_yen, label=i.label)
                for i in self.cost_items
            ),
        )


class ApproveBody(AtMeeting):
    planned_release: Day


class ChangeReleaseBody(AtMeeting):
    planned_release: Day
    reason: Reason = ""


class ReleaseBody(AtMeeting):
    released_on: Day | None = Field(None, description="default: today")


class HoldBody(AtMeeting):
    reason: Text


class ResumeBody(AtMeeting):
    reason: Reason = ""


class CloseBody(AtMeeting):
    reason: CloseReason
    duplicate_of: Number | None = None
    note: Reason = ""
    duplicates: list[Number] = Field(
        default_factory=list,
        max_length=100,
        description="more requests it duplicates, besides duplicate_of (issue 20)",
    )


class AnswerBody(AtMeeting):
    text: Text
    continued: bool = Field(False, description="(継続): carried over to the next meeting")


class CorrectAnswerBody(AtMeeting):
    answer_id: Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_unicode)]
    text: Text
    reason: Text


# --- the secretariat's windows (issue 20) -------------------------------------------------


class OpenObjectionWindowBody(AtMeeting):
    ends_at: Moment | None = Field(None, description="default: the policy's objection window")
    until_meeting: Number | None = Field(
        None, description="instead of a deadline: until meeting N (第N回) is held"
    )

    @model_validator(mode="after")
    def _at_most_one_end(self) -> OpenObjectionWindowBody:
        if self.ends_at is not None and self.until_meeting is not None:
            raise ValueError("give ends_at or until_meeting, not both")
        return self


class FinalCallBody(AtMeeting):
    until_meeting: Number = Field(
        description="the meeting (第N回) support runs until, earlier or later than the "
        "deadline running now"
    )


class OpenMeetingBody(Body):
    number: MeetingNumber = Field(description="the meeting's number (第N回)")
    held_at: Moment | None = Field(None, description="when it is held (default: now)")
    title: Reason = ""


class ProposerBody(AtMeeting):
    company: Target = Field(description="the company that proposed the imported request")


class CarryForwardBody(AtMeeting):
    stage: Literal["hearing", "cost_evaluation", "implementation"] = Field(
        description="where the imported request really stands, as its answers say"
    )
    reason: Text = Field(description="what in the register says so")


class RescheduleMeetingBody(Body):
    held_at: Moment = Field(description="when it is held now")
    reason: Reason = ""


class BulkFetchBody(Body):
    numbers: list[Number] = Field(min_length=1, max_length=10_000)


# the secretariat's discretion and after the end (issue 20)


class HearBelowThresholdBody(AtMeeting):
    reason: Text = Field(description="why the hearing is held before the threshold is met")


class EvaluateWithoutHearingBody(EvaluateCostBody):
    reason: Text = Field(description="why the cost is evaluated without a hearing")


class ReopenBody(AtMeeting):
    reason: Text = Field(description="why the closed request is reopened")
    deadline: Moment | None = Field(
        None,
        description="closed short of support: its new support deadline "
        "(default: the policy's support window)",
    )
    until_meeting: Number | None = Field(
        None, description="instead of a deadline: until meeting N (第N回) is held"
    )

    @model_validator(mode="after")
    def _at_most_one_deadline(self) -> ReopenBody:
        if self.deadline is not None and self.until_meeting is not None:
            raise ValueError("give deadline or until_meeting, not both")
        return self


class BulkAnswerBody(AtMeeting):
    numbers: list[Number] = Field(
        min_length=2, max_length=1_000, description="the requests given the answer, each once"
    )
    text: Text
    continued: bool = Field(False, description="(継続): carried over to the next meeting")

    @model_validator(mode="after")
    def _each_once(self) -> BulkAnswerBody:
        if len(set(self.numbers)) != len(self.numbers):
            raise ValueError("a number appears more than once; answer each request once")
        return self


# --- answers -----------------------------------------------------------------------------


class TimerOut(BaseModel):
    timer: str
    due: datetime


class RequestState(BaseModel):
    """A request as the event store holds it, with what follows from it."""

    request: RequestView
    support: int = Field(description="companies supporting it, the proposer included")
    deadline: datetime | None = Field(description="the deadline running now, if any")

    @classmethod
    def of(cls, view: RequestView) -> RequestState:
        return cls(request=view, support=view.support, deadline=view.current_deadline)


class Recorded(RequestState):
    """A request as a write left it, with what its writer should know."""

    notes: list[str] = Field(
        default_factory=list,
        description="what was recorded but may surprise: tagged with a meeting whose day is "
        "over, it shows in the next meeting's register",
    )

    @classmethod
    def of_write(
        cls, view: RequestView, meetings: Mapping[int, datetime], meeting: int | None, at: datetime
    ) -> Recorded:
        """``view`` as a write tagged with ``meeting``, at ``at``, left it."""
        note = after_its_day(meetings, meeting, at) if meeting is not None else None
        return cls(
            request=view,
            support=view.support,
            deadline=view.current_deadline,
            notes=[note] if note else [],
        )


class RequestDetail(RequestState):
    timers: list[TimerOut]
    timeline: list[TimelineEntry]

    @classmethod
    def read(
        cls, view: RequestView, timeline: list[TimelineEntry], *, private: bool = True
    ) -> RequestDetail:
        """``private=False``: for a reader who may not read the clarification
        thread (``lifecycle.may_read_clarifications``): the view comes without it,
        and its events keep their place, time and actor in the timeline, not their words."""
        if not private:
            view = view.model_copy(update={"clarifications": []})
            timeline = [
                e.model_copy(update={"details": {}}) if e.event in PRIVATE_EVENTS else e
                for e in timeline
            ]
        timers = [TimerOut(timer=t.timer.value, due=t.due) for t in pending_timers(view)]
        return cls(
            request=view,
            support=view.support,
            deadline=view.current_deadline,
            timers=timers,
            timeline=timeline,
        )


class RequestSummary(BaseModel):
    number: int
    category: Category
    target: str
    stage: Stage
    support: int
    proposer: str
    endorsers: list[str]
    deadline: datetime | None
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, view: RequestView) -> RequestSummary:
        return cls(
            number=view.number,
            category=view.category,
            target=view.target,
            stage=view.stage,
            support=view.support,
            proposer=view.proposer,
            endorsers=view.endorsers,
            deadline=view.current_deadline,
            updated_at=view.updated_at,
            version=view.version,
        )


class RequestPage(BaseModel):
    items: list[RequestSummary]
    next_cursor: str | None = Field(
        description="pass as ?cursor= for the next page; null on the last page"
    )


class ItemError(BaseModel):
    status: int
    error: str
    message: str
    idempotency_key: str | None = Field(
        None,
        description="with outcome_unknown: the bulk call's Idempotency-Key (the caller's, or "
        "the one given to a call sent without); the same call sent again with it carries out "
        "each item at most once",
    )


class EndorseItem(BaseModel):
    number: int
    ok: bool
    status: int = Field(description="the status this item alone would have had")
    request: RequestSummary | None = None
    error: ItemError | None = None


class BulkEndorseResult(BaseModel):
    succeeded: int
    failed: int
    items: list[EndorseItem] = Field(description="one per number, in the order given")


class AnswerItem(EndorseItem):
    """One request of an answer given to several (issue 20)."""


class BulkAnswerResult(BaseModel):
    succeeded: int
    failed: int
    items: list[AnswerItem] = Field(description="one per number, in the order given")


class FetchItem(BaseModel):
    number: int
    ok: bool
    status: int
    request: RequestState | None = None
    error: ItemError | None = None


class BulkFetchResult(BaseModel):
    found: int
    missing: int
    items: list[FetchItem] = Field(description="one per number, in the order given")


class MeetingOut(BaseModel):
    number: int
    held_at: datetime


class RescheduledMeeting(MeetingOut):
    deadlines_following: list[int] = Field(
        default_factory=list,
        description="requests gathering support until this meeting: their deadline is now "
        "its new date (moved along, as an extension recorded on each)",
    )
    deadlines_kept: list[int] = Field(
        default_factory=list,
        description="requests gathering support until this meeting whose deadline stays "
        "later, because the meeting comes earlier: what members were told they have, they keep",
    )

    @classmethod
    def of(cls, followed: FollowedMeeting) -> RescheduledMeeting:
        return cls(
            number=followed.number,
            held_at=followed.held_at,
            deadlines_following=followed.following,
            deadlines_kept=followed.kept,
        )


class PublicationOut(BaseModel):
    meeting: int
    publication: int = Field(description="1 for the meeting's first publication, and so on")
    digest: str = Field(description="SHA-256 of the register's content, whatever the format")
    position: int = Field(description="the event log's position it was replayed to")
    cutoff: datetime
    since: datetime | None = Field(description="closed after this: still in this register")
    formats: dict[str, str] = Field(description="format: SHA-256 of the bytes handed out")
    lang: str
    published_at: datetime
    actor: Actor

    @classmethod
    def of(cls, meeting: int, index: int, publication: Publication) -> PublicationOut:
        return cls(
            meeting=meeting,
            publication=index,
            digest=publication.digest,
            position=publication.position,
            cutoff=publication.cutoff,
            since=publication.since,
            formats=publication.formats,
            lang=publication.lang,
            published_at=publication.at,
            actor=publication.actor,
        )


class MeetingDetail(MeetingOut):
    title: str
    date_is_placeholder: bool = Field(
        description="imported without a known date: held_at is only a bound"
    )
    publications: list[PublicationOut] = Field(
        description="every publication of its register, oldest first: the latest is what "
        "GET /v1/register?meeting=N shows, and its digest what that answer's "
        "Ringi-Register-Digest must equal"
    )

    @classmethod
    def of(cls, meeting: Meeting) -> MeetingDetail:
        return cls(
            number=meeting.number,
            held_at=meeting.held_at,
            title=meeting.title,
            date_is_placeholder=meeting.date_is_placeholder,
            publications=[
                PublicationOut.of(meeting.number, i, made)
                for i, made in enumerate(meeting.publications, 1)
            ],
        )


class WhoAmI(BaseModel):
    token_id: str
    role: Role
    company: str | None
    name: str
    user: str = Field(description="how this token's user is recorded in the events it causes")


# --- notification subscriptions (routers/subscriptions.py) --------------------------------


def _plain(text: str) -> str | None:
    """Why ``text`` cannot be a URL, an address or a name, or None."""
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        return "must not contain control characters"
    if text != text.strip():
        return "must not begin or end with spaces"
    return None


def _webhook_url(url: str) -> str | None:
    """Why ``url`` cannot be a webhook's, or None."""
    if any(ch.isspace() for ch in url):
        return "a URL has no spaces"
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as error:  # an unbalanced [ in the host, say
        return f"not a URL ({error})"
    if parts.scheme not in ("http", "https"):
        return "a webhook's URL must be http:// or https://"
    if not host:
        return "a webhook's URL must name a host"
    return None


def _email_address(address: str) -> str | None:
    local, at, domain = address.rpartition("@")
    if any(ch.isspace() for ch in address) or not (at and local and domain):
        return "not an e-mail address (name@domain)"
    return None


def _recipient(name: str) -> str:
    problem = _plain(name)
    if problem is not None:
        raise ValueError(problem)
    return name


SubscriptionTarget = Annotated[str, Field(min_length=1, max_length=2_000), AfterValidator(_unicode)]
Recipient = Annotated[
    str, Field(min_length=1, max_length=200), AfterValidator(_unicode), AfterValidator(_recipient)
]


class SubscribeBody(Body):
    channel: Channel = Field(
        description="webhook: each notification POSTed to `target`, signed (header "
        "Ringi-Signature: t=...,v1=..., HMAC-SHA256 with the `secret` of the answer); "
        "email: each notification e-mailed to `target`"
    )
    target: SubscriptionTarget = Field(
        description="a webhook's http(s) URL, or an e-mail address: no spaces or control characters"
    )
    kinds: list[NotificationKind] = Field(
        default_factory=list,
        max_length=100,
        description="send only notifications of these kinds; empty or left out: every kind",
    )
    recipient: Recipient | None = Field(
        None,
        description="whose notifications: a member company, or 'secretariat'. A member "
        "subscribes for its token's company only (its default); the secretariat for any "
        "company or for 'secretariat' (its default)",
    )

    @field_validator("target")
    @classmethod
    def _fits_the_channel(cls, target: str, info: ValidationInfo) -> str:
        problem = _plain(target)
        channel = info.data.get("channel")  # absent if the channel itself was invalid
        if problem is None and channel is Channel.WEBHOOK:
            problem = _webhook_url(target)
        elif problem is None and channel is Channel.EMAIL:
            problem = _email_address(target)
        if problem is not None:
            raise ValueError(problem)
        return target


class SubscriptionOut(BaseModel):
    """A subscription as the API shows it: never its secret."""

    id: str = Field(description="s1, s2, ...: what deliveries are recorded against")
    recipient: str = Field(description="whose notifications: a member company, or 'secretariat'")
    channel: Channel
    target: str = Field(description="the webhook's URL, or the e-mail address")
    kinds: list[NotificationKind] = Field(description="the kinds sent; empty: every kind")
    since: datetime = Field(description="notifications queued before this are not sent to it")
    actor: Actor | None = Field(description="who subscribed (null if not recorded)")

    @classmethod
    def of(cls, subscription: Subscription) -> SubscriptionOut:
        return cls.model_validate(_shown(subscription))


class SubscriptionMade(SubscriptionOut):
    """A new subscription, with a webhook's secret: the one answer that carries it."""

    secret: str | None = Field(
        description="a webhook's signing key (the HMAC-SHA256 key of Ringi-Signature): in "
        "this answer only (and in a retry of this very call with its Idempotency-Key), "
        "never in a listing; null for e-mail"
    )

    @classmethod
    def made(cls, subscription: Subscription, sealer: Sealer) -> SubscriptionMade:
        secret = sealer.open(subscription.secret) if subscription.secret else None
        return cls.model_validate({**_shown(subscription), "secret": secret})


def _shown(subscription: Subscription) -> dict[str, Any]:
    return subscription.model_dump(exclude={"secret"})
