import { strict as assert } from 'node:assert';
import { Counter, Registry } from 'prom-client';
import { renderMetrics } from '../../../src/metrics/render';

describe('metrics/render', () => {
  it('renders own metrics, each handler family once, and merges families several handlers share', async () => {
    const self = new Registry();
    new Counter({ name: 'mixer_x_total', help: 'x', registers: [self] }).inc(2);
    const a = new Registry();
    const b = new Registry();
    new Counter({ name: 'shared_total', help: 's', labelNames: ['handler'], registers: [a] }).inc({ handler: 'a' }, 1);
    new Counter({ name: 'shared_total', help: 's', labelNames: ['handler'], registers: [b] }).inc({ handler: 'b' }, 3);
    new Counter({ name: 'only_a_total', help: 'a', registers: [a] }).inc(5);
    const text = await renderMetrics(self, [a, b]);
    const lines = text.split('\n');
    assert.equal(lines.filter((l) => l === '# TYPE shared_total counter').length, 1, 'one family');
    for (const l of ['mixer_x_total 2', 'shared_total{handler="a"} 1', 'shared_total{handler="b"} 3', 'only_a_total 5']) assert.ok(lines.includes(l), l);
    assert.ok(text.endsWith('\n') && !text.endsWith('\n\n\n'));
    assert.ok(!lines.some((l, i) => l === '' && lines[i + 1] === ''), 'no double blank lines');
  });
});
