// The person's chats in the web chat page's sidebar, newest first, a page at a time: opening one,
// or starting a new one.

import { clearError, run } from "./errors.js";
import { api, element, state, ui } from "./page.js";
import { renderChat, titleOf } from "./transcript.js";

const PAGE_SIZE = 50;

export function renderChatList() {
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
export function showChatList(open) {
  ui.sidebar.classList.toggle("open", open);
  ui.toggleChats.setAttribute("aria-expanded", String(open));
}

export async function loadChats({ more = false } = {}) {
  const cursor = more && state.nextCursor ? `&cursor=${encodeURIComponent(state.nextCursor)}` : "";
  const page = await (await api(`/chats?limit=${PAGE_SIZE}${cursor}`)).json();
  const known = more ? state.chats : [];
  const seen = new Set(known.map((chat) => chat.id));
  state.chats = known.concat(page.items.filter((chat) => !seen.has(chat.id)));
  state.nextCursor = page.next_cursor;
  renderChatList();
}

export async function openChat(chatId) {
  showChatList(false);
  const sequence = ++state.openSequence;
  const chat = await (await api(`/chats/${encodeURIComponent(chatId)}`)).json();
  if (sequence !== state.openSequence) return;
  state.chat = chat;
  renderChat();
  renderChatList();
}

export function startNewChat() {
  showChatList(false);
  state.openSequence += 1;
  state.chat = null;
  clearError();
  renderChat();
  renderChatList();
  ui.message.focus();
}
