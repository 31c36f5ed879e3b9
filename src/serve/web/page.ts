// The page's script on the tab's main thread: the controls, the live plot (Vega-Lite, compiled
// here and drawn by Vega) and the text boxes. All the work runs in train-worker.ts; this file
// only sends it the user's requests and draws what it reports.
import { View, parse } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { FromWorker, ToWorker } from './protocol.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;
const buttons = {
  train: $<HTMLButtonElement>('train'), stop: $<HTMLButtonElement>('stop'), continue: $<HTMLButtonElement>('continue'),
  generate: $<HTMLButtonElement>('generate'), send: $<HTMLButtonElement>('send'), clear: $<HTMLButtonElement>('clear'),
  download: $<HTMLButtonElement>('download'),
};
const fileInput = $<HTMLInputElement>('file');
const presetSelect = $<HTMLSelectElement>('preset');
const chatLog = $('chat-log');

/** What the worker is doing, which decides the buttons that work. */
type Phase = 'starting' | 'idle' | 'training' | 'paused' | 'writing';
let phase: Phase = 'starting';
let hasModel = false;

function setPhase(p: Phase): void {
  phase = p;
  buttons.train.disabled = p !== 'idle' && p !== 'paused';
  buttons.stop.disabled = p !== 'training';
  buttons.continue.disabled = p !== 'paused';
  for (const b of [buttons.generate, buttons.send, buttons.clear, buttons.download]) b.disabled = p !== 'paused';
}

/** The one line under the controls: what is happening, or what went wrong and the way out. */
function say(text: string, error = false): void {
  const m = $('message');
  m.textContent = text;
  m.className = error ? 'error' : '';
}

// ---------------------------------------------------------------- the plot

const SPEC: TopLevelSpec = {
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  hconcat: [
    {
      title: 'Loss (nats per token)',
      width: 400,
      height: 200,
      data: { name: 'loss' },
      mark: { type: 'line', interpolate: 'monotone' },
      encoding: {
        x: { field: 'step', type: 'quantitative', title: 'step' },
        y: { field: 'loss', type: 'quantitative', title: null, scale: { zero: false } },
        color: { field: 'series', type: 'nominal', title: null, scale: { domain: ['training', 'validation'], range: ['#1f5fbf', '#d0602a'] }, legend: { orient: 'bottom-left', fillColor: '#ffffffcc' } },
      },
    },
    {
      title: 'Validation bits per byte',
      width: 400,
      height: 200,
      data: { name: 'bpb' },
      mark: { type: 'line', point: true, color: '#d0602a' },
      encoding: {
        x: { field: 'step', type: 'quantitative', title: 'step' },
        y: { field: 'bpb', type: 'quantitative', title: null, scale: { zero: false } },
      },
    },
  ],
  config: { font: 'system-ui, sans-serif', view: { stroke: '#ddd' } },
  // Lay out again as data arrives (axis labels widen), not only at the first, empty draw.
  autosize: { type: 'pad', resize: true },
};

const view = new View(parse(compile(SPEC).spec), { renderer: 'svg', container: '#chart', hover: false });
/** Rows that arrived since the last frame, drawn together. */
const pending: { loss: object[]; bpb: object[] } = { loss: [], bpb: [] };
let frame = 0;

function plot(name: 'loss' | 'bpb', row: object): void {
  pending[name].push(row);
  frame ||= requestAnimationFrame(() => {
    frame = 0;
    for (const n of ['loss', 'bpb'] as const) {
      if (pending[n].length > 0) view.insert(n, pending[n].splice(0));
    }
    void view.runAsync();
  });
}

function clearPlot(): void {
  pending.loss.length = 0;
  pending.bpb.length = 0;
  view.data('loss', []).data('bpb', []);
  void view.runAsync();
}

// ---------------------------------------------------------------- the worker

// The worker gets the page's query: `?threads=N` sets its compute threads.
const worker = new Worker(new URL(`./train-worker.js${location.search}`, import.meta.url), { type: 'module' });
const send = (msg: ToWorker, transfer: Transferable[] = []): void => worker.postMessage(msg, transfer);
const fmt = (x: number, digits = 0): string => x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
let writing: 'generate' | 'chat' | null = null;

worker.onerror = (e) => {
  say(`the training worker failed to start: ${e.message} — this page needs a recent Chromium, Firefox or Safari, opened from \`ternlm serve\``, true);
};

worker.onmessage = (e: MessageEvent<FromWorker>) => {
  const msg = e.data;
  // Every message also goes to the window as a `ternlm-worker` event (detail: the message), for
  // scripts that drive the page: `ternlm bench page` reads the steps' times from them.
  dispatchEvent(new CustomEvent('ternlm-worker', { detail: msg }));
  switch (msg.type) {
    case 'ready':
      for (const p of msg.presets) presetSelect.add(new Option(`${p.label}: ${fmt(p.parameters / 1e6, 2)} M parameters`, p.id));
      $('env').textContent = `The ternlm runtime runs in a Web Worker with ${msg.threads} compute threads (wasm ${msg.build} SIMD build). Nothing leaves this tab.`;
      setPhase('idle');
      say('Pick a text and a model, then press Train.');
      break;
    case 'status':
      say(msg.text);
      break;
    case 'error':
      say(msg.text, true);
      if (writing) finishWriting();
      setPhase(hasModel ? 'paused' : 'idle');
      break;
    case 'model':
      hasModel = true;
      $('params').textContent = fmt(msg.parameters);
      $('data').textContent = `${fmt(msg.trainTokens)} / ${fmt(msg.valTokens)}`;
      $('loss-first').textContent = '–';
      clearPlot();
      break;
    case 'step':
      $('step').textContent = `${fmt(msg.step)} / ${fmt(msg.planned)}`;
      $('loss').textContent = msg.loss.toFixed(3);
      if (msg.step === 1) $('loss-first').textContent = msg.loss.toFixed(3);
      $('speed').textContent = fmt(msg.tokensPerSecond);
      plot('loss', { step: msg.step, loss: msg.loss, series: 'training' });
      break;
    case 'val':
      $('bpb').textContent = msg.bpb.toFixed(3);
      plot('loss', { step: msg.step, loss: msg.loss, series: 'validation' });
      plot('bpb', { step: msg.step, bpb: msg.bpb });
      break;
    case 'paused':
      setPhase('paused');
      say(msg.done ? `Trained ${fmt(msg.step)} steps. Generate, chat or download below; Continue trains more.` : `Stopped at step ${fmt(msg.step)}. Continue goes on.`);
      break;
    case 'text':
      if (msg.target === 'generate') $('output').textContent += msg.text;
      else chatLog.lastElementChild!.textContent += msg.text;
      break;
    case 'text-end':
      finishWriting();
      if (msg.target === 'chat' && msg.tokens === 0) chatLog.lastElementChild!.textContent += '(it ended the text here: try a sentence it can go on with)';
      say(`${fmt(msg.tokens)} token${msg.tokens === 1 ? '' : 's'} at ${fmt(msg.tokensPerSecond)} tokens/s, from the exported model.`);
      break;
    case 'export': {
      const url = URL.createObjectURL(new Blob([msg.data as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = msg.name;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      say(`Saved ${msg.name} (${fmt(msg.data.length / 1024)} KB).`);
      break;
    }
  }
};

function finishWriting(): void {
  writing = null;
  setPhase('paused');
}

// ---------------------------------------------------------------- the controls

/** The steps box as a whole number in its range, or null after saying what is wrong. */
function stepsWanted(): number | null {
  const n = Number($<HTMLInputElement>('steps').value);
  if (Number.isInteger(n) && n >= 1 && n <= 100_000) return n;
  say('Steps must be a whole number from 1 to 100,000.', true);
  return null;
}

buttons.train.onclick = async () => {
  const steps = stepsWanted();
  if (steps === null) return;
  const useFile = (document.querySelector('input[name=corpus]:checked') as HTMLInputElement).value === 'file';
  const file = fileInput.files?.[0];
  if (useFile && !file) {
    say('Choose a text file first (or pick the built-in stories).', true);
    return;
  }
  setPhase('training');
  say('Preparing the text…');
  if (useFile && file) {
    const bytes = await file.arrayBuffer();
    send({ type: 'train', corpus: { kind: 'file', name: file.name, bytes }, preset: presetSelect.value, steps }, [bytes]);
  } else {
    send({ type: 'train', corpus: { kind: 'stories' }, preset: presetSelect.value, steps });
  }
};

buttons.stop.onclick = () => send({ type: 'stop' });

buttons.continue.onclick = () => {
  const steps = stepsWanted();
  if (steps === null) return;
  setPhase('training');
  send({ type: 'continue', steps });
};

/** The temperature box, clamped to what the sampler takes. */
const temperature = (): number => Math.min(2, Math.max(0, Number($<HTMLInputElement>('temperature').value) || 0));

buttons.generate.onclick = () => {
  const maxTokens = Math.max(1, Math.min(1000, Math.floor(Number($<HTMLInputElement>('max-tokens').value) || 1)));
  const prompt = $<HTMLInputElement>('prompt').value;
  $('output').textContent = prompt;
  writing = 'generate';
  setPhase('writing');
  say('Exporting the model and generating…');
  send({ type: 'generate', prompt, maxTokens, temperature: temperature() });
};

function sendChat(): void {
  const input = $<HTMLInputElement>('chat-input');
  const message = input.value.trim();
  if (message === '' || buttons.send.disabled) return;
  input.value = '';
  const you = document.createElement('div');
  you.className = 'you';
  you.textContent = `you: ${message}`;
  const reply = document.createElement('div');
  reply.textContent = 'model: ';
  chatLog.append(you, reply);
  writing = 'chat';
  setPhase('writing');
  send({ type: 'chat', message, temperature: temperature() });
}
buttons.send.onclick = sendChat;
$<HTMLInputElement>('chat-input').onkeydown = (e) => {
  if (e.key === 'Enter') sendChat();
};
buttons.clear.onclick = () => {
  chatLog.textContent = '';
  send({ type: 'chat-clear' });
};

buttons.download.onclick = () => send({ type: 'export' });

fileInput.onchange = () => {
  (document.querySelector('input[name=corpus][value=file]') as HTMLInputElement).checked = true;
};
const drop = $('drop');
drop.ondragover = (e) => {
  e.preventDefault();
  drop.classList.add('over');
};
drop.ondragleave = () => drop.classList.remove('over');
drop.ondrop = (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  if (e.dataTransfer?.files.length) {
    fileInput.files = e.dataTransfer.files;
    fileInput.onchange?.(new Event('change'));
  }
};

if (!isSecureContext) {
  say(`Shared memory needs a secure page: open it at http://localhost:${location.port || '80'}/ on the machine running \`ternlm serve\` (from another machine: ssh -L ${location.port || '80'}:127.0.0.1:${location.port || '80'} <host>, or HTTPS).`, true);
} else if (!crossOriginIsolated) {
  say('This page needs cross-origin isolation for shared memory: open it from `ternlm serve`, which sends the headers.', true);
}
setPhase(phase);
