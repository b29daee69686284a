// What the person asks of a chat on the web chat page: send a message (or an edit of the last
// one), regenerate the last reply, fork, stop a reply; and the exchange shown while its reply is
// written, resumed after a reload.

import { ApiError, StoppedError } from "./api.js";
import { loadChats, openChat } from "./chats.js";
import { clearError, showError, showNotice } from "./errors.js";
import { api, state, stopEditing, ui, updateControls } from "./page.js";
import { markStopped, messageItem, renderChat, scrollToEnd } from "./transcript.js";
import { LEAVING, cancelOnService, followTurn, forgetTurn, newRequestId, rememberTurn, startTurn } from "./turns.js";

/**
 * Show a turn of chat `turn.chatId` being answered: its question, then its reply as `begin` (which
 * starts the turn on the service, or nothing when it runs already) and `followTurn` bring it in.
 * `controller` (already `state.turn`) stops it: the service is asked to cancel it. A failure takes
 * the exchange off the page; the draft is given back either way.
 */
async function runTurn(turn, controller, begin) {
  for (const item of ui.messages.querySelectorAll(".stopped")) item.remove();
  // A regenerate answers the stored question again: it brings none of its own.
  const question = turn.content === null ? null : messageItem({ role: "user", content: turn.content });
  const reply = messageItem({ role: "assistant", content: "" });
  reply.classList.add("streaming");
  reply.setAttribute("aria-busy", "true");
  const replaced = replacedItems(turn);
  for (const item of replaced) item.classList.add("replacing");
  ui.messages.querySelector(".empty")?.remove();
  ui.messages.append(...[question, reply].filter((item) => item !== null));
  scrollToEnd();
  // Kept from now on: a reload while the turn starts finds it (or learns it never started).
  rememberTurn(turn);
  let stored = false;
  try {
    await begin(controller.signal);
    if (controller.signal.aborted) throw new StoppedError();
    const done = await followTurn(turn, reply, controller.signal);
    stored = true;
    forgetTurn();
    if (turn.kind === "edit") stopEditing();
    reply.replaceWith(messageItem({ ...done.message, usage: done.usage }));
    // The stored chat says what was erased to make room, and the new totals.
    if (state.chat?.id === turn.chatId) await openChat(turn.chatId);
    await loadChats();
  } catch (error) {
    if (stored) throw error;
    forgetTurn();
    if (controller.signal.reason === LEAVING) return;
    // Nothing of a stopped or failed turn is stored; the draft is given back. A stopped reply
    // stays on the page, marked, as far as it had come; a failed one goes.
    const stopped = error instanceof StoppedError;
    if (stopped) {
      markStopped(question, reply);
      state.stopped.add(turn.chatId);
      cancelOnService(turn).catch(showError);
    } else {
      question?.remove();
      reply.remove();
    }
    if (turn.content !== null && ui.message.value === "") ui.message.value = turn.content;
    // A chat made for this message stays (empty): list it. The turn's error is the one shown.
    if (state.chats.every((chat) => chat.id !== turn.chatId)) loadChats().catch(() => {});
    if (!stopped) throw error;
  } finally {
    for (const item of replaced) item.classList.remove("replacing");
    reply.classList.remove("streaming");
    reply.removeAttribute("aria-busy");
    state.turn = null;
    showNotice("");
    updateControls();
  }
}

/** Take the page for a turn: Send is off and Stop on until `runTurn` is done with it. */
function takeTurn() {
  const controller = new AbortController();
  state.turn = controller;
  updateControls();
  return controller;
}

/** The items on the page of the messages `turn` replaces: a regenerate's reply, an edit's exchange. */
function replacedItems(turn) {
  const current = (state.chat?.id === turn.chatId ? state.chat.messages : []).filter(
    (message) => !message.superseded,
  );
  let ids = [];
  if (turn.kind === "regenerate") ids = current.slice(-1).map((message) => message.id);
  if (turn.kind === "edit") {
    const at = current.findIndex((message) => message.id === turn.messageId);
    ids = at < 0 ? [] : current.slice(at).map((message) => message.id);
  }
  return ids
    .map((id) => ui.messages.querySelector(`:scope > [data-message-id="${CSS.escape(id)}"]`))
    .filter((item) => item !== null);
}

export async function send() {
  const content = ui.message.value;
  if (state.turn !== null || !state.connected || content.trim() === "") return;
  clearError();
  const editing = state.editing?.chatId === state.chat?.id ? state.editing : null;
  const controller = takeTurn();
  ui.message.value = "";
  if (!state.chat) {
    try {
      state.chat = await (await api("/chats", { method: "POST", body: {} })).json();
    } catch (error) {
      state.turn = null;
      updateControls();
      ui.message.value = content;
      throw error;
    }
    renderChat();
  }
  const chatId = state.chat.id;
  const requestId = newRequestId();
  const turn = { userId: state.userId, chatId, requestId, content, lastId: 0, text: "" };
  let path = `/chats/${encodeURIComponent(chatId)}/messages`;
  if (editing) {
    Object.assign(turn, { kind: "edit", messageId: editing.messageId });
    path += `/${encodeURIComponent(editing.messageId)}/edit`;
  }
  const body = { content, background: true };
  await runTurn(turn, controller, (signal) => startTurn(turn, path, body, signal));
}

/** A new reply to the chat's last question; the one it had is superseded once it is stored. */
export async function regenerate() {
  if (state.turn !== null || !state.connected || !state.chat) return;
  clearError();
  stopEditing();
  const controller = takeTurn();
  const chatId = state.chat.id;
  const turn = {
    userId: state.userId,
    chatId,
    requestId: newRequestId(),
    kind: "regenerate",
    content: null,
    lastId: 0,
    text: "",
  };
  const path = `/chats/${encodeURIComponent(chatId)}/regenerate`;
  await runTurn(turn, controller, (signal) => startTurn(turn, path, { background: true }, signal));
}

/** Put the chat's last question in the composer: Send then replaces it (and its reply). */
export function startEditing(message) {
  if (state.turn !== null || !state.chat) return;
  clearError();
  state.editing = { chatId: state.chat.id, messageId: message.id };
  ui.message.value = message.content;
  updateControls();
  ui.message.focus();
}

/** A new chat carrying on from `message` (copies of the chat up to it), opened at once. */
export async function fork(message) {
  if (state.turn !== null || !state.chat) return;
  clearError();
  const path = `/chats/${encodeURIComponent(state.chat.id)}/fork`;
  const request = { method: "POST", body: { message_id: message.id } };
  request.headers = { "Idempotency-Key": newRequestId() };
  const forked = await (await api(path, request)).json();
  stopEditing();
  state.openSequence += 1;
  state.chat = forked;
  ui.message.value = "";
  await loadChats();
  renderChat();
  showNotice("Forked: this new chat carries on from that message; the original is unchanged.");
}

/**
 * After a reload: open the chat of the reply that was being written, and follow it from the last
 * event drawn. A turn the service no longer has (it never started, or ended long ago) is left
 * to the chat, which shows what was stored.
 */
export async function resumeTurn(pending) {
  const controller = takeTurn();
  try {
    await openChat(pending.chatId);
    await runTurn(pending, controller, async () => {});
  } catch (error) {
    state.turn = null;
    updateControls();
    forgetTurn();
    const gone = error instanceof ApiError && [404, 410].includes(error.status);
    if (!gone) throw error;
    ui.message.value = "";
    if (state.chat?.id === pending.chatId) await openChat(pending.chatId);
  }
}

/** Stop the reply being written: the page stops following it and the service cancels it. */
export function stop() {
  state.turn?.abort();
  ui.message.focus();
}
