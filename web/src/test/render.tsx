import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render } from "@testing-library/react";
import { createMemoryRouter, RouterProvider, type RouteObject } from "react-router";
import { vi } from "vitest";

import { routes } from "../app";

export type Handler = (request: Request) => Response | Promise<Response>;

export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

/** A fake API: `"POST /api/jobs"` → handler. Unknown requests answer 404 and are recorded. */
export function mockApi(handlers: Record<string, Handler>) {
  const requests: Request[] = [];
  const fetch = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = input instanceof Request ? input : new Request(new URL(String(input), "http://localhost:3000"), init);
    requests.push(request.clone());
    const key = `${request.method} ${new URL(request.url).pathname}`;
    const handler = handlers[key];
    return handler ? handler(request) : json({ detail: `no handler for ${key}` }, 404);
  });
  vi.stubGlobal("fetch", fetch);
  const calls = (key: string) => requests.filter((r) => `${r.method} ${new URL(r.url).pathname}` === key);
  return { requests, calls };
}

/** The routes with every navigation taking `ms` longer, as on a busy machine where the URL lands
 * well after the keystroke that changed it. */
function slowed(list: RouteObject[], ms: number): RouteObject[] {
  return list.map((route) => {
    const children = route.children ? slowed(route.children, ms) : undefined;
    const page = route.lazy || route.element ? { loader: () => new Promise<null>((resolve) => setTimeout(() => resolve(null), ms)) } : {};
    return { ...route, ...page, ...(children ? { children } : {}) } as RouteObject;
  });
}

export function renderRoute(path: string, { navigationDelayMs = 0 } = {}) {
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false }, mutations: { retry: false } } });
  const router = createMemoryRouter(navigationDelayMs ? slowed(routes, navigationDelayMs) : routes, { initialEntries: [path] });
  const view = render(
    <QueryClientProvider client={queryClient}>
      <RouterProvider router={router} />
    </QueryClientProvider>,
  );
  return { ...view, router, queryClient };
}
