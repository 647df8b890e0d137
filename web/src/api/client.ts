/**
 * The typed API client, generated from docs/openapi.json (`make docs` regenerates schema.d.ts;
 * never edit it by hand), and the TanStack Query hooks over it.
 */
import createFetchClient, { type Middleware } from "openapi-fetch";
import createQueryClient from "openapi-react-query";
import { QueryClient } from "@tanstack/react-query";

import { ApiError, apiErrorFrom, NotSignedIn, session } from "../lib/session";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];

// Every non-2xx answer becomes an ApiError carrying the status and the server's `detail`, so a
// page can tell a 409 from a 422 and show the server's own message.
const throwOnError: Middleware = {
  async onResponse({ response }) {
    if (!response.ok) throw await apiErrorFrom(response);
    return undefined;
  },
};

export const client = createFetchClient<paths>({
  baseUrl: globalThis.location?.origin ?? "",
  fetch: (request) => session.fetch(request),
});
client.use(throwOnError);

export const api = createQueryClient(client);

export function createAppQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        staleTime: 15_000,
        // Live events invalidate what changed; focus refetch would only repeat the same answers.
        refetchOnWindowFocus: false,
        retry: (failures, error) => failures < 2 && isRetryable(error),
      },
      mutations: { retry: false },
    },
  });
}

function isRetryable(error: unknown): boolean {
  if (error instanceof NotSignedIn) return false;
  if (error instanceof ApiError) return error.status >= 500 || error.status === 429;
  return true; // the network: worth another try
}

/** A message for any failure a query or mutation can throw. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) return error.message; // the server's words (src/lib/session.ts)
  if (error instanceof NotSignedIn) return "You are signed out. Sign in again.";
  if (error instanceof TypeError) return "The server could not be reached. Check your connection and try again.";
  if (error instanceof Error) return error.message;
  return "Something went wrong.";
}

export function statusOf(error: unknown): number | undefined {
  return error instanceof ApiError ? error.status : undefined;
}
