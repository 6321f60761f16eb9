// Kernel templates of the fused CPU neuron (conventions in lif_common.h). No #include here: this file is
// included inside a namespace by lif_cpu_avx2.cpp and lif_cpu_base.cpp (one copy per instruction set;
// SNN_REPRO_AVX2 says which), after lif_common.h, which includes the standard headers it needs.

// exp for the sigmoid surrogate: std::exp keeps GCC from vectorizing the backward loop (6x slower), so
// float uses 2^k * 2^f with a degree-6 Taylor polynomial for 2^f, |f| <= 1/2 (relative error < 2e-7).
template <typename T>
inline T surrogate_exp(T x) {
  if constexpr (std::is_same_v<T, float>) {
    x = std::min(std::max(x, -87.0f), 88.0f);
    const float t = x * 1.44269504088896341f;
    const float k = std::floor(t + 0.5f);
    const float f = t - k;
    float p = 1.5403530e-4f;
    p = p * f + 1.3333558e-3f;
    p = p * f + 9.6181291e-3f;
    p = p * f + 5.5504109e-2f;
    p = p * f + 2.4022651e-1f;
    p = p * f + 6.9314718e-1f;
    p = p * f + 1.0f;
    int32_t bits;
    std::memcpy(&bits, &p, sizeof bits);
    bits += static_cast<int32_t>(k) * (1 << 23);
    std::memcpy(&p, &bits, sizeof p);
    return p;
  } else {
    return std::exp(x);
  }
}

template <int KIND, typename T>
inline T surrogate(T z, T a, T atan_c) {
  if constexpr (KIND == 0) {
    T q = T(1) - std::abs(z);
    return a * (q > T(0) ? q : T(0));
  } else if constexpr (KIND == 1) {
    T d = a * std::abs(z) + T(1);
    return T(1) / (d * d);
  } else if constexpr (KIND == 2) {
    T s = T(1) / (T(1) + surrogate_exp<T>(-(a * z)));
    return a * s * (T(1) - s);
  } else if constexpr (KIND == 3) {
    T q = atan_c * z;
    return (a / T(2)) / (T(1) + q * q);
  } else {
    (void)z;
    return a;
  }
}

template <typename T>
inline void load_params(const T* leak, const T* thr, int64_t C, int64_t S, int64_t n0, int64_t nb, T* lam, T* th) {
  for (int64_t i = 0; i < nb; ++i) {
    int64_t c = C == 1 ? 0 : ((n0 + i) / S) % C;
    lam[i] = leak[c];
    th[i] = thr[c];
  }
}

#if SNN_REPRO_AVX2
// The forward's row for float with non-temporal stores of spikes and h (32-byte aligned rows): the
// stores skip reading the destination lines first, which is a third of the forward's memory traffic.
// Same operations and rounding as the generic loop. Returns the number of neurons done (multiple of 8).
template <bool SOFT, bool STORE_H>
inline int64_t lif_fwd_row_avx2(const float* __restrict__ xp, const float* __restrict__ lam,
                                const float* __restrict__ th, int64_t nb, float* __restrict__ sp,
                                float* __restrict__ hp, float* __restrict__ v) {
  const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= nb; i += 8) {
    const __m256 thv = _mm256_loadu_ps(th + i);
    const __m256 h = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(lam + i), _mm256_loadu_ps(v + i)),
                                   _mm256_loadu_ps(xp + i));
    const __m256 z = _mm256_sub_ps(_mm256_div_ps(h, thv), one);
    const __m256 s = _mm256_and_ps(_mm256_cmp_ps(z, zero, _CMP_GE_OQ), one);
    _mm256_stream_ps(sp + i, s);
    if constexpr (STORE_H) _mm256_stream_ps(hp + i, h);
    const __m256 vn = SOFT ? _mm256_sub_ps(h, _mm256_mul_ps(thv, s)) : _mm256_mul_ps(h, _mm256_sub_ps(one, s));
    _mm256_storeu_ps(v + i, vn);
  }
  return i;
}
#endif

// One block of nb <= BLK neurons through all T steps (kept out of the parallel lambda so that GCC
// vectorizes the inner loop; restrict-qualified row pointers, state v in scratch).
template <typename T, bool SOFT, bool STORE_H>
__attribute__((noinline)) void lif_fwd_block(const T* __restrict__ x, const T* __restrict__ v0,
                                             const T* __restrict__ lam, const T* __restrict__ th, int64_t T_,
                                             int64_t N, int64_t n0, int64_t nb, T* __restrict__ spikes,
                                             T* __restrict__ hbuf, T* __restrict__ v, T* __restrict__ vlast) {
  const bool pf = use_prefetch<T>(nb);
  // rows 32-byte aligned throughout (N and n0 multiples of 8): non-temporal stores for spikes and h
  const bool stream = !pf && N % 8 == 0 && n0 % 8 == 0 && reinterpret_cast<uintptr_t>(spikes) % 32 == 0 &&
                      (!STORE_H || reinterpret_cast<uintptr_t>(hbuf) % 32 == 0);
  for (int64_t i = 0; i < nb; ++i) v[i] = v0 ? v0[n0 + i] : T(0);
  for (int64_t t = 0; t < T_; ++t) {
    const T* __restrict__ xp = x + t * N + n0;
    T* __restrict__ sp = spikes + t * N + n0;
    T* __restrict__ hp = STORE_H ? hbuf + t * N + n0 : nullptr;
    if (pf && t + PD < T_) {
      prefetch_row(xp + PD * N, nb, false);
      prefetch_row(sp + PD * N, nb, true);
      if constexpr (STORE_H) prefetch_row(hp + PD * N, nb, true);
    }
    int64_t i0 = 0;
#if SNN_REPRO_AVX2
    if constexpr (std::is_same_v<T, float>) {
      if (stream) i0 = lif_fwd_row_avx2<SOFT, STORE_H>(xp, lam, th, nb, sp, hp, v);
    }
#endif
#pragma GCC ivdep
    for (int64_t i = i0; i < nb; ++i) {
      T h = lam[i] * v[i] + xp[i];
      T s = (h / th[i] - T(1)) >= T(0) ? T(1) : T(0);
      sp[i] = s;
      if constexpr (STORE_H) hp[i] = h;
      if constexpr (SOFT) {
        v[i] = h - th[i] * s;
      } else {
        v[i] = h * (T(1) - s);
      }
    }
  }
  for (int64_t i = 0; i < nb; ++i) vlast[n0 + i] = v[i];
#if SNN_REPRO_AVX2
  if (stream) _mm_sfence();  // order the non-temporal stores before the block's results are used
#endif
}

template <typename T, bool SOFT, bool STORE_H>
void lif_fwd_impl(const T* x, const T* v0, const T* leak, const T* thr, int64_t T_, int64_t N, int64_t C,
                  int64_t S, T* spikes, T* hbuf, T* vlast) {
  for_blocks<T>(N, [&](int64_t n0, int64_t nb) {
    Scratch<T> st(3, nb);
    load_params(leak, thr, C, S, n0, nb, st[0], st[1]);
    lif_fwd_block<T, SOFT, STORE_H>(x, v0, st[0], st[1], T_, N, n0, nb, spikes, hbuf, st[2], vlast);
  });
}

// One reverse-time step for a block. FIRST: t == 0 (previous state is v0). gx may alias h (no restrict
// between them: h[t] is read before grad_x[t] is written at the same address). q[i] holds h[t]/thr,
// computed by the previous (later-in-time) step, so each step divides once for the spike decisions
// (bit-identical to the forward's h / thr - 1 >= 0). PARAM_GRADS: accumulate the per-neuron leak and
// threshold gradients (skipped when neither is needed: a fifth of the backward's time). ONE_CHANNEL: one
// leak/threshold per layer, kept in registers instead of read per neuron (about a tenth of the time).
template <typename T, int KIND, bool SOFT, bool DETACH, bool FIRST, bool PARAM_GRADS, bool ONE_CHANNEL>
inline void lif_bwd_step(const T* gsp, const T* __restrict__ ghp, const T* hp, const T* hm,
                         const T* __restrict__ v0p, const T* __restrict__ lam, const T* __restrict__ th,
                         const T* __restrict__ inv, int64_t nb, T a, T atan_c, T* __restrict__ q,
                         T* __restrict__ gv, T* __restrict__ gl, T* __restrict__ gt, T* gxp) {
  const T th0 = th[0], inv0 = inv[0], lam0 = lam[0];
#pragma GCC ivdep
  for (int64_t i = 0; i < nb; ++i) {
    const T thi = ONE_CHANNEL ? th0 : th[i], invi = ONE_CHANNEL ? inv0 : inv[i], lami = ONE_CHANNEL ? lam0 : lam[i];
    T vprev = T(0), qm = T(0);
    if constexpr (FIRST) {
      if constexpr (PARAM_GRADS) vprev = v0p ? v0p[i] : T(0);
    } else {
      const T hmv = hm[i];
      qm = hmv / thi;
      if constexpr (PARAM_GRADS) {
        const T sm = (qm - T(1)) >= T(0) ? T(1) : T(0);
        vprev = SOFT ? hmv - thi * sm : hmv * (T(1) - sm);
      }
    }
    const T hv = hp[i];
    const T z = q[i] - T(1);
    const T s = z >= T(0) ? T(1) : T(0);
    const T sg = surrogate<KIND, T>(z, a, atan_c);
    T gsum = gsp[i];
    if constexpr (!DETACH) gsum += gv[i] * (SOFT ? -thi : -hv);
    const T gsg = gsum * sg * invi;
    const T g = ghp[i] + ((SOFT ? gv[i] : gv[i] * (T(1) - s)) + gsg);
    if constexpr (PARAM_GRADS) {
      T dth = gsg * (-hv * invi);
      if constexpr (SOFT) dth -= gv[i] * s;
      gt[i] += dth;
      gl[i] += g * vprev;
    }
    gxp[i] = g;
    gv[i] = g * lami;
    if constexpr (!FIRST) q[i] = qm;
  }
}

// Reverse-time recurrence of one block. A missing upstream gradient reads a constant row instead of
// a [T, N] stream: grad_spikes given as one scalar (e.g. the grad of spikes.sum()), grad_membrane
// absent (zeros). st holds lam, th, then this function's state and the constant rows.
template <typename T, int KIND, bool SOFT, bool DETACH, bool PARAM_GRADS, bool ONE_CHANNEL>
__attribute__((noinline)) void lif_bwd_block(const T* gs, T gs_scalar, const T* gh_in, const T* gv_in, const T* h,
                                             const T* v0, int64_t T_, int64_t N, int64_t n0, int64_t nb, T a,
                                             T atan_c, T* gx, T* gv0, T* gleak, T* gthr, const Scratch<T>& st) {
  const T* lam = st[0];
  const T* th = st[1];
  T* gv = st[2];
  T* gl = st[3];
  T* gt = st[4];
  T* q = st[5];
  T* inv = st[6];
  T* gs_row = st[7];
  T* gh_row = st[8];
  const bool pf = use_prefetch<T>(nb);
  const T* hlast = h + (T_ - 1) * N + n0;
  for (int64_t i = 0; i < nb; ++i) {
    gv[i] = gv_in ? gv_in[n0 + i] : T(0);
    gl[i] = T(0);
    gt[i] = T(0);
    inv[i] = T(1) / th[i];
    q[i] = hlast[i] / th[i];
    gs_row[i] = gs_scalar;
    gh_row[i] = T(0);
  }
  for (int64_t t = T_ - 1; t >= 0; --t) {
    const int64_t o = t * N + n0;
    const T* gsp = gs ? gs + o : gs_row;
    const T* ghp = gh_in ? gh_in + o : gh_row;
    if (pf && t - PD - 1 >= 0) {
      const int64_t op = o - (PD + 1) * N;
      prefetch_row(h + op, nb, true);
      if (gs) prefetch_row(gs + op, nb, false);
      if (gh_in) prefetch_row(gh_in + op, nb, false);
      if (gx != h) prefetch_row(gx + op, nb, true);
    }
    if (t > 0)
      lif_bwd_step<T, KIND, SOFT, DETACH, false, PARAM_GRADS, ONE_CHANNEL>(gsp, ghp, h + o, h + o - N, nullptr, lam, th, inv,
                                                               nb, a, atan_c, q, gv, gl, gt, gx + o);
    else
      lif_bwd_step<T, KIND, SOFT, DETACH, true, PARAM_GRADS, ONE_CHANNEL>(gsp, ghp, h + o, nullptr, v0 ? v0 + n0 : nullptr,
                                                              lam, th, inv, nb, a, atan_c, q, gv, gl, gt, gx + o);
  }
  for (int64_t i = 0; i < nb; ++i) {
    if (gv0) gv0[n0 + i] = gv[i];
    if (gleak) gleak[n0 + i] = gl[i];
    if (gthr) gthr[n0 + i] = gt[i];
  }
}

// Reverse-time recurrence. gx may alias h (grad_x written over the saved charge, step by step).
template <typename T, int KIND, bool SOFT, bool DETACH>
void lif_bwd_impl(const T* gs, T gs_scalar, const T* gh_in, const T* gv_in, const T* h, const T* v0,
                  const T* leak, const T* thr, int64_t T_, int64_t N, int64_t C, int64_t S, double alpha, T* gx,
                  T* gv0, T* gleak, T* gthr) {
  const T a = T(alpha);
  const T atan_c = T(M_PI / 2.0 * alpha);
  for_blocks<T>(N, [&](int64_t n0, int64_t nb) {
    Scratch<T> st(9, nb);
    load_params(leak, thr, C, S, n0, nb, st[0], st[1]);
#define BWD_BLOCK(PG, ONE)                                                                                \
  lif_bwd_block<T, KIND, SOFT, DETACH, PG, ONE>(gs, gs_scalar, gh_in, gv_in, h, v0, T_, N, n0, nb, a, atan_c, gx, \
                                                gv0, gleak, gthr, st)
    const bool pg = gleak || gthr;
    if (C == 1) {
      if (pg) BWD_BLOCK(true, true); else BWD_BLOCK(false, true);
    } else {
      if (pg) BWD_BLOCK(true, false); else BWD_BLOCK(false, false);
    }
#undef BWD_BLOCK
  });
}

// ---- two-exponential filter (SPSN): I[t] = a I[t-1] + x[t];  U[t] = b U[t-1] + (1-b) I[t] ----
// forward: optionally fused threshold firing s = 1[U >= thr]; reverse=true runs the adjoint recurrence
// (gI[t] = a gI[t+1] + (1-b) gU'[t], gU'[t] = g[t] + b gU'[t+1]) on the grad, writing grad_x.
template <typename T, bool REVERSE, bool FIRE>
void filter_impl(const T* in, int64_t T_, int64_t N, T a, T b, T thr, T* out, T* spikes) {
  for_blocks<T>(N, [&](int64_t n0, int64_t nb) {
    Scratch<T> st(2, nb);
    T* __restrict__ I = st[0];
    T* __restrict__ U = st[1];
    for (int64_t i = 0; i < nb; ++i) I[i] = U[i] = T(0);
    for (int64_t k = 0; k < T_; ++k) {
      const int64_t t = REVERSE ? T_ - 1 - k : k;
      const T* __restrict__ ip = in + t * N + n0;
      T* __restrict__ op = out + t * N + n0;
      if constexpr (!REVERSE) {
        for (int64_t i = 0; i < nb; ++i) {
          I[i] = a * I[i] + ip[i];
          U[i] = b * U[i] + (T(1) - b) * I[i];
          op[i] = U[i];
        }
        if constexpr (FIRE) {
          T* __restrict__ sp = spikes + t * N + n0;
          for (int64_t i = 0; i < nb; ++i) sp[i] = (U[i] / thr - T(1)) >= T(0) ? T(1) : T(0);
        }
      } else {
        for (int64_t i = 0; i < nb; ++i) {
          U[i] = b * U[i] + ip[i];           // adjoint of U
          I[i] = a * I[i] + (T(1) - b) * U[i];  // adjoint of I == grad x
          op[i] = I[i];
        }
      }
    }
  });
}

// ---- entry points (declared in lif_common.h) -------------------------------------------------------
template <typename T>
void lif_fwd_typed(const FwdArgs& a) {
  const T* x = static_cast<const T*>(a.x);
  const T* v0 = static_cast<const T*>(a.v0);
  const T* leak = static_cast<const T*>(a.leak);
  const T* thr = static_cast<const T*>(a.thr);
  T* spikes = static_cast<T*>(a.spikes);
  T* h = static_cast<T*>(a.h);
  T* vlast = static_cast<T*>(a.vlast);
#define FWD(SOFT_, STORE_H_) lif_fwd_impl<T, SOFT_, STORE_H_>(x, v0, leak, thr, a.T_, a.N, a.C, a.S, spikes, h, vlast)
  if (a.soft) {
    if (h) FWD(true, true); else FWD(true, false);
  } else {
    if (h) FWD(false, true); else FWD(false, false);
  }
#undef FWD
}

template <typename T, int KIND>
void lif_bwd_kind(const BwdArgs& a) {
#define BWD(SOFT_, DETACH_)                                                                                       \
  lif_bwd_impl<T, KIND, SOFT_, DETACH_>(                                                                          \
      static_cast<const T*>(a.gs), T(a.gs_scalar), static_cast<const T*>(a.gh), static_cast<const T*>(a.gv),     \
      static_cast<const T*>(a.h), static_cast<const T*>(a.v0), static_cast<const T*>(a.leak),                    \
      static_cast<const T*>(a.thr), a.T_, a.N, a.C, a.S, a.alpha, static_cast<T*>(a.gx), static_cast<T*>(a.gv0), \
      static_cast<T*>(a.gl), static_cast<T*>(a.gt))
  if (a.soft) {
    if (a.detach) BWD(true, true); else BWD(true, false);
  } else {
    if (a.detach) BWD(false, true); else BWD(false, false);
  }
#undef BWD
}

template <typename T>
void lif_bwd_typed(const BwdArgs& a) {
  switch (a.kind) {
    case 0: lif_bwd_kind<T, 0>(a); break;
    case 1: lif_bwd_kind<T, 1>(a); break;
    case 2: lif_bwd_kind<T, 2>(a); break;
    case 3: lif_bwd_kind<T, 3>(a); break;
    default: lif_bwd_kind<T, 4>(a); break;
  }
}

template <typename T>
void filter_typed(const FilterArgs& f) {
  const T* in = static_cast<const T*>(f.in);
  T* out = static_cast<T*>(f.out);
  T* sp = static_cast<T*>(f.spikes);
  if (f.reverse) filter_impl<T, true, false>(in, f.T_, f.N, T(f.a), T(f.b), T(f.thr), out, nullptr);
  else if (sp) filter_impl<T, false, true>(in, f.T_, f.N, T(f.a), T(f.b), T(f.thr), out, sp);
  else filter_impl<T, false, false>(in, f.T_, f.N, T(f.a), T(f.b), T(f.thr), out, nullptr);
}

void lif_fwd(const FwdArgs& a) {
  if (a.is_double) lif_fwd_typed<double>(a); else lif_fwd_typed<float>(a);
}
void lif_bwd(const BwdArgs& a) {
  if (a.is_double) lif_bwd_typed<double>(a); else lif_bwd_typed<float>(a);
}
void two_exp_filter(const FilterArgs& a) {
  if (a.is_double) filter_typed<double>(a); else filter_typed<float>(a);
}
