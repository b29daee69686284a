// Replies as Markdown, made safe (docs/api.md, "The web chat page").
//
// marked turns a reply's Markdown into HTML; HTML the reply itself holds is escaped there, so it
// shows as text. DOMPurify then keeps only the elements and attributes that Markdown makes, and
// the result goes into the page as nodes, never as a string. Links keep only http, https and
// mailto addresses and open in a new tab without telling it where they came from; images are
// never loaded (a remote image would tell its server who reads the reply, and when): each becomes
// a link to its address. Both libraries are vendored by scripts/vendor-frontend.

import DOMPurify from "./vendor/dompurify/purify.es.mjs";
import { Marked } from "./vendor/marked/marked.esm.js";

const LINK_PROTOCOLS = new Set(["http:", "https:", "mailto:"]);

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escapeHtml = (text) => text.replace(/[&<>"']/g, (character) => ESCAPES[character]);

const markdown = new Marked({
  gfm: true,
  // A line break in a reply stays a line break on the page, as the model wrote it.
  breaks: true,
  renderer: {
    html({ text, block }) {
      if (!block) return escapeHtml(text);
      return `<p>${escapeHtml(text.replace(/\n+$/, "")).replaceAll("\n", "<br>")}</p>`;
    },
    image({ href, title, text }) {
      const titled = title ? ` title="${escapeHtml(title)}"` : "";
      return `<a href="${escapeHtml(href)}"${titled}>${escapeHtml(`Image: ${text || href}`)}</a>`;
    },
    // A task list's box is a mark, not a form control.
    checkbox({ checked }) {
      return checked ? "☑ " : "☐ ";
    },
  },
});

// What Markdown makes, and nothing else: no images, forms, frames, media, styles or scripts.
const SANITIZER = {
  ALLOWED_TAGS: [
    "a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "li",
    "ol", "p", "pre", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
  ],
  // `class` carries a code block's language (`language-python`); `align` a table column's.
  ALLOWED_ATTR: ["align", "class", "href", "start", "title"],
  ADD_URI_SAFE_ATTR: ["align", "start"],
  ALLOWED_URI_REGEXP: /^(?:https?|mailto):/i,
  ALLOW_ARIA_ATTR: false,
  ALLOW_DATA_ATTR: false,
  RETURN_DOM_FRAGMENT: true,
};

function linkAllowed(href) {
  try {
    return LINK_PROTOCOLS.has(new URL(href).protocol);
  } catch {
    return false; // relative, or no address at all
  }
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

async function copy(button, text) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Copy failed";
  }
  setTimeout(() => (button.textContent = "Copy"), 2000);
}

/** A code block in a box with its language, if named, and a button that copies its text. */
function boxed(pre) {
  const box = element("div", "code-block");
  const bar = element("div", "code-bar");
  const language = pre.querySelector("code")?.className.match(/(?:^|\s)language-(\S+)/)?.[1];
  bar.append(element("span", "code-language", language ?? ""));
  // The clipboard is there on https and on localhost only.
  if (navigator.clipboard) {
    const button = element("button", "copy-code", "Copy");
    button.type = "button";
    button.title = "Copy the code";
    button.addEventListener("click", () => copy(button, pre.textContent));
    bar.append(button);
  }
  pre.replaceWith(box);
  box.append(bar, pre);
}

function cleaned(text) {
  const fragment = DOMPurify.sanitize(markdown.parse(text), SANITIZER);
  for (const link of fragment.querySelectorAll("a")) {
    if (!linkAllowed(link.getAttribute("href"))) {
      link.replaceWith(...link.childNodes);
    } else {
      link.target = "_blank";
      link.rel = "noopener noreferrer";
    }
  }
  for (const pre of fragment.querySelectorAll("pre")) boxed(pre);
  return fragment;
}

/** Show `text` in `target`: rendered Markdown, or plain text where no sanitizer can run. */
export function showMarkdown(target, text) {
  if (DOMPurify.isSupported) target.replaceChildren(cleaned(text));
  else target.textContent = text;
}
