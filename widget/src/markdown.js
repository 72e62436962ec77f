// Markdown in replies, rendered as safe text: every piece of the reply becomes a text node inside elements
// built here (paragraphs, lists, code, emphasis, links). Nothing from the agent is ever parsed as HTML, so
// `<script>` or `<img onerror>` in a reply shows as the characters it is made of.

import { h } from "./dom.js";

const SAFE_PROTOCOLS = ["http:", "https:", "mailto:"];
// Inline code | **bold** | __bold__ | *italic* | _italic_ | [text](url) | bare http(s) address
const INLINE =
  /(`+)([\s\S]*?[^`])\1(?!`)|\*\*(?=\S)([\s\S]*?\S)\*\*|__(?=\S)([\s\S]*?\S)__|\*(?=[^\s*])([\s\S]*?[^\s*])\*|\b_(?=\S)([\s\S]*?\S)_\b|\[([^\]\n]+)\]\(\s*<?([^\s<>()]+)>?\s*\)|(https?:\/\/[^\s<>"]*[^\s<>".,:;!?')\]])/;

/** The address when it is http(s) or mailto, else null (javascript:, data: and the like stay text). */
export function safeUrl(value) {
  try {
    const url = new URL(value);
    return SAFE_PROTOCOLS.includes(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

function link(href, children) {
  return h("a", { href, target: "_blank", rel: "noopener noreferrer nofollow ugc" }, children);
}

/** Inline Markdown as nodes; `inLink` stops links nesting inside link text. */
export function inline(text, inLink = false) {
  const nodes = [];
  let rest = text;
  while (rest) {
    const match = INLINE.exec(rest);
    if (!match) {
      nodes.push(rest);
      break;
    }
    if (match.index) nodes.push(rest.slice(0, match.index));
    const [whole, , code, bold1, bold2, italic1, italic2, label, target, bare] = match;
    if (code !== undefined) nodes.push(h("code", null, code.trim() || code));
    else if (bold1 !== undefined || bold2 !== undefined) nodes.push(h("strong", null, inline(bold1 ?? bold2, inLink)));
    else if (italic1 !== undefined || italic2 !== undefined) nodes.push(h("em", null, inline(italic1 ?? italic2, inLink)));
    else if (label !== undefined) {
      const href = !inLink && safeUrl(target);
      nodes.push(href ? link(href, inline(label, true)) : whole);
    } else {
      const href = !inLink && safeUrl(bare);
      nodes.push(href ? link(href, bare) : bare);
    }
    rest = rest.slice(match.index + whole.length);
  }
  return nodes;
}

const FENCE = /^\s*(```|~~~)/;
const HEADING = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/;
const BULLET = /^\s*[-*+]\s+(.*)$/;
const NUMBERED = /^\s*(\d{1,9})[.)]\s+(.*)$/;
const QUOTE = /^\s*>\s?(.*)$/;
const RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;

function paragraph(lines) {
  const children = [];
  lines.forEach((line, index) => {
    if (index) children.push(h("br"));
    children.push(...inline(line.trim()));
  });
  return h("p", null, children);
}

/** A reply (complete, or partial while it streams in) as a fragment of safe nodes. */
export function renderMarkdown(text) {
  const fragment = document.createDocumentFragment();
  const lines = String(text).replace(/\r\n?/g, "\n").split("\n");
  let index = 0;
  while (index < lines.length) {
    const line = lines[index];
    if (!line.trim()) {
      index++;
    } else if (FENCE.test(line)) {
      const fence = line.trim().slice(0, 3);
      const body = [];
      index++;
      while (index < lines.length && !lines[index].trim().startsWith(fence)) body.push(lines[index++]);
      index++; // the closing fence (absent while streaming: the rest is code)
      fragment.append(h("pre", null, h("code", null, body.join("\n"))));
    } else if (RULE.test(line)) {
      fragment.append(h("hr"));
      index++;
    } else if (HEADING.test(line)) {
      fragment.append(h("p", null, h("strong", null, inline(HEADING.exec(line)[1]))));
      index++;
    } else if (BULLET.test(line) || NUMBERED.test(line)) {
      const ordered = !BULLET.test(line);
      const pattern = ordered ? NUMBERED : BULLET;
      const start = ordered ? Number(NUMBERED.exec(line)[1]) : 1;
      const items = [];
      while (index < lines.length && pattern.test(lines[index])) {
        const match = pattern.exec(lines[index++]);
        items.push(h("li", null, inline(match[ordered ? 2 : 1])));
      }
      fragment.append(h(ordered ? "ol" : "ul", ordered && start !== 1 ? { start: String(start) } : null, items));
    } else if (QUOTE.test(line)) {
      const quoted = [];
      while (index < lines.length && QUOTE.test(lines[index])) quoted.push(QUOTE.exec(lines[index++])[1]);
      fragment.append(h("blockquote", null, renderMarkdown(quoted.join("\n"))));
    } else {
      const block = [];
      while (
        index < lines.length &&
        lines[index].trim() &&
        !FENCE.test(lines[index]) &&
        !HEADING.test(lines[index]) &&
        !BULLET.test(lines[index]) &&
        !NUMBERED.test(lines[index]) &&
        !QUOTE.test(lines[index])
      ) {
        block.push(lines[index++]);
      }
      fragment.append(paragraph(block));
    }
  }
  return fragment;
}
