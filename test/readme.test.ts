import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { jobLifecycle } from '../src/job-lifecycle.js';
import { toMermaid } from '../src/statecharts/mermaid.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('shows the job lifecycle diagram generated from the machine', () => {
    const block = /<!-- lifecycle:begin -->\n```mermaid\n([\s\S]*?)\n```\n<!-- lifecycle:end -->/.exec(readme)?.[1];
    expect(block, 'the README has a lifecycle block').toBeDefined();
    expect(block).toBe(toMermaid(jobLifecycle));
  });

  it('has the two quick-start commands', () => {
    expect(readme).toContain('npm install && npm start');
    expect(readme).toMatch(/^npm test$/m);
  });
});
