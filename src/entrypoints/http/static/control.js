// Conversation control on the web chat page: which message offers which action (Regenerate,
// Edit, Fork), superseded versions folded under the current one, and the context gauge.

/**
 * The chat's messages as the page lays them out: each current message with the superseded
 * versions just before it (a regenerated reply's earlier replies, an edited question's earlier
 * question and reply), to be folded under it.
 */
export function layOut(messages) {
  const laidOut = [];
  let earlier = [];
  for (const message of messages) {
    if (message.superseded) {
      earlier.push(message);
    } else {
      laidOut.push({ message, earlier });
      earlier = [];
    }
  }
  // Versions after the last current message (never stored so, but shown all the same).
  if (earlier.length > 0 && laidOut.length > 0) laidOut.at(-1).earlier.push(...earlier);
  return laidOut;
}

/**
 * What each message offers, by id: the chat's last reply Regenerate, its last question Edit,
 * and every message the model still sees (not the system message) Fork.
 */
export function actionsOf(chat) {
  const actions = new Map();
  const current = (chat?.messages ?? []).filter((m) => !m.superseded && !m.erased);
  const active = chat?.status !== "ended";
  const last = current.at(-1);
  const lastQuestion = current.findLast((m) => m.role === "user");
  for (const message of current) {
    if (message.role === "system") continue;
    actions.set(message.id, {
      regenerate: active && message === last && message.role === "assistant",
      edit: active && message === lastQuestion,
      fork: true,
    });
  }
  return actions;
}

const number = new Intl.NumberFormat("en");

/**
 * The context gauge from the chat's `window`: how much of the room for the prompt (the model's
 * input limit less the reply's reserve) the next turn's prompt already holds before its message.
 * Hidden while there is no chat or no window.
 */
export function showWindow({ box, meter, text }, window) {
  box.hidden = !window;
  if (!window) return;
  const room = Math.max(window.limit - window.reserve, 1);
  meter.max = room;
  meter.low = Math.round(room * 0.6);
  meter.high = Math.round(room * 0.85);
  meter.optimum = 0;
  meter.value = Math.min(window.used, room);
  const share = Math.round((100 * window.used) / room);
  const shown = `${number.format(window.used)} / ${number.format(room)} tokens`;
  // Past the room, the next message erases the oldest exchanges until its prompt fits.
  text.textContent = share > 100 ? `${shown} (full: the oldest exchanges go next)` : `${shown} (${share} %)`;
  box.title =
    `The next prompt holds ${number.format(window.used)} tokens before your message; ` +
    `${number.format(window.reserve)} of the model's ${number.format(window.limit)} are kept ` +
    "for the reply. When it is full, the oldest exchanges are erased to make room.";
}
