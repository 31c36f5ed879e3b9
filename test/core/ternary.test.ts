import { ternaryCases } from './ternary-cases.js';

ternaryCases({ threads: 2 });
