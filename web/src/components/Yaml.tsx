import { lazy, Suspense } from "react";

import type { YamlEditorProps } from "./lazy/YamlEditor";

export type { LineProblem } from "./lazy/YamlEditor";

const Editor = lazy(() => import("./lazy/YamlEditor"));
const View = lazy(() => import("./lazy/YamlView"));

/** The manifest, highlighted (read-only) or editable; plain text until its chunk loads. */
export function Yaml(props: YamlEditorProps) {
  const fallback = props.readOnly ? (
    <pre role="region" aria-label={props.label} tabIndex={0} className="mono overflow-auto rounded-md border border-zinc-300 py-1 pl-[5ch] leading-[1.4] dark:border-zinc-700">
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
  return <Suspense fallback={fallback}>{props.readOnly ? <View value={props.value} label={props.label} /> : <Editor {...props} />}</Suspense>;
}
