/**
 * Live events from `GET /api/events` (Server-Sent Events). Read with fetch streaming rather than
 * EventSource because the stream needs the bearer token in a header, which EventSource cannot
 * send; the parsing follows the WHATWG event-stream rules (fields, multi-line data, comments).
 */

export interface ServerEvent {
  id: string | undefined;
  type: string;
  data: string;
}

/** The events of a `text/event-stream` body, as they complete. A block with an `id:` and no data
 * (the gateway opens every stream with one: the position to resume from) comes out with type ""
 * so the caller can remember the id; browsers' EventSource does the same with its lastEventId. */
export async function* readEventStream(
  body: ReadableStream<Uint8Array>,
  onRetry?: (ms: number) => void,
): AsyncGenerator<ServerEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let event: { type: string; data: string[]; id: string | undefined } = { type: "", data: [], id: undefined };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      // A line ends at CRLF, LF or CR; a lone CR at the end may still become a CRLF.
      const lines = buffer.split(/\r\n|\n|\r(?!$)/);
      buffer = lines.pop() ?? "";
      for (const line of lines) {
        if (line === "") {
          if (event.data.length > 0) yield { id: event.id, type: event.type || "message", data: event.data.join("\n") };
          else if (event.id !== undefined) yield { id: event.id, type: "", data: "" };
          event = { type: "", data: [], id: undefined };
          continue;
        }
        if (line.startsWith(":")) continue; // a comment: keep-alive
        const colon = line.indexOf(":");
        const field = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "event") event.type = value;
        else if (field === "data") event.data.push(value);
        else if (field === "id" && !value.includes("\0")) event.id = value;
        else if (field === "retry" && /^\d+$/.test(value)) onRetry?.(Number(value));
      }
    }
  } finally {
    reader.releaseLock();
  }
}

export interface SubscribeOptions {
  /** fetch that adds the bearer token (and refreshes it on a 401): Session.fetch. */
  fetch: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;
  onEvent: (event: ServerEvent) => void;
  onStatus?: (status: "connecting" | "open" | "closed") => void;
  /** The server could not resume (it did not send that id): what happened meanwhile is unknown. */
  onGap?: () => void;
  signal: AbortSignal;
  url?: string;
  /** Waits between reconnects: doubles from `minDelayMs` up to `maxDelayMs`. */
  minDelayMs?: number;
  maxDelayMs?: number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/**
 * Keeps a stream open until `signal` aborts: reconnects after a drop or a server's close (backing
 * off, as `retry:` says), resuming with `Last-Event-ID` so nothing that happened meanwhile is lost
 * where the server still holds it. A 422 for that id (another server, one restarted) starts over
 * without it and reports the gap. Gives up on any other 4xx but 429 (signed out, no such
 * endpoint): retrying cannot help.
 */
export async function subscribeEvents(options: SubscribeOptions): Promise<void> {
  const { signal, url = "/api/events", minDelayMs = 1000, maxDelayMs = 30_000, sleep = abortableSleep } = options;
  let lastEventId: string | undefined;
  let delay = minDelayMs;
  while (!signal.aborted) {
    options.onStatus?.("connecting");
    try {
      const headers: Record<string, string> = { Accept: "text/event-stream" };
      if (lastEventId !== undefined) headers["Last-Event-ID"] = lastEventId;
      const response = await options.fetch(url, { headers, signal, cache: "no-store" });
      if (response.status === 422 && lastEventId !== undefined) {
        lastEventId = undefined;
        options.onGap?.();
        continue;
      }
      if (!response.ok || !response.body) {
        if (response.status >= 400 && response.status < 500 && response.status !== 429) break;
        throw new Error(`events: ${response.status}`);
      }
      options.onStatus?.("open");
      delay = minDelayMs;
      for await (const event of readEventStream(response.body, (ms) => (delay = ms))) {
        if (event.id !== undefined) lastEventId = event.id;
        if (event.type) options.onEvent(event);
      }
    } catch (error) {
      if (signal.aborted) break;
      if (error instanceof Error && error.name === "NotSignedIn") break;
    }
    if (signal.aborted) break;
    options.onStatus?.("connecting");
    await sleep(delay, signal);
    delay = Math.min(delay * 2, maxDelayMs);
  }
  options.onStatus?.("closed");
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
