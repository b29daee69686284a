// The web chat page's side of the /v1 HTTP API (docs/api.md): calls, their errors, and the
// Server-Sent Events a streamed reply arrives in.

/** The service answered with an error status; its `{"error": {code, message}}` body. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The request never got an answer: the service is down, or the network is. */
export class NetworkError extends Error {}

/** The reply failed after it started streaming (`event: error`, or a cut connection). */
export class StreamError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** The person stopped the request (its `AbortSignal` fired): the service cancels the turn. */
export class StoppedError extends Error {
  constructor() {
    super("stopped");
  }
}

const aborted = (error) => error?.name === "AbortError";

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

/**
 * A call under `/v1/users/{user id}` with the person's token (and `headers`); an error status or
 * no answer at all throws, and so does `signal` firing (as `StoppedError`).
 */
export async function call(
  { token, userId },
  path,
  { method = "GET", body, accept = "application/json", signal, headers: more = {} } = {},
) {
  let headers;
  try {
    headers = new Headers({ ...more, Authorization: `Bearer ${token}`, Accept: accept });
  } catch {
    throw new ApiError(401, "unauthenticated", "the token holds characters a header cannot carry");
  }
  if (body !== undefined) headers.set("Content-Type", "application/json");
  let response;
  try {
    response = await fetch(`/v1/users/${encodeURIComponent(userId)}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      signal,
    });
  } catch (error) {
    if (aborted(error)) throw new StoppedError();
    throw new NetworkError(error?.message || "network error");
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

/** Wait `ms` milliseconds, or until `signal` fires (then `StoppedError`). */
export function pause(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new StoppedError());
      return;
    }
    const stop = () => {
      clearTimeout(timer);
      reject(new StoppedError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", stop);
      resolve();
    }, ms);
    signal?.addEventListener("abort", stop, { once: true });
  });
}

/** Server-Sent Events as they arrive: `{type, data, id}`, `: ping` comments skipped. */
export async function* readEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let type = "message";
  let data = [];
  let id = null;
  try {
    while (true) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (error) {
        if (aborted(error)) throw new StoppedError();
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
          if (data.length > 0) yield { type, data: JSON.parse(data.join("\n")), id };
          type = "message";
          data = [];
        } else if (!line.startsWith(":")) {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") type = value;
          else if (field === "data") data.push(value);
          else if (field === "id") id = Number(value);
        }
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}
