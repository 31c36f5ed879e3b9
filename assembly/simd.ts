// Shared SIMD helpers. ASC_FEATURE_RELAXED_SIMD is a compile-time constant: the relaxed build
// gets fused multiply-add, the baseline build a multiply followed by an add.

/** a * b + c, fused in the relaxed build. */
// @ts-ignore: decorator
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return f32x4.relaxed_madd(a, b, c);
  } else {
    return f32x4.add(f32x4.mul(a, b), c);
  }
}

/** Sum of the four lanes. */
// @ts-ignore: decorator
@inline export function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

/** a . b over n floats. */
// @ts-ignore: decorator
@inline export function dot(a: usize, b: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  let k = 0;
  for (; k + 4 <= n; k += 4) acc = madd(v128.load(a + <usize>k * 4), v128.load(b + <usize>k * 4), acc);
  let s = hsum(acc);
  for (; k < n; k++) s += load<f32>(a + <usize>k * 4) * load<f32>(b + <usize>k * 4);
  return s;
}

/** y (+)= s * x over n floats (y written, or added to when accumulating). */
// @ts-ignore: decorator
@inline export function axpy(s: f32, x: usize, y: usize, n: i32, accumulate: bool): void {
  const sv = f32x4.splat(s);
  let k = 0;
  if (accumulate) {
    for (; k + 4 <= n; k += 4) v128.store(y + <usize>k * 4, madd(sv, v128.load(x + <usize>k * 4), v128.load(y + <usize>k * 4)));
    for (; k < n; k++) store<f32>(y + <usize>k * 4, load<f32>(y + <usize>k * 4) + s * load<f32>(x + <usize>k * 4));
  } else {
    for (; k + 4 <= n; k += 4) v128.store(y + <usize>k * 4, f32x4.mul(sv, v128.load(x + <usize>k * 4)));
    for (; k < n; k++) store<f32>(y + <usize>k * 4, s * load<f32>(x + <usize>k * 4));
  }
}

/** Largest of the four lanes. */
// @ts-ignore: decorator
@inline export function hmax(v: v128): f32 {
  return max(max(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)), max(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)));
}

/** Sum of the four i32 lanes. */
// @ts-ignore: decorator
@inline export function hsumI32(v: v128): i32 {
  return i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1) + i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3);
}

/**
 * e^x for four lanes: x = n ln2 + r with |r| <= ln2/2, e^r by a degree-6 polynomial,
 * 2^n put into the exponent bits. Relative error about 2e-7 over the clamped range.
 */
// @ts-ignore: decorator
@inline export function exp4(x: v128): v128 {
  x = f32x4.max(f32x4.min(x, f32x4.splat(88.3762626647949)), f32x4.splat(-87.3365447504019));
  const n = f32x4.nearest(f32x4.mul(x, f32x4.splat(1.44269504088896341)));
  // Cody-Waite: ln2 split into a part exact in f32 and a small remainder.
  let r = madd(n, f32x4.splat(-0.693359375), x);
  r = madd(n, f32x4.splat(2.12194440e-4), r);
  let p = f32x4.splat(1.0 / 720.0);
  p = madd(p, r, f32x4.splat(1.0 / 120.0));
  p = madd(p, r, f32x4.splat(1.0 / 24.0));
  p = madd(p, r, f32x4.splat(1.0 / 6.0));
  p = madd(p, r, f32x4.splat(0.5));
  p = madd(p, r, f32x4.splat(1.0));
  p = madd(p, r, f32x4.splat(1.0));
  const pow2n = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return f32x4.mul(p, pow2n);
}

/** Scalar e^x with the same accuracy as exp4 (for tails). */
// @ts-ignore: decorator
@inline export function exp1(x: f32): f32 {
  return f32x4.extract_lane(exp4(f32x4.splat(x)), 0);
}
