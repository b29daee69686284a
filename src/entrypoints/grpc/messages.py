"""Domain objects as protobuf messages of `chatservice.v1`."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from chatservice.application.background_turns import NumberedEvent
from chatservice.application.chat_window import ChatView
from chatservice.application.turn_events import Completed, Delta
from chatservice.domain.chat import Chat, ChatParams, Message, WindowUse
from chatservice.domain.memory import ChatSummary
from chatservice.domain.params import RequestedParams
from chatservice.domain.prices import cost_text
from chatservice.domain.usage import UsageFigures, UsageReport
from chatservice.entrypoints.grpc.generated import chatservice_v1_pb2 as pb


def timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def usage_pb(message: Message) -> pb.Usage | None:
    if message.prompt_tokens is None or message.completion_tokens is None:
        return None
    return pb.Usage(
        prompt_tokens=message.prompt_tokens,
        completion_tokens=message.completion_tokens,
        estimated=message.usage_estimated,
        cached_prompt_tokens=message.cached_prompt_tokens or 0,
        cost="" if message.cost is None else cost_text(message.cost),
    )


def message_pb(message: Message) -> pb.Message:
    return pb.Message(
        id=message.id,
        role=message.role.value,
        content=message.content,
        tokens=message.tokens,
        erased=message.erased,
        superseded=message.superseded,
        position=message.position,
        created_at=timestamp(message.created_at),
        finish_reason=message.finish_reason or "",
        usage=usage_pb(message),
        model=message.model or "",
    )


def params_pb(params: ChatParams) -> pb.ChatParams:
    # The message's fields are `ChatParams`'s, by name; `None` leaves an optional field unset.
    return pb.ChatParams(**asdict(params))


def requested_params(params: pb.ChatParams) -> RequestedParams:
    """The parameters the caller sent: the optional fields present, `stop` when not empty."""
    sent = {field.name: value for field, value in params.ListFields()}
    return RequestedParams(**sent | {"stop": tuple(params.stop) or None})


def chat_pb(chat: Chat, window: WindowUse | None = None) -> pb.Chat:
    """`chat` as a message; its `window` is given for a chat read with its messages."""
    origin = chat.forked_from
    return pb.Chat(
        id=chat.id,
        user_id=chat.user_id,
        title=chat.title,
        status=chat.status.value,
        model=chat.model,
        params=params_pb(chat.params),
        usage=pb.Usage(
            prompt_tokens=chat.usage.prompt_tokens,
            completion_tokens=chat.usage.completion_tokens,
            cached_prompt_tokens=chat.usage.cached_prompt_tokens,
            cost=cost_text(chat.usage.cost),
        ),
        created_at=timestamp(chat.created_at),
        updated_at=timestamp(chat.updated_at),
        version=chat.version,
        messages=[message_pb(m) for m in chat.messages],
        memory=chat.memory.value,
        summary=summary_pb(chat.summary),
        forked_from=pb.ForkOrigin(chat_id=origin.chat_id, message_id=origin.message_id)
        if origin
        else None,
        window=pb.ContextWindow(used=window.used, reserve=window.reserve, limit=window.limit)
        if window
        else None,
    )


def shown_chat_pb(view: ChatView) -> pb.Chat:
    """A chat a use case answered with: its messages and its window."""
    return chat_pb(view.chat, view.window)


def summary_pb(summary: ChatSummary | None) -> pb.ConversationSummary | None:
    if summary is None:
        return None
    return pb.ConversationSummary(
        content=summary.content,
        tokens=summary.tokens,
        covers_through_position=summary.covers_through_position,
        updated_at=timestamp(summary.updated_at),
    )


def completed_pb(completed: Completed) -> pb.Completed:
    return pb.Completed(
        chat_id=completed.chat_id,
        user_message=message_pb(completed.user_message),
        reply=message_pb(completed.reply),
        usage=usage_pb(completed.reply),
    )


def turn_event_pb(numbered: NumberedEvent) -> pb.TurnEvent:
    event = numbered.event
    if isinstance(event, Delta):
        return pb.TurnEvent(id=numbered.id, delta=pb.Delta(text=event.text))
    if isinstance(event, Completed):
        return pb.TurnEvent(id=numbered.id, completed=completed_pb(event))
    return pb.TurnEvent(id=numbered.id, error=pb.TurnError(code=event.code, message=event.message))


def usage_figures_pb(figures: UsageFigures) -> pb.UsageFigures:
    return pb.UsageFigures(
        calls=figures.calls,
        prompt_tokens=figures.prompt_tokens,
        completion_tokens=figures.completion_tokens,
        cached_prompt_tokens=figures.cached_prompt_tokens,
        total_tokens=figures.total_tokens,
        cost=cost_text(figures.cost),
    )


def usage_report_pb(report: UsageReport) -> pb.UsageReport:
    return pb.UsageReport(
        user_id=report.user_id,
        from_day=report.first_day.isoformat(),
        to_day=report.last_day.isoformat(),
        group_by=report.group_by.value,
        groups=[
            pb.UsageGroup(key=g.key, figures=usage_figures_pb(g.figures)) for g in report.groups
        ],
        total=usage_figures_pb(report.total),
    )
