import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ChatParams(_message.Message):
    __slots__ = ("max_completion_tokens", "temperature", "top_p", "presence_penalty", "frequency_penalty", "stop")
    MAX_COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    TOP_P_FIELD_NUMBER: _ClassVar[int]
    PRESENCE_PENALTY_FIELD_NUMBER: _ClassVar[int]
    FREQUENCY_PENALTY_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    max_completion_tokens: int
    temperature: float
    top_p: float
    presence_penalty: float
    frequency_penalty: float
    stop: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, max_completion_tokens: _Optional[int] = ..., temperature: _Optional[float] = ..., top_p: _Optional[float] = ..., presence_penalty: _Optional[float] = ..., frequency_penalty: _Optional[float] = ..., stop: _Optional[_Iterable[str]] = ...) -> None: ...

class Usage(_message.Message):
    __slots__ = ("prompt_tokens", "completion_tokens", "estimated", "cached_prompt_tokens", "cost")
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_FIELD_NUMBER: _ClassVar[int]
    CACHED_PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    prompt_tokens: int
    completion_tokens: int
    estimated: bool
    cached_prompt_tokens: int
    cost: str
    def __init__(self, prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., estimated: _Optional[bool] = ..., cached_prompt_tokens: _Optional[int] = ..., cost: _Optional[str] = ...) -> None: ...

class Message(_message.Message):
    __slots__ = ("id", "role", "content", "tokens", "erased", "position", "created_at", "finish_reason", "usage", "superseded", "model")
    ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    ERASED_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    SUPERSEDED_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    id: str
    role: str
    content: str
    tokens: int
    erased: bool
    position: int
    created_at: _timestamp_pb2.Timestamp
    finish_reason: str
    usage: Usage
    superseded: bool
    model: str
    def __init__(self, id: _Optional[str] = ..., role: _Optional[str] = ..., content: _Optional[str] = ..., tokens: _Optional[int] = ..., erased: _Optional[bool] = ..., position: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finish_reason: _Optional[str] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ..., superseded: _Optional[bool] = ..., model: _Optional[str] = ...) -> None: ...

class ForkOrigin(_message.Message):
    __slots__ = ("chat_id", "message_id")
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    chat_id: str
    message_id: str
    def __init__(self, chat_id: _Optional[str] = ..., message_id: _Optional[str] = ...) -> None: ...

class ContextWindow(_message.Message):
    __slots__ = ("used", "reserve", "limit")
    USED_FIELD_NUMBER: _ClassVar[int]
    RESERVE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    used: int
    reserve: int
    limit: int
    def __init__(self, used: _Optional[int] = ..., reserve: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class Chat(_message.Message):
    __slots__ = ("id", "user_id", "title", "status", "model", "params", "usage", "created_at", "updated_at", "version", "messages", "memory", "summary", "forked_from", "window")
    ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    FORKED_FROM_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    id: str
    user_id: str
    title: str
    status: str
    model: str
    params: ChatParams
    usage: Usage
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    version: int
    messages: _containers.RepeatedCompositeFieldContainer[Message]
    memory: str
    summary: ConversationSummary
    forked_from: ForkOrigin
    window: ContextWindow
    def __init__(self, id: _Optional[str] = ..., user_id: _Optional[str] = ..., title: _Optional[str] = ..., status: _Optional[str] = ..., model: _Optional[str] = ..., params: _Optional[_Union[ChatParams, _Mapping]] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., version: _Optional[int] = ..., messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ..., memory: _Optional[str] = ..., summary: _Optional[_Union[ConversationSummary, _Mapping]] = ..., forked_from: _Optional[_Union[ForkOrigin, _Mapping]] = ..., window: _Optional[_Union[ContextWindow, _Mapping]] = ...) -> None: ...

class ConversationSummary(_message.Message):
    __slots__ = ("content", "tokens", "covers_through_position", "updated_at")
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    COVERS_THROUGH_POSITION_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    content: str
    tokens: int
    covers_through_position: int
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, content: _Optional[str] = ..., tokens: _Optional[int] = ..., covers_through_position: _Optional[int] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateChatRequest(_message.Message):
    __slots__ = ("user_id", "system_message", "model", "params", "memory")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    system_message: str
    model: str
    params: ChatParams
    memory: str
    def __init__(self, user_id: _Optional[str] = ..., system_message: _Optional[str] = ..., model: _Optional[str] = ..., params: _Optional[_Union[ChatParams, _Mapping]] = ..., memory: _Optional[str] = ...) -> None: ...

class SendMessageRequest(_message.Message):
    __slots__ = ("user_id", "chat_id", "content", "request_id", "background")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    BACKGROUND_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    chat_id: str
    content: str
    request_id: str
    background: bool
    def __init__(self, user_id: _Optional[str] = ..., chat_id: _Optional[str] = ..., content: _Optional[str] = ..., request_id: _Optional[str] = ..., background: _Optional[bool] = ...) -> None: ...

class Delta(_message.Message):
    __slots__ = ("text",)
    TEXT_FIELD_NUMBER: _ClassVar[int]
    text: str
    def __init__(self, text: _Optional[str] = ...) -> None: ...

class Completed(_message.Message):
    __slots__ = ("chat_id", "user_message", "reply", "usage")
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REPLY_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    chat_id: str
    user_message: Message
    reply: Message
    usage: Usage
    def __init__(self, chat_id: _Optional[str] = ..., user_message: _Optional[_Union[Message, _Mapping]] = ..., reply: _Optional[_Union[Message, _Mapping]] = ..., usage: _Optional[_Union[Usage, _Mapping]] = ...) -> None: ...

class Accepted(_message.Message):
    __slots__ = ("request_id", "status")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    status: str
    def __init__(self, request_id: _Optional[str] = ..., status: _Optional[str] = ...) -> None: ...

class SendMessageResponse(_message.Message):
    __slots__ = ("delta", "completed", "accepted")
    DELTA_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    delta: Delta
    completed: Completed
    accepted: Accepted
    def __init__(self, delta: _Optional[_Union[Delta, _Mapping]] = ..., completed: _Optional[_Union[Completed, _Mapping]] = ..., accepted: _Optional[_Union[Accepted, _Mapping]] = ...) -> None: ...

class ListChatsRequest(_message.Message):
    __slots__ = ("user_id", "limit", "cursor", "query")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    limit: int
    cursor: str
    query: str
    def __init__(self, user_id: _Optional[str] = ..., limit: _Optional[int] = ..., cursor: _Optional[str] = ..., query: _Optional[str] = ...) -> None: ...

class ListChatsResponse(_message.Message):
    __slots__ = ("items", "next_cursor")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[Chat]
    next_cursor: str
    def __init__(self, items: _Optional[_Iterable[_Union[Chat, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class GetChatRequest(_message.Message):
    __slots__ = ("user_id", "chat_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    chat_id: str
    def __init__(self, user_id: _Optional[str] = ..., chat_id: _Optional[str] = ...) -> None: ...

class EndChatRequest(_message.Message):
    __slots__ = ("user_id", "chat_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    chat_id: str
    def __init__(self, user_id: _Optional[str] = ..., chat_id: _Optional[str] = ...) -> None: ...

class DeleteChatRequest(_message.Message):
    __slots__ = ("user_id", "chat_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    chat_id: str
    def __init__(self, user_id: _Optional[str] = ..., chat_id: _Optional[str] = ...) -> None: ...

class DeleteChatResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WatchTurnRequest(_message.Message):
    __slots__ = ("user_id", "chat_id", "request_id", "after")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    chat_id: str
    request_id: str
    after: int
    def __init__(self, user_id: _Optional[str] = ..., chat_id: _Optional[str] = ..., request_id: _Optional[str] = ..., after: _Optional[int] = ...) -> None: ...

class TurnError(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class TurnEvent(_message.Message):
    __slots__ = ("id", "delta", "completed", "error")
    ID_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: int
    delta: Delta
    completed: Completed
    error: TurnError
    def __init__(self, id: _Optional[int] = ..., delta: _Optional[_Union[Delta, _Mapping]] = ..., completed: _Optional[_Union[Completed, _Mapping]] = ..., error: _Optional[_Union[TurnError, _Mapping]] = ...) -> None: ...

class CancelTurnRequest(_message.Message):
    __slots__ = ("user_id", "chat_id", "request_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    chat_id: str
    request_id: str
    def __init__(self, user_id: _Optional[str] = ..., chat_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CancelTurnResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RegenerateRequest(_message.Message):
    __slots__ = ("user_id", "chat_id", "request_id", "background")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    BACKGROUND_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    chat_id: str
    request_id: str
    background: bool
    def __init__(self, user_id: _Optional[str] = ..., chat_id: _Optional[str] = ..., request_id: _Optional[str] = ..., background: _Optional[bool] = ...) -> None: ...

class EditMessageRequest(_message.Message):
    __slots__ = ("user_id", "chat_id", "message_id", "content", "request_id", "background")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    BACKGROUND_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    chat_id: str
    message_id: str
    content: str
    request_id: str
    background: bool
    def __init__(self, user_id: _Optional[str] = ..., chat_id: _Optional[str] = ..., message_id: _Optional[str] = ..., content: _Optional[str] = ..., request_id: _Optional[str] = ..., background: _Optional[bool] = ...) -> None: ...

class ForkChatRequest(_message.Message):
    __slots__ = ("user_id", "chat_id", "message_id", "request_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    chat_id: str
    message_id: str
    request_id: str
    def __init__(self, user_id: _Optional[str] = ..., chat_id: _Optional[str] = ..., message_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ExportChatRequest(_message.Message):
    __slots__ = ("user_id", "chat_id")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    chat_id: str
    def __init__(self, user_id: _Optional[str] = ..., chat_id: _Optional[str] = ...) -> None: ...

class ExportChatResponse(_message.Message):
    __slots__ = ("markdown",)
    MARKDOWN_FIELD_NUMBER: _ClassVar[int]
    markdown: str
    def __init__(self, markdown: _Optional[str] = ...) -> None: ...

class GetUsageRequest(_message.Message):
    __slots__ = ("user_id", "from_day", "to_day", "group_by")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_DAY_FIELD_NUMBER: _ClassVar[int]
    TO_DAY_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    from_day: str
    to_day: str
    group_by: str
    def __init__(self, user_id: _Optional[str] = ..., from_day: _Optional[str] = ..., to_day: _Optional[str] = ..., group_by: _Optional[str] = ...) -> None: ...

class UsageFigures(_message.Message):
    __slots__ = ("calls", "prompt_tokens", "completion_tokens", "cached_prompt_tokens", "total_tokens", "cost")
    CALLS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHED_PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cached_prompt_tokens: int
    total_tokens: int
    cost: str
    def __init__(self, calls: _Optional[int] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., cached_prompt_tokens: _Optional[int] = ..., total_tokens: _Optional[int] = ..., cost: _Optional[str] = ...) -> None: ...

class UsageGroup(_message.Message):
    __slots__ = ("key", "figures")
    KEY_FIELD_NUMBER: _ClassVar[int]
    FIGURES_FIELD_NUMBER: _ClassVar[int]
    key: str
    figures: UsageFigures
    def __init__(self, key: _Optional[str] = ..., figures: _Optional[_Union[UsageFigures, _Mapping]] = ...) -> None: ...

class UsageReport(_message.Message):
    __slots__ = ("user_id", "from_day", "to_day", "group_by", "groups", "total")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_DAY_FIELD_NUMBER: _ClassVar[int]
    TO_DAY_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    from_day: str
    to_day: str
    group_by: str
    groups: _containers.RepeatedCompositeFieldContainer[UsageGroup]
    total: UsageFigures
    def __init__(self, user_id: _Optional[str] = ..., from_day: _Optional[str] = ..., to_day: _Optional[str] = ..., group_by: _Optional[str] = ..., groups: _Optional[_Iterable[_Union[UsageGroup, _Mapping]]] = ..., total: _Optional[_Union[UsageFigures, _Mapping]] = ...) -> None: ...
