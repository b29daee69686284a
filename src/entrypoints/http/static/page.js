// What the web chat page's modules share: its elements, what it holds (the person, their chats,
// the running turn), the call to the API as that person, and which controls that state leaves on.

import { call } from "./api.js";

export const STORED = {
  token: "chatservice.token",
  userId: "chatservice.userId",
  // The reply being written, so that a reload resumes it where it was (composer.js, `resumeTurn`).
  turn: "chatservice.turn",
};

const byId = (id) => document.getElementById(id);
export const ui = {
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

export const state = {
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

/** A call under `/v1/users/{user id}` as the signed-in person (api.js). */
export const api = (path, options) => call(state, path, options);

export function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function updateControls() {
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

export function showIdentity() {
  ui.identity.hidden = state.connected;
  ui.whoami.hidden = !state.connected;
  ui.whoamiUser.textContent = state.userId;
  ui.token.value = state.token;
  ui.userId.value = state.userId;
  updateControls();
}

export function stopEditing() {
  state.editing = null;
  ui.editing.hidden = true;
}
