import { ApiError } from "./session";

export type FieldErrors = Record<string, string>;

/**
 * The server's validation errors by form field: FastAPI's 422 list (`loc: ["body", field]`)
 * and domain messages that name their field (`tenant 'x' already exists`). What names no field
 * lands under `form`. `aliases` maps API names to the form's (tenant → team).
 */
export function fieldErrors(error: unknown, aliases: Record<string, string> = {}, known: string[] = []): FieldErrors {
  if (!(error instanceof ApiError)) return {};
  const errors: FieldErrors = {};
  const add = (field: string, message: string) => {
    errors[field] = errors[field] ? `${errors[field]}; ${message}` : message;
  };
  if (Array.isArray(error.detail)) {
    for (const item of error.detail as { loc?: unknown[]; msg?: string }[]) {
      const path = (item.loc ?? []).filter((part) => part !== "body" && part !== "query").map(String);
      const field = aliases[path[0] ?? ""] ?? path[0];
      const message = (item.msg ?? "invalid").replace(/^Value error, /, "");
      add(field && (known.length === 0 || known.includes(field)) ? field : "form", message);
    }
    return errors;
  }
  const message = error.message;
  // Domain messages start with the field they are about, or name it first.
  const named = Object.entries(aliases).find(([api]) => new RegExp(`^${api}\\b`, "i").test(message));
  const field = named?.[1] ?? known.find((name) => new RegExp(`^(this )?${name}\\b`, "i").test(message));
  add(field ?? "form", message);
  return errors;
}
