import { lazy, Suspense } from "react";

import type { YamlEditorProps } from "./lazy/YamlEditor";

export type { LineProblem } from "./lazy/YamlEditor";

const Editor = lazy(() => import("./lazy/YamlEditor"));

/** The manifest, highlighted (read-only) or editable; plain text until the editor's chunk loads. */
export function Yaml(props: YamlEditorProps) {
  const fallback = props.readOnly ? (
    <pre aria-label={props.label} tabIndex={0} className="mono overflow-auto rounded-md border border-zinc-300 p-3 dark:border-zinc-700">
      {props.value}
    </pre>
  ) : (
    <textarea
      aria-label={props.label}
      className="input mono min-h-64"
      value={props.value}
      onChange={(event) => props.onChange?.(event.target.value)}
    />
  );
  return (
    <Suspense fallback={fallback}>
      <Editor {...props} />
    </Suspense>
  );
}
