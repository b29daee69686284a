"""What the use cases record in the usage ledger, over the in-memory repository and the fake
model: each reply and summary call, by the model that answered, charged to every tenant
covering the user; none for a fork; all of a user's calls go with their erasure, not with a
chat's deletion."""

from __future__ import annotations

from datetime import date

from dependency_injector import providers

from chatservice.adapters.memory_repository.repository import InMemoryChatRepository
from chatservice.application.turn_events import run_to_completion
from chatservice.domain.chat import Chat
from chatservice.domain.memory import ChatSummary
from chatservice.domain.tenants import Tenant, Tenants
from chatservice.domain.turn import TurnRecord
from chatservice.domain.usage import CallKind, GroupBy, PaidCall, UsageFigures
from support.services import Service, build_service

TENANTS = Tenants((Tenant("acme", "acme:*"), Tenant("all", "*"), Tenant("b", "b:*")))
EVERY_DAY = (date(2000, 1, 1), date(2100, 1, 1))
#: A window a few exchanges fill: most turns erase one, and a summary follows.
TINY = {"context_window": 200, "max_completion_tokens": 40, "system_message": "Be brief."}


class LedgerWatch(InMemoryChatRepository):
    """The in-memory repository, keeping every call it was given to record."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[PaidCall] = []
        self.turns: list[TurnRecord] = []

    async def commit_turn(self, turn: TurnRecord) -> None:
        await super().commit_turn(turn)
        self.turns.append(turn)
        if turn.call is not None:
            self.calls.append(turn.call)

    async def store_summary(
        self, user_id: str, chat_id: str, summary: ChatSummary, call: PaidCall
    ) -> None:
        await super().store_summary(user_id, chat_id, summary, call)
        self.calls.append(call)


def watched(**settings: object) -> tuple[Service, LedgerWatch]:
    service = build_service(
        {
            "repository": providers.Singleton(LedgerWatch),
            "tenants": providers.Object(TENANTS),
        },
        **settings,
    )
    repository = service.container.repository()
    assert isinstance(repository, LedgerWatch)
    return service, repository


async def talk(service: Service, chat: Chat, turns: int) -> None:
    for n in range(turns):
        events = service.send_message(chat.user_id, chat.id, f"question {n}: tell me about {n}")
        await run_to_completion(events)
        await service.work.drain(grace_seconds=30)


async def test_a_reply_is_one_call_charged_to_every_tenant_covering_its_user() -> None:
    service, repository = watched()
    chat = await service.start_chat("acme:bob")

    await talk(service, chat, 1)

    (turn,) = repository.turns
    assert turn.call == PaidCall(
        CallKind.REPLY, turn.reply.model or "", turn.updated_at, turn.usage, ("acme", "all")
    )
    assert turn.reply.model == chat.model
    assert turn.usage.cost == turn.reply.cost


async def test_a_summary_call_is_charged_like_a_reply() -> None:
    service, repository = watched(**TINY)
    chat = await service.start_chat("b:ann", memory="summary")

    await talk(service, chat, 6)

    summaries = [c for c in repository.calls if c.kind is CallKind.SUMMARY]
    assert summaries
    assert all(c.charged_to == ("all", "b") and c.usage.cost > 0 for c in summaries)
    stored = await repository.get_chat("b:ann", chat.id)
    assert stored.summary is not None
    assert summaries[-1].at == stored.summary.updated_at


async def test_a_fork_calls_no_model_and_records_nothing() -> None:
    service, repository = watched()
    chat = await service.start_chat("acme:bob")
    await talk(service, chat, 2)
    reply = (await repository.get_chat("acme:bob", chat.id)).messages[-1]

    await service.fork_chat("acme:bob", chat.id, reply.id)

    assert len(repository.calls) == 2
    report = await repository.usage_report("acme:bob", *EVERY_DAY, GroupBy.MODEL)
    assert [g.figures.calls for g in report] == [2]


async def test_a_users_erasure_takes_their_calls_and_a_chats_deletion_does_not() -> None:
    service, repository = watched(deletion_batch_size=2)
    kept, erased = await service.start_chat("acme:bob"), await service.start_chat("b:ann")
    await talk(service, kept, 1)
    await talk(service, erased, 5)
    await service.container.delete_chat()("acme:bob", kept.id)

    await service.container.erase_user()("b:ann")

    assert await repository.usage_report("b:ann", *EVERY_DAY, GroupBy.DAY) == []
    (group,) = await repository.usage_report("acme:bob", *EVERY_DAY, GroupBy.DAY)
    assert group.figures == UsageFigures.of(repository.calls[0].usage)
