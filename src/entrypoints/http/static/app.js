// The web chat page (docs/api.md), on the /v1 HTTP API. Plain modern JavaScript, no build step.
//
// Every text that comes from a person or the service goes into the page with `textContent` or as
// a Text node, never as HTML: a message holding `<script>` is shown, not run.

const PAGE_SIZE = 50;
const STORED = { token: "chatservice.token", userId: "chatservice.userId" };
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
  messages: byId("messages"),
  error: byId("error"),
  errorText: byId("error-text"),
  errorDismiss: byId("error-dismiss"),
  composer: byId("composer"),
  message: byId("message"),
  send: byId("send"),
};

const state = {
  token: "",
  userId: "",
  connected: false,
  chats: [],
  nextCursor: null,
  // The selected chat as `GET …/chats/{id}` returns it; null before its first message.
  chat: null,
  streaming: false,
  // Which `openChat` call may still render: a slow answer for a chat left since is dropped.
  openSequence: 0,
};

/** The service answered with an error status; its `{"error": {code, message}}` body. */
class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The request never got an answer: the service is down, or the network is. */
class NetworkError extends Error {}

/** The reply failed after it started streaming (`event: error`, or a cut connection). */
class StreamError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

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
  concurrent_update: "The chat changed while this reply was written: send again",
  chat_ended: "This chat has ended: start a new chat to go on",
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

/** Run an event's work, showing any failure in words. */
function run(work) {
  work().catch(showError);
}

// --- The HTTP API -------------------------------------------------------------------------------

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not our JSON (a proxy's page, say): the status speaks for itself.
  }
  const detail = body?.error;
  return new ApiError(
    response.status,
    detail?.code ?? "",
    detail?.message ?? (response.statusText || "no details given"),
  );
}

/** A call under `/v1/users/{user id}`; an error status or no answer at all throws. */
async function call(path, { method = "GET", body, accept = "application/json" } = {}) {
  let headers;
  try {
    headers = new Headers({ Authorization: `Bearer ${state.token}`, Accept: accept });
  } catch {
    throw new ApiError(401, "unauthenticated", "the token holds characters a header cannot carry");
  }
  if (body !== undefined) headers.set("Content-Type", "application/json");
  let response;
  try {
    response = await fetch(`/v1/users/${encodeURIComponent(state.userId)}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (error) {
    throw new NetworkError(error?.message || "network error");
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

/** Server-Sent Events as they arrive: `{type, data}`, `: ping` comments skipped. */
async function* readEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let type = "message";
  let data = [];
  try {
    while (true) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (error) {
        throw new NetworkError(error?.message || "the connection broke");
      }
      if (chunk.done) return;
      buffer += chunk.value;
      // A trailing "\r" may be the first half of "\r\n": keep it for the next chunk.
      const end = buffer.endsWith("\r") ? buffer.length - 1 : buffer.length;
      const lines = buffer.slice(0, end).split(/\r\n|\r|\n/);
      buffer = lines.pop() + buffer.slice(end);
      for (const line of lines) {
        if (line === "") {
          if (data.length > 0) yield { type, data: JSON.parse(data.join("\n")) };
          type = "message";
          data = [];
        } else if (!line.startsWith(":")) {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") type = value;
          else if (field === "data") data.push(value);
        }
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

// --- Rendering (text only) ----------------------------------------------------------------------

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

function usageWords(usage) {
  const words = `${usage.prompt_tokens} prompt + ${usage.completion_tokens} completion tokens`;
  return usage.estimated ? `${words} (estimated)` : words;
}

function messageItem(message) {
  const item = element("li", `msg ${message.role}`);
  const meta = element("div", "meta");
  meta.append(element("span", "role", ROLE_NAMES[message.role] ?? message.role));
  if (message.erased) {
    item.classList.add("erased");
    item.title = "Erased to fit the context window: the model no longer sees this message";
    meta.append(element("span", "badge", "out of context"));
  }
  if (typeof message.tokens === "number") {
    meta.append(element("span", "tokens", `${message.tokens} tokens`));
  }
  if (message.usage) meta.append(element("span", "reply-usage", `reply: ${usageWords(message.usage)}`));
  if (message.finish_reason === "length") {
    meta.append(element("span", "cut", "cut at the reply's token limit"));
  }
  item.append(meta, element("div", "text", message.content));
  return item;
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
    ? `Chat total: ${usageWords(chat.usage)}${chat.status === "ended" ? " · ended" : ""}`
    : "";
  const items = (chat?.messages ?? []).map(messageItem);
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

function updateControls() {
  const ended = state.chat?.status === "ended";
  ui.newChat.disabled = !state.connected;
  ui.message.disabled = !state.connected || ended;
  ui.send.disabled = !state.connected || ended || state.streaming;
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
  const page = await (await call(`/chats?limit=${PAGE_SIZE}${cursor}`)).json();
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
}

function signOut() {
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
  const sequence = ++state.openSequence;
  const chat = await (await call(`/chats/${encodeURIComponent(chatId)}`)).json();
  if (sequence !== state.openSequence) return;
  state.chat = chat;
  renderChat();
  renderChatList();
}

function startNewChat() {
  state.openSequence += 1;
  state.chat = null;
  clearError();
  renderChat();
  renderChatList();
  ui.message.focus();
}

/** Stream the reply into `item`; resolves to the `done` event's `{message, usage}`. */
async function streamReply(chatId, content, item) {
  const response = await call(`/chats/${encodeURIComponent(chatId)}/messages`, {
    method: "POST",
    body: { content },
    accept: "text/event-stream",
  });
  if (!(response.headers.get("Content-Type") ?? "").startsWith("text/event-stream")) {
    return response.json();
  }
  const text = item.querySelector(".text");
  for await (const event of readEvents(response.body)) {
    if (event.type === "delta") {
      const follow = atEnd();
      text.append(event.data.text);
      if (follow) scrollToEnd();
    } else if (event.type === "done") {
      return event.data;
    } else if (event.type === "error") {
      throw new StreamError(event.data.code, event.data.message);
    }
  }
  throw new StreamError("stream_cut", "The connection closed before the reply was complete.");
}

async function send() {
  const content = ui.message.value;
  if (state.streaming || !state.connected || content.trim() === "") return;
  clearError();
  state.streaming = true;
  updateControls();
  ui.message.value = "";
  const question = messageItem({ role: "user", content });
  const reply = messageItem({ role: "assistant", content: "" });
  reply.classList.add("streaming");
  reply.setAttribute("aria-busy", "true");
  let chatId = state.chat?.id;
  let stored = false;
  try {
    if (!chatId) {
      state.chat = await (await call("/chats", { method: "POST", body: {} })).json();
      chatId = state.chat.id;
      renderChat();
    }
    ui.messages.querySelector(".empty")?.remove();
    ui.messages.append(question, reply);
    scrollToEnd();
    const turn = await streamReply(chatId, content, reply);
    stored = true;
    reply.replaceWith(messageItem({ ...turn.message, usage: turn.usage }));
    // The stored chat says what was erased to make room, and the new totals.
    if (state.chat?.id === chatId) await openChat(chatId);
    await loadChats();
  } catch (error) {
    if (!stored) {
      // Nothing of a failed turn is stored: take its messages off the page, give the draft back.
      question.remove();
      reply.remove();
      if (ui.message.value === "") ui.message.value = content;
      // A chat made for this message stays (empty): list it. The turn's error is the one shown.
      if (chatId && state.chats.every((chat) => chat.id !== chatId)) loadChats().catch(() => {});
    }
    throw error;
  } finally {
    state.streaming = false;
    updateControls();
  }
}

ui.identity.addEventListener("submit", (event) => {
  event.preventDefault();
  clearError();
  run(() => connect(ui.token.value.trim(), ui.userId.value.trim()));
});
ui.signOut.addEventListener("click", signOut);
ui.newChat.addEventListener("click", startNewChat);
ui.moreChats.addEventListener("click", () => run(() => loadChats({ more: true })));
ui.errorDismiss.addEventListener("click", clearError);
ui.composer.addEventListener("submit", (event) => {
  event.preventDefault();
  run(send);
});
ui.message.addEventListener("keydown", (event) => {
  // Enter sends; Shift+Enter is a new line; Enter that confirms an input method's text is not.
  if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
  if (event.altKey || event.ctrlKey || event.metaKey) return;
  event.preventDefault();
  run(send);
});
window.addEventListener("unhandledrejection", (event) => showError(event.reason));

state.token = sessionStorage.getItem(STORED.token) ?? "";
state.userId = sessionStorage.getItem(STORED.userId) ?? "";
showIdentity();
renderChat();
if (state.token && state.userId) run(() => connect(state.token, state.userId));
else ui.token.focus();
