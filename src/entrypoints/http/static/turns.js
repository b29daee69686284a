// A turn on the service, as the web chat page runs it: started, its reply streamed in through
// Server-Sent Events, cancelled, and kept for a reload.
//
// Every reply is a background turn: the service writes it whether or not the page is there, and
// the page follows its events. The running turn is kept in `sessionStorage` with the events it
// has drawn, so that after a reload (or a dropped connection) the page asks for the events after
// the last one it had (`Last-Event-ID`) and the reply goes on where it was.

import { ApiError, NetworkError, StreamError, pause, readEvents } from "./api.js";
import { showNotice } from "./errors.js";
import { STORED, api, state } from "./page.js";
import { LiveReply } from "./transcript.js";

// A chat stays busy for a moment after its reply was stopped, until the service has cancelled
// the turn; a message sent meanwhile is answered 409. It is sent again as soon as the chat is
// free, for this long at most (then the 409 is shown).
const STOPPED_TURN_WAIT_MS = 20_000;
// A dropped event stream is opened again this many times in a row before the page gives up.
const RECONNECTS = 5;
// Why the page stops following a turn it does not mean to cancel (the person signs out).
export const LEAVING = "leaving";

/** A new idempotency key for a turn (crypto.randomUUID needs a secure context). */
export function newRequestId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function rememberTurn(turn) {
  try {
    sessionStorage.setItem(STORED.turn, JSON.stringify(turn));
  } catch {
    // Storage full or off: the reply still streams, only a reload would not resume it.
  }
}

export function forgetTurn() {
  state.saveTurn = null;
  sessionStorage.removeItem(STORED.turn);
}

export function storedTurn() {
  try {
    return JSON.parse(sessionStorage.getItem(STORED.turn) ?? "null");
  } catch {
    return null;
  }
}

const turnPath = (turn) =>
  `/chats/${encodeURIComponent(turn.chatId)}/turns/${encodeURIComponent(turn.requestId)}`;

/**
 * Start a background turn (`POST path` with `body`, its idempotency key `turn.requestId`); resolves
 * once the service has it under way. Right after a reply of this chat was stopped, a 409
 * `turn_in_progress` means the service is still cancelling it: ask again until it is free.
 * `signal` stops the waiting, never a request in flight: the service may have the turn already.
 */
export async function startTurn(turn, path, body, signal) {
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
export async function followTurn(turn, item, signal) {
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
export async function cancelOnService(turn) {
  try {
    await api(`${turnPath(turn)}/cancel`, { method: "POST" });
  } catch (error) {
    if (!(error instanceof ApiError && [404, 409].includes(error.status))) throw error;
  }
}
