"""The bare handlers the service is measured against, each in a process of its own.

`python bench/baselines.py http PORT` serves a Litestar route of the same shape as the turn route
(parse the JSON body, answer a reply of the same size) with nothing behind it;
`python bench/baselines.py grpc PORT` serves `chatservice.v1.ChatService/SendMessage` streaming
the same number of deltas and a final message, with nothing behind it.
"""

from __future__ import annotations

import sys
from typing import Any

import msgspec
import uvicorn
import uvloop
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from grpclib.server import Server, Stream
from litestar import Litestar, post

from chatservice.entrypoints.grpc.generated import chatservice_v1_grpc
from chatservice.entrypoints.grpc.generated import chatservice_v1_pb2 as pb

REPLY_WORDS = ["word "] * 16


class NewMessage(msgspec.Struct):
    content: str


class Reply(msgspec.Struct):
    message: dict[str, Any]
    usage: dict[str, Any]


@post("/v1/users/{user_id:str}/chats/{chat_id:str}/messages", status_code=200)
async def bare_turn(user_id: str, chat_id: str, data: NewMessage) -> Reply:
    return Reply(
        message={"id": chat_id, "role": "assistant", "content": "".join(REPLY_WORDS),
                 "tokens": 20, "erased": False, "position": 2, "user": user_id},
        usage={"prompt_tokens": 20, "completion_tokens": 16, "estimated": False},
    )  # fmt: skip


class _BareTurns(chatservice_v1_grpc.ChatServiceBase):
    async def SendMessage(self, stream: Stream[Any, Any]) -> None:
        request = await stream.recv_message()
        for word in REPLY_WORDS:
            await stream.send_message(pb.SendMessageResponse(delta=pb.Delta(text=word)))
        reply = pb.Message(id=request.chat_id, role="assistant", content="".join(REPLY_WORDS))
        await stream.send_message(pb.SendMessageResponse(completed=pb.Completed(reply=reply)))

    async def CreateChat(self, stream: Stream[Any, Any]) -> None:
        request = await stream.recv_message()
        await stream.send_message(pb.Chat(id="bare", user_id=request.user_id))


async def _unimplemented(self: object, stream: Stream[Any, Any]) -> None:
    raise GRPCError(Status.UNIMPLEMENTED)


#: The two RPCs the turn benchmark calls; every other RPC of chatservice.v1 answers UNIMPLEMENTED,
#: so that the baseline still starts when the protocol grows.
BareChatService = type("BareChatService", (_BareTurns,),
                       dict.fromkeys(_BareTurns.__abstractmethods__, _unimplemented))  # fmt: skip


async def serve_grpc(port: int) -> None:
    server = Server([BareChatService()])
    await server.start("127.0.0.1", port)
    print("ready", flush=True)
    await server.wait_closed()


if __name__ == "__main__":
    kind, port = sys.argv[1], int(sys.argv[2])
    if kind == "http":
        app = Litestar([bare_turn], logging_config=None)
        print("ready", flush=True)
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
    else:
        uvloop.run(serve_grpc(port))  # the loop `chatservice serve` runs on
