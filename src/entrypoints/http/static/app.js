// The web chat page (docs/api.md), on the /v1 HTTP API. Plain modern JavaScript, no build step.
//
// Every text that comes from a person or the service goes into the page with `textContent` or as
// a Text node, never as HTML: a message holding `<script>` is shown, not run. The one exception is
// a reply's Markdown, which markdown.js renders through a sanitizer.

import { ApiError, NetworkError, StoppedError, StreamError, call, pause, readEvents } from "./api.js";
import { actionsOf, layOut, showWindow } from "./control.js";
import { showMarkdown } from "./markdown.js";

const PAGE_SIZE = 50;
const STORED = {
  token: "chatservice.token",
  userId: "chatservice.userId",
  // The reply being written, so that a reload resumes it where it was (see `resumeTurn`).
  turn: "chatservice.turn",
};
const ROLE_NAMES = { system: "System", user: "You", assistant: "Assistant" };

const byId = (id) => document.getElementById(id);
const ui = {
  identity: byId("identity"),
  token: byId("token"),
  userId: byId("user-id"),
  whoami: byId("whoami"),
  whoamiUser: byId("whoami-user"),
  signOut: byId("sign-out"),
  newChat: byId("new-chat"),
  chatList: byId("chat-list"),
  moreChats: byId("more-chats"),
  title: byId("chat-title"),
  usage: byId("chat-usage"),
  gauge: { box: byId("context"), meter: byId("context-gauge"), text: byId("context-text") },
  editing: byId("editing"),
  cancelEdit: byId("cancel-edit"),
  messages: byId("messages"),
  error: byId("error"),
  errorText: byId("error-text"),
  errorDismiss: byId("error-dismiss"),
  composer: byId("composer"),
  message: byId("message"),
  send: byId("send"),
  stop: byId("stop"),
  notice: byId("notice"),
  sidebar: byId("sidebar"),
  toggleChats: byId("toggle-chats"),
};

const state = {
  token: "",
  userId: "",
  connected: false,
  chats: [],
  nextCursor: null,
  // The selected chat as `GET …/chats/{id}` returns it; null before its first message.
  chat: null,
  // The running turn's stop switch; null while no reply is being written.
  turn: null,
  // Saves the running turn with the part of its reply drawn so far; null while none runs.
  saveTurn: null,
  // Chats whose reply was stopped and not yet followed by a new turn: the service may still be
  // cancelling it for a moment, so their next message waits for the chat to be free.
  stopped: new Set(),
  // Which `openChat` call may still render: a slow answer for a chat left since is dropped.
  openSequence: 0,
  // The last question being edited (`{chatId, messageId}`): Send replaces it; null otherwise.
  editing: null,
};

const LEADS_BY_STATUS = {
  400: "The service refused the request",
  401: "The service refused the token: check it and connect again",
  404: "Not found: the chat may have been deleted",
  409: "The chat cannot take this message now",
  413: "The message is too long for this chat",
  422: "The request was refused",
  429: "Too many messages: wait a moment, then send again",
  502: "The model failed to answer",
  503: "The service's database is unavailable: try again shortly",
  504: "The model took too long to answer",
};

const LEADS_BY_CODE = {
  turn_in_progress: "Another reply is still being written in this chat: wait for it, then send again",
  not_last_user_message: "Only the last message can be edited: the chat has moved on",
  message_superseded: "That message was replaced by a newer version: fork from the current one",
  message_erased: "That message is out of the context window: fork from a later one",
  concurrent_update: "The chat changed while this reply was written: send again",
  chat_ended: "This chat has ended: start a new chat to go on",
  budget_exhausted: "The usage budget is spent until it renews",
};

/** An error in words, for a person. */
function describe(error) {
  if (error instanceof NetworkError) {
    return `Could not reach the service (${error.message}). Check the connection and try again.`;
  }
  if (error instanceof ApiError) {
    const lead =
      LEADS_BY_CODE[error.code] ?? LEADS_BY_STATUS[error.status] ?? "The service answered an error";
    return `${lead}. HTTP ${error.status}: ${error.message}`;
  }
  if (error instanceof StreamError) {
    const lead = LEADS_BY_CODE[error.code] ?? "The reply failed part-way and was discarded";
    return `${lead}. ${error.message} (${error.code})`;
  }
  return `Something went wrong in the page: ${error?.message ?? error}`;
}

function showError(error) {
  ui.errorText.textContent = describe(error);
  ui.error.hidden = false;
  if (error instanceof ApiError && error.status === 401) {
    // A refused token is not kept for the next visit; the form asks for another.
    sessionStorage.removeItem(STORED.token);
    state.connected = false;
    showIdentity();
  }
}

function clearError() {
  ui.error.hidden = true;
  ui.errorText.textContent = "";
}

/** A passing word on what the page is doing (it is not an error). */
function showNotice(text) {
  ui.notice.textContent = text;
}

/** Run an event's work, showing any failure in words. */
function run(work) {
  work().catch(showError);
}

// --- The HTTP API -------------------------------------------------------------------------------

/** A call under `/v1/users/{user id}` as the signed-in person (api.js). */
const api = (path, options) => call(state, path, options);

// --- Rendering ----------------------------------------------------------------------------------

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// The service cuts a chat's title (its first message) to this many characters.
const TITLE_LENGTH = 80;

function titleOf(chat) {
  if (!chat.title) return "Untitled chat";
  return chat.title.length >= TITLE_LENGTH ? `${chat.title}…` : chat.title;
}

/** The service's exact decimal string, shown as it is: parsing it as a number would round it. */
function costWords(cost) {
  return cost == null ? "" : ` · $${cost}`;
}

function usageWords(usage) {
  const words = `${usage.prompt_tokens} prompt + ${usage.completion_tokens} completion tokens`;
  return usage.estimated ? `${words} (estimated)` : words;
}

/** The model that wrote a reply; marked when it is not the chat's own (a fallback answered). */
function modelLabel(model) {
  const label = element("span", "model", model);
  const own = state.chat?.model;
  if (own && model !== own) {
    label.classList.add("fallback");
    label.title = `${own} failed before its first word; ${model}, a fallback, answered`;
  }
  return label;
}

function messageItem(message, actions = null) {
  const item = element("li", `msg ${message.role}`);
  if (message.id) item.dataset.messageId = message.id;
  const meta = element("div", "meta");
  meta.append(element("span", "role", ROLE_NAMES[message.role] ?? message.role));
  if (message.superseded) {
    item.classList.add("superseded");
    item.title = "Replaced by a newer version: kept in the history, never sent to the model again";
    meta.append(element("span", "badge", "superseded"));
  }
  if (message.erased) {
    item.classList.add("erased");
    item.title = "Erased to fit the context window: the model no longer sees this message";
    meta.append(element("span", "badge", "out of context"));
  }
  if (typeof message.tokens === "number") {
    meta.append(element("span", "tokens", `${message.tokens} tokens`));
  }
  if (message.model) meta.append(modelLabel(message.model));
  if (message.usage) meta.append(element("span", "reply-usage", `reply: ${usageWords(message.usage)}${costWords(message.cost)}`));
  if (message.finish_reason === "length") {
    meta.append(element("span", "cut", "cut at the reply's token limit"));
  }
  // A reply is Markdown, rendered through the sanitizer; what a person or an operator wrote is
  // shown exactly as written.
  const text = element("div", "text");
  if (message.role === "assistant") {
    text.classList.add("markdown");
    showMarkdown(text, message.content);
  } else {
    text.textContent = message.content;
  }
  item.append(meta, text);
  if (actions) item.append(actionButtons(message, actions));
  return item;
}

/** The buttons of a message's actions (control.js says which it offers). */
function actionButtons(message, actions) {
  const bar = element("div", "actions");
  const add = (name, title, work) => {
    const button = element("button", "action", name);
    button.type = "button";
    button.title = title;
    button.addEventListener("click", () => run(work));
    bar.append(button);
  };
  if (actions.regenerate) add("Regenerate", "Write this reply again", regenerate);
  if (actions.edit) {
    add("Edit", "Change this message; it and its reply are replaced", async () => startEditing(message));
  }
  if (actions.fork) add("Fork", "A new chat that carries on from this message", () => fork(message));
  return bar;
}

/** Superseded versions, folded under the current message that replaced them. */
function versionsBlock(earlier) {
  const versions = element("details", "versions");
  const count = earlier.length;
  versions.append(
    element("summary", "", `${count} earlier version${count === 1 ? "" : "s"}`),
    element("ol"),
  );
  versions.querySelector("ol").append(...earlier.map((message) => messageItem(message)));
  return versions;
}

/** The chat's summary of its erased messages: what the model still reads of them, in their
 * place, right after the system message. */
function summaryItem(summary) {
  const item = element("li", "msg summary");
  item.title = "The model reads this summary in place of the erased messages below it";
  const meta = element("div", "meta");
  meta.append(
    element("span", "role", "Summary"),
    element("span", "badge", `of messages 1–${summary.covers_through_position}`),
    element("span", "tokens", `${summary.tokens} tokens`),
  );
  // Written by the model, but shown as plain text: a summary is a note, not a reply.
  item.append(meta, element("div", "text", summary.content));
  return item;
}

/**
 * The conversation's items: its current messages with their actions and, folded under each, the
 * versions it superseded; its summary above the erased ones.
 */
function conversationItems(chat) {
  const laidOut = layOut(chat?.messages ?? []);
  const actions = state.connected ? actionsOf(chat) : new Map();
  const items = laidOut.map(({ message, earlier }) => {
    const item = messageItem(message, actions.get(message.id));
    if (earlier.length > 0) item.append(versionsBlock(earlier));
    return item;
  });
  if (chat?.summary) {
    const firstErased = laidOut.findIndex(({ message }) => message.erased);
    items.splice(firstErased < 0 ? 1 : firstErased, 0, summaryItem(chat.summary));
  }
  return items;
}

/** A reply's text as it streams in: drawn again at most once a frame, however many deltas come. */
class LiveReply {
  constructor(item, content = "") {
    this.target = item.querySelector(".text");
    this.content = content;
    this.frame = 0;
    // Called after each drawing (the page keeps what it drew, for a reload).
    this.onDraw = () => {};
    if (content) this.draw();
  }

  append(delta) {
    this.content += delta;
    this.frame ||= requestAnimationFrame(() => this.draw());
  }

  /** Draw now what has come (a frame may never come: the tab is in the background). */
  flush() {
    if (this.frame) this.draw();
  }

  draw() {
    cancelAnimationFrame(this.frame);
    this.frame = 0;
    // Follow the reply down only if the reader was at the end; otherwise leave them where they
    // read (only the reply below them changes).
    const follow = atEnd();
    showMarkdown(this.target, this.content);
    if (follow) scrollToEnd();
    this.onDraw();
  }
}

function placeholder(text) {
  return element("li", "empty", text);
}

// On a wide screen the conversation scrolls in its own box; on a phone the whole page does.
function scrollToEnd() {
  ui.messages.scrollTop = ui.messages.scrollHeight;
  document.scrollingElement.scrollTop = document.scrollingElement.scrollHeight;
}

/** Whether the reader is at the end of the conversation (so a streaming reply may follow on). */
function atEnd() {
  const slack = (box) => box.scrollHeight - box.scrollTop - box.clientHeight;
  return slack(ui.messages) < 80 && slack(document.scrollingElement) < 80;
}

function renderChat() {
  const chat = state.chat;
  ui.title.textContent = chat ? titleOf(chat) : "New chat";
  ui.usage.textContent = chat
    ? `Chat total: ${usageWords(chat.usage)}${costWords(chat.cost)}${chat.status === "ended" ? " · ended" : ""}`
    : "";
  showWindow(ui.gauge, chat?.window ?? null);
  if (state.editing && state.editing.chatId !== chat?.id) stopEditing();
  const items = conversationItems(chat);
  if (!state.connected) items.push(placeholder("Enter your token and user id to start."));
  else if (!items.some((item) => !item.classList.contains("system"))) {
    items.push(placeholder("Write a message below to start the conversation."));
  }
  ui.messages.replaceChildren(...items);
  scrollToEnd();
  updateControls();
}

function renderChatList() {
  const items = state.chats.map((chat) => {
    const button = element("button", "", titleOf(chat));
    button.type = "button";
    button.title = chat.title;
    button.dataset.chatId = chat.id;
    if (chat.status === "ended") button.append(element("span", "ended", " (ended)"));
    if (state.chat?.id === chat.id) button.setAttribute("aria-current", "true");
    button.addEventListener("click", () => run(() => openChat(chat.id)));
    const item = element("li");
    item.append(button);
    return item;
  });
  ui.chatList.replaceChildren(...items);
  ui.moreChats.hidden = !state.nextCursor;
}

/** On a narrow screen the list of chats folds away under its "Chats" button. */
function showChatList(open) {
  ui.sidebar.classList.toggle("open", open);
  ui.toggleChats.setAttribute("aria-expanded", String(open));
}

function updateControls() {
  const ended = state.chat?.status === "ended";
  ui.newChat.disabled = !state.connected;
  ui.message.disabled = !state.connected || ended;
  ui.send.disabled = !state.connected || ended || state.turn !== null;
  ui.stop.hidden = state.turn === null;
  for (const button of ui.messages.querySelectorAll(".actions button")) {
    button.disabled = !state.connected || state.turn !== null;
  }
  ui.editing.hidden = state.editing === null;
  ui.message.placeholder = ended ? "This chat has ended. Start a new chat to go on." : "Write a message…";
}

function showIdentity() {
  ui.identity.hidden = state.connected;
  ui.whoami.hidden = !state.connected;
  ui.whoamiUser.textContent = state.userId;
  ui.token.value = state.token;
  ui.userId.value = state.userId;
  updateControls();
}

// --- What the person does -----------------------------------------------------------------------

async function loadChats({ more = false } = {}) {
  const cursor = more && state.nextCursor ? `&cursor=${encodeURIComponent(state.nextCursor)}` : "";
  const page = await (await api(`/chats?limit=${PAGE_SIZE}${cursor}`)).json();
  const known = more ? state.chats : [];
  const seen = new Set(known.map((chat) => chat.id));
  state.chats = known.concat(page.items.filter((chat) => !seen.has(chat.id)));
  state.nextCursor = page.next_cursor;
  renderChatList();
}

async function connect(token, userId) {
  state.token = token;
  state.userId = userId;
  state.chat = null;
  await loadChats();
  state.connected = true;
  sessionStorage.setItem(STORED.token, token);
  sessionStorage.setItem(STORED.userId, userId);
  showIdentity();
  renderChat();
  const pending = storedTurn();
  if (pending?.userId === userId && state.turn === null) await resumeTurn(pending);
}

function signOut() {
  // The reply goes on in the service; the page only stops following it.
  state.turn?.abort(LEAVING);
  forgetTurn();
  sessionStorage.removeItem(STORED.token);
  sessionStorage.removeItem(STORED.userId);
  Object.assign(state, { token: "", userId: "", connected: false, chats: [], chat: null });
  state.nextCursor = null;
  clearError();
  showIdentity();
  renderChatList();
  renderChat();
  ui.token.focus();
}

async function openChat(chatId) {
  showChatList(false);
  const sequence = ++state.openSequence;
  const chat = await (await api(`/chats/${encodeURIComponent(chatId)}`)).json();
  if (sequence !== state.openSequence) return;
  state.chat = chat;
  renderChat();
  renderChatList();
}

function startNewChat() {
  showChatList(false);
  state.openSequence += 1;
  state.chat = null;
  clearError();
  renderChat();
  renderChatList();
  ui.message.focus();
}

// --- Turns -------------------------------------------------------------------------------------
// Every reply is a background turn: the service writes it whether or not the page is there, and
// the page follows its events. The running turn is kept in `sessionStorage` with the events it
// has drawn, so that after a reload (or a dropped connection) the page asks for the events after
// the last one it had (`Last-Event-ID`) and the reply goes on where it was.

/** A new idempotency key for a turn (crypto.randomUUID needs a secure context). */
function newRequestId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function rememberTurn(turn) {
  try {
    sessionStorage.setItem(STORED.turn, JSON.stringify(turn));
  } catch {
    // Storage full or off: the reply still streams, only a reload would not resume it.
  }
}

function forgetTurn() {
  state.saveTurn = null;
  sessionStorage.removeItem(STORED.turn);
}

function storedTurn() {
  try {
    return JSON.parse(sessionStorage.getItem(STORED.turn) ?? "null");
  } catch {
    return null;
  }
}

const turnPath = (turn) =>
  `/chats/${encodeURIComponent(turn.chatId)}/turns/${encodeURIComponent(turn.requestId)}`;

// A chat stays busy for a moment after its reply was stopped, until the service has cancelled
// the turn; a message sent meanwhile is answered 409. It is sent again as soon as the chat is
// free, for this long at most (then the 409 is shown).
const STOPPED_TURN_WAIT_MS = 20_000;
// A dropped event stream is opened again this many times in a row before the page gives up.
const RECONNECTS = 5;
// Why the page stops following a turn it does not mean to cancel (the person signs out).
const LEAVING = "leaving";

/**
 * Start a background turn (`POST path` with `body`, its idempotency key `turn.requestId`); resolves
 * once the service has it under way. Right after a reply of this chat was stopped, a 409
 * `turn_in_progress` means the service is still cancelling it: ask again until it is free.
 * `signal` stops the waiting, never a request in flight: the service may have the turn already.
 */
async function startTurn(turn, path, body, signal) {
  const request = { method: "POST", body, headers: { "Idempotency-Key": turn.requestId } };
  let since = null;
  for (let wait = 50; ; wait = Math.min(wait * 2, 1000)) {
    try {
      const response = await api(path, request);
      state.stopped.delete(turn.chatId);
      return response.json();
    } catch (error) {
      const busy = error instanceof ApiError && error.code === "turn_in_progress";
      since ??= performance.now();
      const waited = performance.now() - since;
      if (!busy || !state.stopped.has(turn.chatId) || waited > STOPPED_TURN_WAIT_MS) {
        state.stopped.delete(turn.chatId);
        throw error;
      }
      showNotice("The stopped reply is still being cancelled: sending as soon as the chat is free…");
      await pause(wait, signal);
    }
  }
}

/**
 * Follow the events of `turn` after the last one it had, drawing its reply into `item`, and
 * resolve to the `done` event's `{message, usage}`. A dropped connection is opened again from the
 * last event drawn. `signal` stops the following (`StoppedError`).
 */
async function followTurn(turn, item, signal) {
  const reply = new LiveReply(item, turn.text);
  state.saveTurn = () => rememberTurn({ ...turn, text: reply.content });
  reply.onDraw = state.saveTurn;
  let drops = 0;
  try {
    while (true) {
      try {
        const response = await api(`${turnPath(turn)}/events`, {
          accept: "text/event-stream",
          signal,
          headers: { "Last-Event-ID": String(turn.lastId) },
        });
        for await (const event of readEvents(response.body)) {
          drops = 0;
          showNotice("");
          if (event.type === "delta") {
            reply.append(event.data.text);
            turn.lastId = event.id;
          } else if (event.type === "done") {
            return event.data;
          } else if (event.type === "error") {
            throw new StreamError(event.data.code, event.data.message);
          }
        }
      } catch (error) {
        if (!(error instanceof NetworkError)) throw error;
      }
      // The stream ended before the turn did: the connection dropped. Pick it up again.
      if (++drops > RECONNECTS) {
        throw new StreamError("stream_cut", "The connection kept closing before the reply was complete.");
      }
      reply.flush();
      showNotice("The connection dropped: picking the reply up where it was…");
      await pause(Math.min(250 * 2 ** drops, 4000), signal);
    }
  } finally {
    reply.flush();
  }
}

/** Ask the service to stop `turn`; one that already ended (or never started) needs nothing. */
async function cancelOnService(turn) {
  try {
    await api(`${turnPath(turn)}/cancel`, { method: "POST" });
  } catch (error) {
    if (!(error instanceof ApiError && [404, 409].includes(error.status))) throw error;
  }
}

/** Mark a stopped exchange on the page: shown until the next message, never stored. */
function markStopped(question, reply) {
  for (const [item, words] of [
    [question, "not stored"],
    [reply, "stopped · not stored"],
  ]) {
    if (item === null) continue; // a regenerate brings no question of its own
    item.classList.add("stopped");
    item.title = "Stopped before the reply was complete: the service stored nothing of it";
    item.querySelector(".meta").append(element("span", "badge", words));
  }
}

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

async function send() {
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
async function regenerate() {
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
function startEditing(message) {
  if (state.turn !== null || !state.chat) return;
  clearError();
  state.editing = { chatId: state.chat.id, messageId: message.id };
  ui.message.value = message.content;
  updateControls();
  ui.message.focus();
}

function stopEditing() {
  state.editing = null;
  ui.editing.hidden = true;
}

/** A new chat carrying on from `message` (copies of the chat up to it), opened at once. */
async function fork(message) {
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
async function resumeTurn(pending) {
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
function stop() {
  state.turn?.abort();
  ui.message.focus();
}

ui.identity.addEventListener("submit", (event) => {
  event.preventDefault();
  clearError();
  run(() => connect(ui.token.value.trim(), ui.userId.value.trim()));
});
ui.signOut.addEventListener("click", signOut);
ui.newChat.addEventListener("click", startNewChat);
ui.toggleChats.addEventListener("click", () => showChatList(!ui.sidebar.classList.contains("open")));
ui.moreChats.addEventListener("click", () => run(() => loadChats({ more: true })));
ui.errorDismiss.addEventListener("click", clearError);
ui.composer.addEventListener("submit", (event) => {
  event.preventDefault();
  run(send);
});
ui.stop.addEventListener("click", stop);
ui.cancelEdit.addEventListener("click", () => {
  stopEditing();
  ui.message.value = "";
  updateControls();
});
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  if (state.turn !== null) stop();
  else if (state.editing !== null) ui.cancelEdit.click();
});
ui.message.addEventListener("keydown", (event) => {
  // Enter sends; Shift+Enter is a new line; Enter that confirms an input method's text is not.
  if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
  if (event.altKey || event.ctrlKey || event.metaKey) return;
  event.preventDefault();
  run(send);
});
window.addEventListener("unhandledrejection", (event) => showError(event.reason));
// A reload may come before the next frame would have saved the latest deltas.
window.addEventListener("pagehide", () => state.saveTurn?.());

state.token = sessionStorage.getItem(STORED.token) ?? "";
state.userId = sessionStorage.getItem(STORED.userId) ?? "";
showIdentity();
renderChat();
if (state.token && state.userId) run(() => connect(state.token, state.userId));
else ui.token.focus();
