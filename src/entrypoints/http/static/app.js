// The web chat page (docs/api.md), on the /v1 HTTP API. Plain modern JavaScript, no build step.
//
// This module signs the person in and out, and wires the page's controls to what they do:
// page.js holds the page's elements and state, transcript.js draws the selected chat, chats.js
// lists the person's chats, composer.js sends and stops (turns.js runs the turn on the service),
// errors.js says what failed.

import { loadChats, renderChatList, showChatList, startNewChat } from "./chats.js";
import { fork, regenerate, resumeTurn, send, startEditing, stop } from "./composer.js";
import { clearError, run, showError } from "./errors.js";
import { STORED, showIdentity, state, stopEditing, ui, updateControls } from "./page.js";
import { MESSAGE_ACTION, renderChat } from "./transcript.js";
import { LEAVING, forgetTurn, storedTurn } from "./turns.js";

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

/** What each of a message's action buttons does (transcript.js sends `MESSAGE_ACTION`). */
const MESSAGE_ACTIONS = {
  regenerate: () => regenerate(),
  edit: async (message) => startEditing(message),
  fork: (message) => fork(message),
};

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
ui.messages.addEventListener(MESSAGE_ACTION, (event) => {
  const { action, message } = event.detail;
  run(() => MESSAGE_ACTIONS[action](message));
});
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
