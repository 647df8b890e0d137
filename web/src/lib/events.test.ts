import { describe, expect, it, vi } from "vitest";

import { readEventStream, subscribeEvents, type ServerEvent } from "./events";

function streamOf(...chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
}

async function collect(body: ReadableStream<Uint8Array>): Promise<ServerEvent[]> {
  const events: ServerEvent[] = [];
  for await (const event of readEventStream(body)) events.push(event);
  return events;
}

describe("readEventStream", () => {
  it("reads id, type and data, and skips keep-alive comments", async () => {
    const events = await collect(streamOf(": keep-alive\n\n", 'id: 7\nevent: runs.recorded\ndata: {"runs": []}\n\n'));
    expect(events).toEqual([{ id: "7", type: "runs.recorded", data: '{"runs": []}' }]);
  });

  it("joins an event split across chunks, even inside a CRLF", async () => {
    const events = await collect(streamOf("id: a\r", "\nevent: incident\r\ndata: {\"id\"", ': "x"}\r\n\r\n'));
    expect(events).toEqual([{ id: "a", type: "incident", data: '{"id": "x"}' }]);
  });

  it("joins several data lines with newlines and defaults the type to message", async () => {
    const events = await collect(streamOf("data: one\ndata: two\n\n"));
    expect(events).toEqual([{ id: undefined, type: "message", data: "one\ntwo" }]);
  });

  it("passes on an id that comes without data, as the stream's opening position", async () => {
    const events = await collect(streamOf("retry: 2000\nid: start\n: connected\n\n"));
    expect(events).toEqual([{ id: "start", type: "", data: "" }]);
  });

  it("drops an event the stream ended before finishing", async () => {
    expect(await collect(streamOf("event: agent\ndata: {}\n"))).toEqual([]);
  });
});

describe("subscribeEvents", () => {
  it("reconnects after a drop and resumes with Last-Event-ID", async () => {
    const controller = new AbortController();
    const seen: string[] = [];
    const requests: (string | null)[] = [];
    const fetch = vi.fn(async (_url: RequestInfo | URL, init?: RequestInit) => {
      requests.push(new Headers(init?.headers).get("Last-Event-ID"));
      if (requests.length === 1) return new Response(streamOf("id: 41\nevent: agent\ndata: {}\n\n"), { status: 200 });
      if (requests.length === 2) return new Response(streamOf("id: 42\nevent: incident\ndata: {}\n\n"), { status: 200 });
      controller.abort();
      return new Response(streamOf(""), { status: 200 });
    });
    await subscribeEvents({
      fetch,
      signal: controller.signal,
      onEvent: (event) => seen.push(`${event.id}:${event.type}`),
      sleep: async () => {},
    });
    expect(seen).toEqual(["41:agent", "42:incident"]);
    expect(requests).toEqual([null, "41", "42"]);
  });

  it("resumes from the opening id, and starts over when the server cannot resume", async () => {
    const controller = new AbortController();
    const sent: (string | null)[] = [];
    let gaps = 0;
    const fetch = vi.fn(async (_url: RequestInfo | URL, init?: RequestInit) => {
      sent.push(new Headers(init?.headers).get("Last-Event-ID"));
      if (sent.length === 1) return new Response(streamOf("retry: 2000\nid: opening\n: connected\n\n"), { status: 200 });
      if (sent.length === 2) return new Response(JSON.stringify({ detail: "unknown Last-Event-ID" }), { status: 422 });
      controller.abort();
      return new Response(streamOf(""), { status: 200 });
    });
    const waits: number[] = [];
    await subscribeEvents({ fetch, signal: controller.signal, onEvent: () => {}, onGap: () => gaps++, sleep: async (ms) => void waits.push(ms) });
    expect(sent).toEqual([null, "opening", null]);
    expect(gaps).toBe(1);
    expect(waits[0]).toBe(2000); // the server's retry:
  });

  it("backs off between failed attempts and gives up on a 404", async () => {
    const waits: number[] = [];
    let calls = 0;
    const fetch = vi.fn(async () => {
      calls += 1;
      if (calls <= 3) throw new TypeError("network down");
      return new Response("not found", { status: 404 });
    });
    await subscribeEvents({
      fetch,
      signal: new AbortController().signal,
      onEvent: () => {},
      minDelayMs: 100,
      sleep: async (ms) => void waits.push(ms),
    });
    expect(waits).toEqual([100, 200, 400]);
    expect(calls).toBe(4);
  });
});
