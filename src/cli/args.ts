// Command-line flags for every `ternlm` command: node's parseArgs with one-line errors that name
// the flag and point to the command's --help, and readers for number flags with their range.
import { availableParallelism } from 'node:os';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { TernlmError } from '../core/errors.js';
import { closestName, describeRange, inRange, type NumberRange } from '../core/input-checks.js';
import { maxThreads } from '../core/runtime.js';

type Options = NonNullable<ParseArgsConfig['options']>;
/** What parseArgs returns for these options (values typed by each option's type and default). */
type ParsedFlags<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: boolean }>>;

/** A negative number (`-5`, `-0.5`, `-.5`): taken as the value of the option before it. */
const NEGATIVE_NUMBER = /^-\.?\d/;

/**
 * Parse `args` for `ternlm <command>` (strict: unknown options are errors). parseArgs refuses
 * `--steps -5` as "ambiguous"; here a negative number after an option that takes a value is that
 * value, so that it reaches the option's range check. Errors become TernlmErrors that name the
 * flag and say to run `ternlm <command> --help`.
 */
export function parseFlags<const O extends Options>(command: string, args: string[], options: O, allowPositionals = false): ParsedFlags<O> {
  try {
    return parseArgs({ args: joinNegativeValues(args, options), options, strict: true, allowPositionals });
  } catch (err) {
    throw flagError(err, command, Object.keys(options));
  }
}

/** `--steps -5` -> `--steps=-5` (and `-n -5` -> `--name=-5` for a short alias). */
function joinNegativeValues(args: string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--') {
      out.push(...args.slice(i));
      break;
    }
    const name = arg.startsWith('--') ? arg.slice(2) : Object.keys(options).find((k) => arg === `-${options[k].short}`);
    if (name !== undefined && options[name]?.type === 'string' && i + 1 < args.length && NEGATIVE_NUMBER.test(args[i + 1])) {
      out.push(`--${name}=${args[i + 1]}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

/**
 * parseArgs' own error (several lines, node's wording) -> one line naming the flag, with the
 * nearest of `optionNames` for an unknown one; any other error is returned as it is.
 */
export function flagError(err: unknown, command: string, optionNames: string[] = []): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  const message = (err as Error).message ?? '';
  const help = `see \`ternlm ${command} --help\``;
  // node quotes the flag as '--name', '--name <value>' or '-n, --name'.
  const flag = /--[\w-]+/.exec(message)?.[0] ?? /'(-[^'\s,]+)/.exec(message)?.[1] ?? 'an option';
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const near = closestName(flag.replace(/^-+/, ''), optionNames);
      return new TernlmError(`unknown option ${flag} for ternlm ${command}${near ? ` (did you mean --${near}?)` : ''} — ${help}`);
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/does not take an argument/.test(message)) return new TernlmError(`${flag} takes no value — ${help}`);
      if (/ambiguous/.test(message)) return new TernlmError(`${flag} needs a value (for one that starts with '-', write ${flag}=<value>) — ${help}`);
      return new TernlmError(`${flag} needs a value — ${help}`);
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL': {
      const arg = /'([^']*)'/.exec(message)?.[1] ?? '';
      return new TernlmError(`unexpected argument '${arg}' for ternlm ${command} — ${help}`);
    }
    default:
      return err;
  }
}

/** The range a number flag accepts; `maxReason` says why the maximum is what it is. */
export interface FlagRange extends NumberRange {
  maxReason?: string;
}

type FlagValues = Record<string, unknown>;

/** An integer flag (`1_000_000` allowed), or `fallback` when the flag is absent. */
export function integerFlag(values: FlagValues, name: string, range: FlagRange): number | undefined;
export function integerFlag(values: FlagValues, name: string, range: FlagRange, fallback: number): number;
export function integerFlag(values: FlagValues, name: string, range: FlagRange, fallback?: number): number | undefined {
  return readNumber(values, name, range, true) ?? fallback;
}

/** A number flag, or `fallback` when the flag is absent. */
export function numberFlag(values: FlagValues, name: string, range: FlagRange): number | undefined;
export function numberFlag(values: FlagValues, name: string, range: FlagRange, fallback: number): number;
export function numberFlag(values: FlagValues, name: string, range: FlagRange, fallback?: number): number | undefined {
  return readNumber(values, name, range, false) ?? fallback;
}

function readNumber(values: FlagValues, name: string, range: FlagRange, integer: boolean): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const text = String(raw).trim();
  // Digit-group underscores (100_000_000) as in JavaScript; nothing else that Number() accepts
  // beyond plain decimals (no '0x10', no empty string).
  const v = /^[-+]?(\d[\d_]*)?(\.\d+)?(e[-+]?\d+)?$/i.test(text) && /\d/.test(text) ? Number(text.replace(/_/g, '')) : NaN;
  if (!(Number.isFinite(v) && (!integer || Number.isInteger(v)) && inRange(v, range))) {
    const why = range.maxReason ? ` (${range.maxReason})` : '';
    throw new TernlmError(`--${name} must be ${describeRange(range, integer)}${why}, got '${String(raw)}'`);
  }
  return v;
}

/** --threads: 1 to maxThreads of this machine's cores, or undefined (all cores) when absent. */
export function threadsFlag(values: FlagValues): number | undefined {
  const cores = availableParallelism();
  return integerFlag(values, 'threads', { min: 1, max: maxThreads(cores), maxReason: `4 × this machine's ${cores} cores, and never more than 256` });
}

/** --seed: a 32-bit unsigned integer, or undefined when absent. */
export function seedFlag(values: FlagValues): number | undefined {
  return integerFlag(values, 'seed', { min: 0, max: 2 ** 32 - 1 });
}
