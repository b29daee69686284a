// What the web chat page says when something fails, in words for a person (the alert above the
// input box), and in passing what it is doing (the notice under it).

import { ApiError, NetworkError, StreamError } from "./api.js";
import { STORED, showIdentity, state, ui } from "./page.js";

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

export function showError(error) {
  ui.errorText.textContent = describe(error);
  ui.error.hidden = false;
  if (error instanceof ApiError && error.status === 401) {
    // A refused token is not kept for the next visit; the form asks for another.
    sessionStorage.removeItem(STORED.token);
    state.connected = false;
    showIdentity();
  }
}

export function clearError() {
  ui.error.hidden = true;
  ui.errorText.textContent = "";
}

/** A passing word on what the page is doing (it is not an error). */
export function showNotice(text) {
  ui.notice.textContent = text;
}

/** Run an event's work, showing any failure in words. */
export function run(work) {
  work().catch(showError);
}
