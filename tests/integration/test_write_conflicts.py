"""Writes that lose to another transaction on the same chat: 409, never 500 or 503.

Each conflict is a real one, made by the database: on MariaDB a deadlock whose victim InnoDB
picks (1213) and a lock wait that times out (1205); on the Galera cluster another node's write
committed while the service's transaction on node 2 is about to commit, so that transaction
loses certification (1213 at COMMIT). Nothing waits for time to pass: the tests wait for the
state they need (a transaction waiting for a lock, the model holding its reply).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest
from sqlalchemy import Connection, Executable, event, func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from chatservice.adapters.fake_gateway import FakeChatGateway
from chatservice.adapters.sqlalchemy.engine import create_engine
from chatservice.adapters.sqlalchemy.tables import chats, messages
from support.galera import GaleraCluster
from support.http import AUTH, Api, api_factory, unique_user
from support.waiting import eventually

OTHER_CLAIM = "claimed-by-another-replica"


async def post_message(api: Api, user: str, chat_id: str, content: str) -> Any:
    return await api.client.post(
        f"/v1/users/{user}/chats/{chat_id}/messages", json={"content": content}, headers=AUTH
    )


def fake_model(api: Api) -> FakeChatGateway:
    fake = api.container.gateway()
    assert isinstance(fake, FakeChatGateway)
    return fake


@asynccontextmanager
async def transaction_on(url: str) -> AsyncIterator[AsyncConnection]:
    """A transaction of the test's own, rolled back at the end."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection, connection.begin() as transaction:
            yield connection
            await transaction.rollback()
    finally:
        await engine.dispose()


async def stored(url: str, chat_id: str) -> dict[str, Any]:
    """The chat as stored, read causally on a Galera node (after every write the cluster
    committed before the read)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            if await connection.scalar(text("SELECT @@wsrep_on")):
                await connection.execute(text("SET SESSION wsrep_sync_wait = 1"))
            chat = (
                await connection.execute(
                    select(chats.c.title, chats.c.status, chats.c.claim_idempotency_key).where(
                        chats.c.id == chat_id
                    )
                )
            ).one()
            roles = await connection.scalars(
                select(messages.c.role)
                .where(messages.c.chat_id == chat_id)
                .order_by(messages.c.position)
            )
            return {
                "title": chat.title,
                "status": chat.status,
                "claim_idempotency_key": chat.claim_idempotency_key,
                "roles": list(roles),
            }
    finally:
        await engine.dispose()


# On MariaDB: a deadlock and a lock wait timeout.


#: InnoDB refreshes its `information_schema` view of transactions only when it was last read
#: more than 0.1 s before: a poll any faster would read the same stale view forever.
INNODB_TRX_REFRESH_SECONDS = 0.1


async def transactions_waiting_for_a_lock(connection: AsyncConnection, database: str) -> int:
    await asyncio.sleep(INNODB_TRX_REFRESH_SECONDS * 1.5)  # pacing the poll, not ordering events
    count = await connection.scalar(
        text(
            "SELECT COUNT(*) FROM information_schema.INNODB_TRX t "
            "JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id "
            "WHERE t.trx_state = 'LOCK WAIT' AND p.DB = :database"
        ),
        {"database": database},
    )
    return int(count or 0)


@pytest.mark.mariadb
async def test_a_commit_chosen_as_the_victim_of_a_deadlock_is_409_and_stores_nothing(
    mariadb_database_url: str, request: pytest.FixtureRequest
) -> None:
    user = unique_user("u", request)
    database = make_url(mariadb_database_url).database or ""
    async with api_factory(mariadb_database_url)() as api:
        chat = await api.new_chat(user)
        ballast = await api.new_chat(user)
        for number in range(10):
            await api.say(user, ballast["id"], f"ballast {number}")
        hold = fake_model(api).hold(after_chunks=1)
        turn = asyncio.create_task(post_message(api, user, chat["id"], "the commit deadlocks"))
        await hold.reached()  # the chat is claimed; the turn's commit comes next

        async with transaction_on(mariadb_database_url) as other:
            # Heavier than the turn's commit (InnoDB rolls back the transaction that changed
            # fewer rows), holding the gap where the turn's messages go.
            await other.execute(
                update(messages)
                .where(messages.c.chat_id == ballast["id"])
                .values(tokens=messages.c.tokens + 1)
            )
            await other.execute(
                select(messages.c.position)
                .where(messages.c.chat_id == chat["id"], messages.c.position >= 1)
                .with_for_update()
            )
            hold.release()
            # The commit has updated the chat row and waits to insert its messages.
            await eventually(
                lambda: transactions_waiting_for_a_lock(other, database), "the commit waits"
            )
            # Now this one waits for the chat row the commit holds: a deadlock.
            await other.execute(
                update(chats).where(chats.c.id == chat["id"]).values(updated_at=func.now())
            )

        response = await turn
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "concurrent_update"
        assert await stored(mariadb_database_url, chat["id"]) == {
            "title": "",
            "status": "active",
            "claim_idempotency_key": None,
            "roles": ["system"],
        }
        assert (await post_message(api, user, chat["id"], "a retry")).status_code == 200


@pytest.mark.mariadb
async def test_a_claim_that_waits_out_the_lock_wait_timeout_is_409_turn_in_progress(
    mariadb_database_url: str, request: pytest.FixtureRequest
) -> None:
    user = unique_user("u", request)
    impatient = (
        make_url(mariadb_database_url)
        .update_query_dict({"init_command": "SET SESSION innodb_lock_wait_timeout = 1"})
        .render_as_string(hide_password=False)
    )
    async with api_factory(impatient)() as api:
        chat = await api.new_chat(user)
        async with transaction_on(mariadb_database_url) as other:
            await other.execute(
                update(chats).where(chats.c.id == chat["id"]).values(updated_at=func.now())
            )
            response = await post_message(api, user, chat["id"], "the chat row is locked")

        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "turn_in_progress"
        assert (await post_message(api, user, chat["id"], "a retry")).status_code == 200


# On Galera: another node's write-set wins certification.


def committed_through(url: str, statement: Executable) -> None:
    """Commit `statement` through its own connection to `url`, and return once it is committed.

    Synchronous, for an event listener inside the service's transaction: the service's event loop
    (the test's) waits meanwhile, so the write runs in a loop of its own in another thread.
    """

    async def write() -> None:
        engine = create_engine(url)
        try:
            async with engine.begin() as connection:
                await connection.execute(statement)
        finally:
            await engine.dispose()

    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, write()).result()


@contextmanager
def committed_elsewhere_first(
    api: Api, url: str, statement: Executable, times: int = 1
) -> Iterator[None]:
    """While open: just before each of the service's next `times` transactions commits,
    `statement` commits through `url`, another node, as if another replica had written there at
    that moment. The service's transaction then loses certification at its COMMIT."""
    engine = api.container.engine().sync_engine
    remaining = times

    def commit_elsewhere(_connection: Connection) -> None:
        nonlocal remaining
        if remaining > 0:
            remaining -= 1
            committed_through(url, statement)

    event.listen(engine, "commit", commit_elsewhere)
    try:
        yield
    finally:
        event.remove(engine, "commit", commit_elsewhere)
    assert remaining == 0, "the service committed fewer transactions than expected"


def changed_elsewhere(chat_id: str, title: str) -> Executable:
    """What another replica's change to the chat writes: the chat row, its version bumped."""
    return (
        update(chats).where(chats.c.id == chat_id).values(title=title, version=chats.c.version + 1)
    )


@pytest.fixture
def galera(migrated_galera_cluster: GaleraCluster) -> GaleraCluster:
    return migrated_galera_cluster


async def test_a_claim_that_loses_certification_to_a_claim_through_another_node_is_409(
    galera: GaleraCluster, request: pytest.FixtureRequest
) -> None:
    user = unique_user("u", request)
    async with api_factory(galera.url(2))() as api:
        chat = await api.new_chat(user)
        other_claim = (
            update(chats)
            .where(chats.c.id == chat["id"])
            .values(
                claim_idempotency_key=OTHER_CLAIM,
                claim_expires_at=func.now() + text("INTERVAL 1 HOUR"),
            )
        )
        with committed_elsewhere_first(api, galera.url(1), other_claim):
            response = await post_message(api, user, chat["id"], "loses the claim")

        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "turn_in_progress"
        assert await stored(galera.url(3), chat["id"]) == {
            "title": "",
            "status": "active",
            "claim_idempotency_key": OTHER_CLAIM,
            "roles": ["system"],
        }


async def test_a_commit_that_loses_certification_is_409_stores_nothing_and_releases_the_claim(
    galera: GaleraCluster, request: pytest.FixtureRequest
) -> None:
    user = unique_user("u", request)
    async with api_factory(galera.url(2))() as api:
        chat = await api.new_chat(user)
        await api.say(user, chat["id"], "the first turn names the chat")
        hold = fake_model(api).hold(after_chunks=1)
        turn = asyncio.create_task(post_message(api, user, chat["id"], "loses at commit"))
        await hold.reached()  # claimed; the next transaction is the turn's commit
        with committed_elsewhere_first(
            api, galera.url(1), changed_elsewhere(chat["id"], "renamed")
        ):
            hold.release()
            response = await turn

        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "concurrent_update"
        assert await stored(galera.url(3), chat["id"]) == {
            "title": "renamed",
            "status": "active",
            "claim_idempotency_key": None,
            "roles": ["system", "user", "assistant"],
        }
        # The next turn starts from the chat as stored, not from this replica's copy of it.
        assert (await post_message(api, user, chat["id"], "a retry")).status_code == 200
        after = await stored(galera.url(3), chat["id"])
        assert (after["title"], after["roles"]) == (
            "renamed",
            ["system"] + ["user", "assistant"] * 2,
        )


@pytest.mark.parametrize(("losses", "status"), [(1, "ended"), (2, "active")])
async def test_an_end_that_loses_certification_is_tried_again_once_then_409(
    galera: GaleraCluster, losses: int, status: str, request: pytest.FixtureRequest
) -> None:
    user = unique_user(f"u{losses}", request)
    async with api_factory(galera.url(2))() as api:
        chat = await api.new_chat(user)
        renamed = changed_elsewhere(chat["id"], "renamed")
        with committed_elsewhere_first(api, galera.url(1), renamed, times=losses):
            ended = await api.client.post(f"/v1/users/{user}/chats/{chat['id']}/end", headers=AUTH)

        if losses == 1:
            assert ended.status_code == 200, ended.text
            assert (ended.json()["status"], ended.json()["title"]) == ("ended", "renamed")
        else:
            assert ended.status_code == 409, ended.text
            assert ended.json()["error"]["code"] == "concurrent_update"
        assert (await stored(galera.url(3), chat["id"]))["status"] == status
