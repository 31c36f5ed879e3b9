// Rendering a Vega-Lite spec without a browser: vega's headless view draws it to an SVG string,
// resvg (a Rust renderer shipped as an npm package, no system libraries) rasterises that to PNG
// with the DejaVu Sans files of the dejavu-fonts-ttf package and no system fonts, so a PNG comes
// out the same on every machine. The libraries load on first use: importing the report layer
// (as the trainer does) costs nothing until a report is drawn.
import { createRequire } from 'node:module';
import type { TopLevelSpec } from 'vega-lite';

/** The font files given to the PNG renderer (regular for labels, bold for any bold text). */
function fontFiles(): string[] {
  const require = createRequire(import.meta.url);
  return ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf'].map((f) => require.resolve(`dejavu-fonts-ttf/ttf/${f}`));
}

/** Draw a Vega-Lite spec as an SVG document. Vega's warnings are dropped; its errors are thrown. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const [vega, vl] = await Promise.all([import('vega'), import('vega-lite')]);
  const errors: string[] = [];
  const logger = vega.logger(vega.Error, undefined, (_method, _level, input) => {
    errors.push(input.map((x: unknown) => (x instanceof Error ? x.message : String(x))).join(' '));
  });
  const { spec: vgSpec } = vl.compile(spec, { logger: vega.logger(vega.None) });
  const view = new vega.View(vega.parse(vgSpec), { renderer: 'none', logger });
  try {
    const svg = await view.toSVG();
    if (errors.length > 0) throw new Error(`vega could not draw the report: ${errors[0]}`);
    return svg;
  } finally {
    view.finalize();
  }
}

/** The width and height an SVG document declares (vega always writes both). */
export function svgSize(svg: string): { width: number; height: number } {
  const tag = /<svg\b[^>]*>/.exec(svg)?.[0] ?? '';
  const width = Number(/\swidth="([\d.]+)"/.exec(tag)?.[1]);
  const height = Number(/\sheight="([\d.]+)"/.exec(tag)?.[1]);
  if (!(width > 0 && height > 0)) throw new Error('the SVG does not declare its width and height');
  return { width, height };
}

/** Rasterise an SVG to PNG `width` pixels wide (the height keeps the aspect ratio). */
export async function svgToPng(svg: string, width: number): Promise<Uint8Array> {
  const { Resvg } = await import('@resvg/resvg-js');
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'width', value: Math.round(width) },
    font: { loadSystemFonts: false, fontFiles: fontFiles(), defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
    background: 'white',
  });
  return resvg.render().asPng();
}
