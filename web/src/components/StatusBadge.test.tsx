import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";

import { StatusBadge } from "./StatusBadge";

describe("StatusBadge", () => {
  it.each(["success", "failure", "timeout", "running"])("writes %s as a word, not only a colour", (status) => {
    render(<StatusBadge status={status} />);
    expect(screen.getByText(status)).toBeInTheDocument();
  });

  it("says never run for a job without runs", () => {
    render(<StatusBadge status={null} />);
    expect(screen.getByText("never run")).toBeInTheDocument();
  });
});
