/** CodeMirror 6 with YAML, loaded only where a manifest is shown or edited (its own chunk). */
import { yaml } from "@codemirror/lang-yaml";
import { syntaxHighlighting } from "@codemirror/language";
import { lintGutter, setDiagnostics, type Diagnostic } from "@codemirror/lint";
import { EditorState } from "@codemirror/state";
import { EditorView } from "@codemirror/view";
import { basicSetup } from "codemirror";
import { useEffect, useRef } from "react";

import { yamlHighlighter } from "./yamlHighlight";

export interface LineProblem {
  line: number;
  message: string;
}

export interface YamlEditorProps {
  value: string;
  onChange?: (value: string) => void;
  readOnly?: boolean;
  label: string;
  problems?: LineProblem[];
  describedBy?: string;
}

const theme = (dark: boolean) => EditorView.theme({
  "&": { fontSize: "0.8125rem", backgroundColor: "transparent", color: "inherit" },
  ".cm-content": { fontFamily: "var(--font-mono)", caretColor: "currentColor" },
  ".cm-gutters": { backgroundColor: "transparent", color: dark ? "#a1a1aa" : "#52525b", border: "none" },
  ".cm-activeLine, .cm-activeLineGutter": { backgroundColor: "rgba(127, 127, 127, 0.08)" },
  "&.cm-focused": { outline: "2px solid #4f46e5", outlineOffset: "2px" },
  ".cm-scroller": { overflow: "auto" },
});

function diagnostics(state: EditorState, problems: LineProblem[]): Diagnostic[] {
  return problems.map((problem) => {
    const line = state.doc.line(Math.min(Math.max(problem.line, 1), state.doc.lines));
    return { from: line.from, to: line.to, severity: "error", message: problem.message };
  });
}

export default function YamlEditor({ value, onChange, readOnly = false, label, problems = [], describedBy }: YamlEditorProps) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const onChangeRef = useRef(onChange);
  onChangeRef.current = onChange;

  useEffect(() => {
    if (!host.current) return;
    const prefersDark = window.matchMedia?.("(prefers-color-scheme: dark)").matches ?? false;
    // Focusable even when read-only, so a keyboard can reach and scroll it.
    const attributes: Record<string, string> = { "aria-label": label, tabindex: "0" };
    if (describedBy) attributes["aria-describedby"] = describedBy;
    const editor = new EditorView({
      parent: host.current,
      state: EditorState.create({
        doc: value,
        extensions: [
          basicSetup,
          yaml(),
          syntaxHighlighting(yamlHighlighter),
          theme(prefersDark),
          lintGutter(),
          EditorState.readOnly.of(readOnly),
          EditorView.contentAttributes.of(attributes),
          EditorState.tabSize.of(2),
          EditorView.updateListener.of((update) => {
            if (update.docChanged) onChangeRef.current?.(update.state.doc.toString());
          }),
        ],
      }),
    });
    view.current = editor;
    return () => {
      editor.destroy();
      view.current = null;
    };
    // The editor owns its text after creation; `value` changes from outside are applied below.
  }, [readOnly, label, describedBy]);

  useEffect(() => {
    const editor = view.current;
    if (editor && editor.state.doc.toString() !== value) {
      editor.dispatch({ changes: { from: 0, to: editor.state.doc.length, insert: value } });
    }
  }, [value]);

  useEffect(() => {
    const editor = view.current;
    if (editor) editor.dispatch(setDiagnostics(editor.state, diagnostics(editor.state, problems)));
  }, [problems]);

  return <div ref={host} className="min-h-16 rounded-md border border-zinc-300 bg-white dark:border-zinc-700 dark:bg-zinc-900" />;
}
