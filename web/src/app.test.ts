import { readFileSync } from "node:fs";
import { resolve } from "node:path";

import type { RouteObject } from "react-router";
import { describe, expect, it } from "vitest";

import { routes } from "./app";

/** Every path the router knows, "*" aside. */
function paths(list: RouteObject[]): string[] {
  return list.flatMap((route) => [...(route.path && route.path !== "*" ? [route.path] : route.index ? ["/"] : []), ...paths(route.children ?? [])]);
}

/** The routes docs/console.md promises to scripts and browser tests ("A fixed contract for automation"). */
function promised(): string[] {
  const doc = readFileSync(resolve(__dirname, "../../docs/console.md"), "utf8");
  const paragraph = /^- Routes: ([\s\S]*?)\.\n/m.exec(doc)?.[1] ?? "";
  return [...new Set([...paragraph.matchAll(/`([^`]+)`/g)].map((match) => match[1] ?? ""))];
}

describe("the routes", () => {
  it("are the ones docs/console.md promises, no more, no fewer", () => {
    const mailedLinks = ["/forgot-password", "/reset-password", "/verify-email", "/invitations/accept"];
    expect(promised().length).toBeGreaterThan(10);
    expect([...paths(routes)].sort()).toEqual([...promised(), ...mailedLinks].sort());
  });
});
