"""Stock grpcio clients, generated in the test from proto text, against `chatservice serve`.

Each client runs in its own interpreter: grpcio's generated modules would otherwise meet the
service's own in one protobuf descriptor pool.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.process import ServiceProcess, start_service

PROTOS = Path(__file__).parents[2] / "protos"

# The original service's file, as its Go clients have it.
ORIGINAL_PROTO = """
syntax = "proto3";
package pb;
option go_package = "internal/infra/grpc/pb";

message ChatRequest {
  optional string chat_id = 1;
  string user_id = 2;
  string user_message = 3;
}

message ChatResponse {
  string chat_id = 1;
  string user_id = 2;
  string content = 3;
}

service ChatService {
  rpc ChatStream(ChatRequest) returns (stream ChatResponse) {}
}
"""


#: Each test talks as its own user and stays under this, but the rate-limit test, which goes over.
TURNS_PER_MINUTE = 3


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    running = start_service(
        {
            "CHATSERVICE_AUTH_TOKENS": "grpc-token",
            "CHATSERVICE_TURNS_PER_MINUTE_PER_USER": str(TURNS_PER_MINUTE),
        },
        cwd=tmp_path_factory.mktemp("serve"),
    )
    yield running
    assert running.stop() == 0


def generate(proto_dir: Path, proto_name: str, out: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{proto_dir}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            str(proto_dir / proto_name),
        ],
        check=True,
    )


def run_client(out: Path, script: str) -> list[dict[str, object]]:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=out,
        env={"PYTHONPATH": str(out)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_a_grpcio_client_of_the_original_proto_gets_cumulative_replies(
    service: ServiceProcess, tmp_path: Path
) -> None:
    (tmp_path / "chat.proto").write_text(ORIGINAL_PROTO)
    generate(tmp_path, "chat.proto", tmp_path)
    replies = run_client(
        tmp_path,
        f"""
        import asyncio, json, grpc, chat_pb2, chat_pb2_grpc

        async def main():
            async with grpc.aio.insecure_channel("127.0.0.1:{service.grpc_port}") as channel:
                stub = chat_pb2_grpc.ChatServiceStub(channel)
                auth = (("authorization", "grpc-token"),)
                first = None
                async for reply in stub.ChatStream(
                    chat_pb2.ChatRequest(user_id="grpcio-user", user_message="hi"), metadata=auth
                ):
                    first = reply.chat_id
                    print(json.dumps({{"turn": 1, "chat_id": first, "content": reply.content}}))
                request = chat_pb2.ChatRequest(
                    chat_id=first, user_id="grpcio-user", user_message="again"
                )
                async for reply in stub.ChatStream(request, metadata=auth):
                    turn = {{"turn": 2, "chat_id": reply.chat_id, "content": reply.content}}
                    print(json.dumps(turn))
                try:
                    async for _ in stub.ChatStream(
                        chat_pb2.ChatRequest(user_id="grpcio-user", user_message="hi")
                    ):
                        pass
                except grpc.aio.AioRpcError as error:
                    print(json.dumps({{"turn": 3, "status": error.code().name}}))

        asyncio.run(main())
        """,
    )
    first = [r for r in replies if r["turn"] == 1]
    second = [r for r in replies if r["turn"] == 2]
    assert len(first) > 3
    assert {r["chat_id"] for r in first} == {r["chat_id"] for r in second}
    contents = [str(r["content"]) for r in first]
    assert all(b.startswith(a) and len(b) > len(a) for a, b in itertools.pairwise(contents))
    assert '"again"' in str(second[-1]["content"])
    assert replies[-1] == {"turn": 3, "status": "UNAUTHENTICATED"}


def run_v1_client(
    service: ServiceProcess, out: Path, user_id: str, body: str
) -> list[dict[str, object]]:
    """Run `body` in a grpcio client of chatservice.v1 that has `pb`, `stub`, `auth` and a new
    `chat` of `user_id` at hand, and `status_pb2` and `error_details_pb2` of google.rpc."""
    generate(PROTOS, "chatservice_v1.proto", out)
    script = f"""
import asyncio, json, grpc
from google.rpc import error_details_pb2, status_pb2
import chatservice_v1_pb2 as pb, chatservice_v1_pb2_grpc as rpc

async def main():
    async with grpc.aio.insecure_channel("127.0.0.1:{service.grpc_port}") as channel:
        stub = rpc.ChatServiceStub(channel)
        auth = (("authorization", "Bearer grpc-token"),)
        chat = await stub.CreateChat(pb.CreateChatRequest(user_id={user_id!r}), metadata=auth)
{textwrap.indent(textwrap.dedent(body), " " * 8)}
asyncio.run(main())
"""
    return run_client(out, script)


def test_a_grpcio_client_of_the_v1_proto_streams_deltas(
    service: ServiceProcess, tmp_path: Path
) -> None:
    events = run_v1_client(
        service,
        tmp_path,
        "v1",
        """
        request = pb.SendMessageRequest(user_id="v1", chat_id=chat.id, content="hello")
        async for event in stub.SendMessage(request, metadata=auth):
            kind = event.WhichOneof("event")
            text = event.delta.text if kind == "delta" else event.completed.reply.content
            print(json.dumps({"kind": kind, "text": text}))
        stored = await stub.GetChat(pb.GetChatRequest(user_id="v1", chat_id=chat.id), metadata=auth)
        print(json.dumps({"kind": "stored", "text": stored.messages[-1].content}))
        """,
    )
    deltas = "".join(str(e["text"]) for e in events if e["kind"] == "delta")
    completed = [e for e in events if e["kind"] == "completed"]
    assert len(completed) == 1
    assert deltas == completed[0]["text"] == events[-1]["text"]


def test_a_grpcio_client_reads_the_retry_delay_of_a_rate_limited_turn_from_retry_info(
    service: ServiceProcess, tmp_path: Path
) -> None:
    outcome = run_v1_client(
        service,
        tmp_path,
        "busy",
        f"""
        request = pb.SendMessageRequest(user_id="busy", chat_id=chat.id, content="hi")
        for _ in range({TURNS_PER_MINUTE}):
            async for _ in stub.SendMessage(request, metadata=auth):
                pass
        try:
            # A deadline far off: reaching it would mean the call hung.
            async for _ in stub.SendMessage(request, metadata=auth, timeout=60):
                pass
        except grpc.aio.AioRpcError as error:
            trailers = dict(error.trailing_metadata())
            status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
            retry = error_details_pb2.RetryInfo()
            print(json.dumps({{
                "code": error.code().name,
                "message": error.details(),
                "status_code": status.code,
                "status_message": status.message,
                "unpacked": [detail.Unpack(retry) for detail in status.details],
                "retry_delay": retry.retry_delay.ToTimedelta().total_seconds(),
            }}))
        """,
    )
    assert len(outcome) == 1
    refused = outcome[0]
    assert refused["code"] == "RESOURCE_EXHAUSTED"
    message = str(refused["message"])
    assert message.startswith(f"at most {TURNS_PER_MINUTE} messages a minute; retry in ")
    assert refused["status_code"] == 8  # google.rpc.Code.RESOURCE_EXHAUSTED
    assert refused["status_message"] == message
    assert refused["unpacked"] == [True]
    assert message.endswith(f"retry in {refused['retry_delay']:g} s")
    assert 0 < float(str(refused["retry_delay"])) <= 60
