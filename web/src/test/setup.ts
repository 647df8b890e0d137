import "@testing-library/jest-dom/vitest";
import { cleanup, configure } from "@testing-library/react";
import { afterEach } from "vitest";

// Pages are lazily loaded chunks: the first render of each waits for its module.
configure({ asyncUtilTimeout: 5000 });

afterEach(() => cleanup());
