// The selected chat on the web chat page: its title and totals, and its conversation as items of
// the message log, a reply being written included.
//
// Every text that comes from a person or the service goes into the page with `textContent` or as
// a Text node, never as HTML: a message holding `<script>` is shown, not run. The one exception is
// a reply's Markdown, which markdown.js renders through a sanitizer.

import { actionsOf, layOut, showWindow } from "./control.js";
import { showMarkdown } from "./markdown.js";
import { element, state, stopEditing, ui, updateControls } from "./page.js";

const ROLE_NAMES = { system: "System", user: "You", assistant: "Assistant" };

/**
 * The event a message's action button sends up the page, `detail` being `{action, message}` with
 * `action` one of `regenerate`, `edit`, `fork`: the transcript shows the buttons, app.js has
 * composer.js do what they ask.
 */
export const MESSAGE_ACTION = "message-action";

// The service cuts a chat's title (its first message) to this many characters.
const TITLE_LENGTH = 80;

export function titleOf(chat) {
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

export function messageItem(message, actions = null) {
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
  const add = (name, title, action) => {
    const button = element("button", "action", name);
    button.type = "button";
    button.title = title;
    button.addEventListener("click", () => {
      const detail = { action, message };
      button.dispatchEvent(new CustomEvent(MESSAGE_ACTION, { bubbles: true, detail }));
    });
    bar.append(button);
  };
  if (actions.regenerate) add("Regenerate", "Write this reply again", "regenerate");
  if (actions.edit) add("Edit", "Change this message; it and its reply are replaced", "edit");
  if (actions.fork) add("Fork", "A new chat that carries on from this message", "fork");
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
export class LiveReply {
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

/** Mark a stopped exchange on the page: shown until the next message, never stored. */
export function markStopped(question, reply) {
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

function placeholder(text) {
  return element("li", "empty", text);
}

// On a wide screen the conversation scrolls in its own box; on a phone the whole page does.
export function scrollToEnd() {
  ui.messages.scrollTop = ui.messages.scrollHeight;
  document.scrollingElement.scrollTop = document.scrollingElement.scrollHeight;
}

/** Whether the reader is at the end of the conversation (so a streaming reply may follow on). */
function atEnd() {
  const slack = (box) => box.scrollHeight - box.scrollTop - box.clientHeight;
  return slack(ui.messages) < 80 && slack(document.scrollingElement) < 80;
}

export function renderChat() {
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
