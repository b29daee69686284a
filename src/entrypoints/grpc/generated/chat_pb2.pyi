from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class ChatRequest(_message.Message):
    __slots__ = ("chat_id", "user_id", "user_message")
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    USER_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    chat_id: str
    user_id: str
    user_message: str
    def __init__(self, chat_id: _Optional[str] = ..., user_id: _Optional[str] = ..., user_message: _Optional[str] = ...) -> None: ...

class ChatResponse(_message.Message):
    __slots__ = ("chat_id", "user_id", "content")
    CHAT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    chat_id: str
    user_id: str
    content: str
    def __init__(self, chat_id: _Optional[str] = ..., user_id: _Optional[str] = ..., content: _Optional[str] = ...) -> None: ...
