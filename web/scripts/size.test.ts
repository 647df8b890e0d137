import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";

// @ts-expect-error: a plain .mjs script without types
import { BUDGET_BYTES, initialSize } from "./size.mjs";

const dist = resolve(__dirname, "..", "dist");

describe("the console's initial JavaScript", () => {
  it.skipIf(!existsSync(resolve(dist, "index.html")))("stays within 200 kB gzip (run `make web` first)", () => {
    const { gzip, files } = initialSize(dist) as { gzip: number; files: { file: string }[] };
    expect(files.length).toBeGreaterThan(0);
    expect(gzip).toBeLessThanOrEqual(BUDGET_BYTES);
  });
});
