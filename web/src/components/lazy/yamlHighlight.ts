/** YAML token classes, shared by the editor and the read-only view; the colours, light and dark,
 * are in index.css (`.yaml-*`), so both follow the system theme as it changes. */
import { tagHighlighter, tags } from "@lezer/highlight";

export const yamlHighlighter = tagHighlighter([
  { tag: [tags.propertyName, tags.definition(tags.propertyName)], class: "yaml-key" },
  { tag: [tags.string, tags.special(tags.string)], class: "yaml-string" },
  { tag: [tags.number, tags.bool, tags.null, tags.atom], class: "yaml-atom" },
  { tag: tags.comment, class: "yaml-comment" },
  { tag: [tags.meta, tags.keyword, tags.punctuation, tags.separator], class: "yaml-meta" },
]);
