#!/usr/bin/env node
// Parse every ```mermaid block of Markdown files with the real Mermaid parser, the one
// GitHub renders PR comments with (no browser: jsdom stands in for the DOM that mermaid's
// modules expect when they load; parsing itself draws nothing).
//
//   node tools/mermaid/check.mjs plan.md [more.md ...]    (or - for standard input)
//
// Exit codes: 0 every block parsed; 1 a block did not parse, or a file has no mermaid
// block (a check that finds nothing must not pass); 2 usage: no file given, or a file
// cannot be read.

import { readFileSync } from "node:fs";
import { JSDOM } from "jsdom";

const dom = new JSDOM("<!DOCTYPE html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false, logLevel: "fatal", securityLevel: "strict" });

/** The ```mermaid fenced blocks of a Markdown text, with the line each starts on. */
export function mermaidBlocks(markdown) {
  const blocks = [];
  let current = null;
  markdown.split(/\r?\n/).forEach((line, index) => {
    if (current === null) {
      const open = line.match(/^(\s{0,3})(`{3,}|~{3,})\s*mermaid\s*$/);
      if (open) current = { fence: open[2], line: index + 2, text: [] };
    } else if (line.trim().startsWith(current.fence) && line.trim().replace(/[`~]/g, "") === "") {
      blocks.push({ line: current.line, text: current.text.join("\n") });
      current = null;
    } else {
      current.text.push(line);
    }
  });
  if (current !== null) blocks.push({ line: current.line, text: current.text.join("\n"), unclosed: true });
  return blocks;
}

/** Parse one diagram as a renderer would: the grammar, then the diagram's own model. */
async function check(text) {
  await mermaid.parse(text); // throws on a syntax error
  await mermaid.mermaidAPI.getDiagramFromText(text); // builds the diagram's database
}

async function main(files) {
  if (files.length === 0) {
    console.error("usage: node check.mjs FILE.md [FILE.md ...]   (- reads standard input)");
    return 2;
  }
  let failed = false;
  for (const file of files) {
    let markdown;
    try {
      markdown = readFileSync(file === "-" ? 0 : file, "utf8");
    } catch (error) {
      console.error(`${file}: cannot read (${error.code || error.message})`);
      return 2;
    }
    const blocks = mermaidBlocks(markdown);
    if (blocks.length === 0) {
      console.error(`${file}: no mermaid block`);
      failed = true;
    }
    for (const block of blocks) {
      const where = `${file}:${block.line}`;
      if (block.unclosed) {
        console.error(`${where}: mermaid block is never closed`);
        failed = true;
        continue;
      }
      try {
        await check(block.text);
        console.log(`${where}: ok`);
      } catch (error) {
        const message = String(error && error.message ? error.message : error);
        console.error(`${where}: mermaid cannot parse it:\n${message}`);
        failed = true;
      }
    }
  }
  return failed ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
