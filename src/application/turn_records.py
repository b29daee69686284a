"""What a turn stores: its `TurnRecord`, made from the claimed chat, the prompts fitted for the
turn and the model's reply, for `TakeTurn` to commit in one transaction.

The window stored (its costs, its erasures) is the chat's own model's (`stored_window`), whichever
model answered; the usage is priced at the answering model's prices and the call charged to the
scoped tokens covering the user.
"""

from __future__ import annotations

from chatservice.application.clock import Clock
from chatservice.application.ids import new_id
from chatservice.application.ports import CompletionEnd, TokenCounter, TurnClaim
from chatservice.application.prompts import FittedPrompt, stored_window
from chatservice.domain.chat import Chat, Message, Role, Usage, title_from
from chatservice.domain.tenants import Tenants
from chatservice.domain.turn import TurnRecord
from chatservice.domain.usage import CallKind, PaidCall


class TurnRecordBuilder:
    """Builds the record of each turn `TakeTurn` commits."""

    def __init__(self, counter: TokenCounter, tenants: Tenants, clock: Clock) -> None:
        """`tenants`: the scoped tokens each reply is charged to, those covering its user."""
        self._counter = counter
        self._tenants = tenants
        self._clock = clock

    def build(
        self,
        chat: Chat,
        claim: TurnClaim,
        own: FittedPrompt,
        answer: FittedPrompt,
        reply_text: str,
        end: CompletionEnd,
    ) -> TurnRecord:
        """The turn on `chat` under `claim`: its question (none for a regenerate, which answers
        the stored one again) and the reply `reply_text`, ending with `end`, that the prompt
        `answer` got (`own`, the chat's own model's, or a fallback's), stamped with the clock's
        time."""
        window = stored_window(own, answer)
        model, fit, asked = window.request.model, window.fit, window.asked
        now = self._clock()
        position = chat.next_position
        # A regenerate adds a reply alone, which holds the turn's key.
        new_question = asked.question is None
        # A reply is counted from its visible text: a provider's completion_tokens may include
        # hidden reasoning tokens, which never come back into the prompt.
        reply_tokens = self._counter.count(model.encoding, reply_text)
        reply_cost = self._counter.message_cost(model.encoding, Role.ASSISTANT, "") + reply_tokens
        # Priced at the prices of the model that answered (a fallback bills at its own).
        answering = answer.request.model
        usage = (end.usage or Usage(answer.fit.prompt_tokens, reply_tokens)).priced(
            answering.prices, end.cached_prompt_tokens
        )
        user_message = Message(
            new_id(),
            Role.USER,
            asked.content,
            window.user_cost,
            position,
            now,
            idempotency_key=claim.idempotency_key,
            replaces=asked.replaced_question,
        )
        reply = Message(
            new_id(),
            Role.ASSISTANT,
            reply_text,
            reply_cost,
            position + 1 if new_question else position,
            now,
            idempotency_key=None if new_question else claim.idempotency_key,
            replaces=asked.replaced_reply,
            finish_reason=end.finish_reason,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            usage_estimated=end.usage is None,
            # Our count of the very prompt the provider's `prompt_tokens` is for.
            estimated_prompt_tokens=answer.fit.prompt_tokens,
            model=answering.name,
            cached_prompt_tokens=usage.cached_prompt_tokens,
            cost=usage.cost,
        )
        return TurnRecord(
            chat_id=chat.id,
            user_id=chat.user_id,
            idempotency_key=claim.idempotency_key,
            expected_version=chat.version,
            user_message=user_message if new_question else None,
            reply=reply,
            erase_before=fit.erase_before,
            usage=usage,
            title=None if chat.title else title_from(asked.content),
            updated_at=now,
            supersede_from=asked.revision.supersede_from,
            call=PaidCall(
                CallKind.REPLY,
                answering.name,
                now,
                usage,
                tuple(t.name for t in self._tenants.covering(chat.user_id)),
            ),
        )
