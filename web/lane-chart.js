// A lane's chart (uPlot): the exposure bound over time on the left axis, the judged failure rate, the class's total
// failure rate and the threshold line on the right axis. Redrawn in place when new points arrive.
import { html, useEffect, useRef } from './vendor/preact-htm.js';
import uPlot from './vendor/uplot.js';
import { chartData } from './series.js';

function options(width) {
  return {
    width,
    height: 220,
    legend: { live: false },
    scales: {
      x: { time: true },
      exposure: { range: [0, 100] },
      rate: { range: (_u, _min, max) => [0, Math.max(1, max * 1.2)] },
    },
    axes: [
      {},
      { scale: 'exposure', label: 'exposure %', size: 50 },
      { scale: 'rate', side: 1, label: 'failure rate %', size: 55, grid: { show: false } },
    ],
    series: [
      {},
      {
        label: 'exposure bound %',
        scale: 'exposure',
        stroke: '#2563eb',
        fill: 'rgba(37, 99, 235, 0.08)',
        paths: uPlot.paths.stepped({ align: 1 }),
        spanGaps: true,
      },
      { label: 'failure rate, window judged %', scale: 'rate', stroke: '#c2410c', width: 2, spanGaps: true },
      { label: 'threshold %', scale: 'rate', stroke: '#b91c1c', dash: [6, 4], spanGaps: true, points: { show: false } },
      {
        label: 'failure rate, class total %',
        scale: 'rate',
        stroke: '#7c3aed',
        spanGaps: true,
        points: { show: false },
      },
    ],
  };
}

/** The chart of one lane over `points` (see series.js). */
export function LaneChart({ points, lane }) {
  const box = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    const width = Math.max(300, box.current.clientWidth || 480);
    plot.current = new uPlot(options(width), chartData(points), box.current);
    return () => plot.current?.destroy();
  }, []);
  useEffect(() => {
    plot.current?.setData(chartData(points));
  }, [points]);
  return html`<figure class="lane-chart" data-chart=${lane} ref=${box}></figure>`;
}
