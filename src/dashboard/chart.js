// Owns: time-series charts (uPlot): completed and failed operations per minute from GET /stats/overview's series,
// drawn into a canvas and redrawn in place when new data comes. Not here: fetching the series (overview.js).

import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { html } from './ui.js';

/** @typedef {{ at: string, completed: number, failed: number }} Bucket */

const COLORS = { completed: '#2f855a', failed: '#c53030' };

/**
 * Per-minute buckets as uPlot's columns: times (seconds), completed, failed.
 * @param {Bucket[]} series
 * @returns {uPlot.AlignedData}
 */
function columns(series) {
  return [series.map((b) => new Date(b.at).getTime() / 1000), series.map((b) => b.completed), series.map((b) => b.failed)];
}

/** @param {{ title: string, series: Bucket[], height?: number, width?: number }} props */
export function ThroughputChart({ title, series, height = 180, width = 560 }) {
  const host = useRef(/** @type {HTMLDivElement | null} */ (null));
  const plot = useRef(/** @type {uPlot | null} */ (null));
  // Made once per size; new data goes through setData below.
  useEffect(() => {
    if (host.current === null) return;
    /** @type {uPlot.Options} */
    const options = {
      width,
      height,
      // The legend names the series; values on hover would read "--" in a still picture of it.
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
      axes: [{}, { label: 'per minute', size: 50 }],
      series: [
        {},
        { label: 'completed', stroke: COLORS.completed, fill: 'rgba(47, 133, 90, 0.12)', width: 2 },
        { label: 'failed', stroke: COLORS.failed, fill: 'rgba(197, 48, 48, 0.12)', width: 2 },
      ],
    };
    plot.current = new uPlot(options, columns(series), host.current);
    return () => {
      plot.current?.destroy();
      plot.current = null;
    };
  }, [width, height]);
  useEffect(() => {
    plot.current?.setData(columns(series));
  }, [series]);
  return html`<figure class="chart"><figcaption>${title}</figcaption><div ref=${host}></div></figure>`;
}
