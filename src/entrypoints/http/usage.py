"""`GET /v1/users/{user_id}/usage`: a user's spend from the usage ledger, by day or by model."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

import msgspec
from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from chatservice.application.usage_reports import ReportUsage
from chatservice.domain.prices import cost_text
from chatservice.domain.usage import MAX_REPORT_DAYS, UsageFigures, UsageGroup, UsageReport
from chatservice.entrypoints.http.errors import error_responses

#: USD as an exact decimal string, like every cost (`schemas.CostText`), but a sum of many
#: calls: no bound on its whole part.
SpentText = Annotated[str, msgspec.Meta(pattern=r"^[0-9]+(\.[0-9]{1,12})?$")]
_DAY = "A UTC day, `YYYY-MM-DD`"


class UsageFiguresOut(msgspec.Struct):
    calls: int
    prompt_tokens: int
    completion_tokens: int
    #: How many of `prompt_tokens` the provider read from its cache.
    cached_prompt_tokens: int
    #: prompt + completion tokens, as budgets count them.
    total_tokens: int
    cost: SpentText


class UsageGroupOut(UsageFiguresOut):
    #: The group's day (`YYYY-MM-DD`) or model, as `group_by` says.
    key: str


class UsageReportOut(msgspec.Struct):
    user_id: str
    first_day: date = msgspec.field(name="from")
    last_day: date = msgspec.field(name="to")
    group_by: str
    groups: list[UsageGroupOut]
    total: UsageFiguresOut


def _figures_out(figures: UsageFigures) -> UsageFiguresOut:
    return UsageFiguresOut(
        figures.calls,
        figures.prompt_tokens,
        figures.completion_tokens,
        figures.cached_prompt_tokens,
        figures.total_tokens,
        cost_text(figures.cost),
    )


def _group_out(group: UsageGroup) -> UsageGroupOut:
    f = _figures_out(group.figures)
    return UsageGroupOut(
        f.calls,
        f.prompt_tokens,
        f.completion_tokens,
        f.cached_prompt_tokens,
        f.total_tokens,
        f.cost,
        key=group.key,
    )


def usage_report_out(report: UsageReport) -> UsageReportOut:
    return UsageReportOut(
        user_id=report.user_id,
        first_day=report.first_day,
        last_day=report.last_day,
        group_by=report.group_by.value,
        groups=[_group_out(g) for g in report.groups],
        total=_figures_out(report.total),
    )


@get(
    "/v1/users/{user_id:str}/usage",
    summary="What the user's model calls used and cost, by UTC day or by model",
    description=(
        "Every reply and summary the service paid for from `from` to `to` (UTC days, both "
        "included; by default the current UTC month up to today), summed exactly in the "
        "database, chats deleted since included. `groups` are ordered by day or model; a day or "
        f"model without calls has none. At most {MAX_REPORT_DAYS} days a report; bad days, "
        "`from` after `to` or a longer span are 400."
    ),
    responses=error_responses(400, 401, 503),
    tags=["users"],
)
async def usage_report(
    user_id: FromPath[str],
    report_usage: NamedDependency[ReportUsage],
    first_day: Annotated[
        str | None, QueryParameter(name="from", max_length=10, description=_DAY)
    ] = None,
    last_day: Annotated[
        str | None, QueryParameter(name="to", max_length=10, description=_DAY)
    ] = None,
    group_by: Annotated[
        Literal["day", "model"] | None,
        QueryParameter(description="`day` (the default) or `model`"),
    ] = None,
) -> UsageReportOut:
    return usage_report_out(await report_usage(user_id, first_day, last_day, group_by))
