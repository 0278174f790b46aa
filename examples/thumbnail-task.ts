// The task the examples share: a thumbnail "rendered" in steps (an SVG, so the example needs no image library or
// network). Its input type comes from the TypeBox schema: `run` sees `input.name` as a string, `input.width` a number.

import { setImmediate } from 'node:timers/promises';
import { Type } from '@sinclair/typebox';
import { defineTask, PermanentError } from 'asyncops';

export const thumbnail = defineTask({
  type: 'thumbnail',
  route: '/thumbnails', // POST {prefix}/thumbnails takes the input as its body
  input: Type.Object(
    { name: Type.String({ minLength: 1, maxLength: 100 }), width: Type.Integer({ minimum: 16, maximum: 4096 }) },
    { additionalProperties: false },
  ),
  validate: (input) => (input.width % 2 === 0 ? [] : [{ path: '/width', message: 'must be even' }]),
  timeoutS: 30,
  maxAttempts: 3,
  async run(input, ctx) {
    if (input.name.endsWith('.exe')) throw new PermanentError('not an image'); // failed at once, never retried
    const steps = 5;
    for (let step = 1; step <= steps; step++) {
      ctx.signal.throwIfAborted();
      ctx.progress(step / steps, `step ${step} of ${steps}`);
      await setImmediate(); // yield, so status reads stay fast while a handler computes
    }
    const height = Math.round((input.width * 3) / 4);
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${input.width}" height="${height}"><title>${escapeXml(input.name)}</title></svg>`;
    return { contentType: 'image/svg+xml', body: svg };
  },
});

function escapeXml(text: string): string {
  return text.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
}
