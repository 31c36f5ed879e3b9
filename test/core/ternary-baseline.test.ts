import { ternaryCases } from './ternary-cases.js';

ternaryCases({ threads: 2, backend: 'wasm', build: 'baseline' });
