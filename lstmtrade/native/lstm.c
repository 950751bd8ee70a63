/* One LSTM layer + linear head, trained with Adam: forward, backpropagation through time and the
 * update for one epoch of minibatches, in plain C (GCC/Clang vector extensions, no intrinsics).
 *
 * Same model and maths as lstmtrade.model.LSTMRegressor trained by lstmtrade.train.fit:
 *   z_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh,   gates i, f, g, o (torch's order)
 *   c_t = f * c_{t-1} + i * g,  h_t = o * tanh(c_t),  yhat = w_out . h_T + b_out
 * loss MSE (kind 0) or Huber with delta (kind 1), mean over the batch; Adam as torch.optim.Adam
 * (no weight decay, no amsgrad). Single-threaded and deterministic: the same inputs give the same
 * bits. Built and loaded on demand by lstmtrade/native/__init__.py; the hidden size must be a
 * multiple of 8.
 *
 * Parameters are one flat float32 array in torch's layout:
 *   W_ih [4H][F], W_hh [4H][H], b_ih [4H], b_hh [4H], w_out [H], b_out [1]
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef float v8f __attribute__((vector_size(32)));
typedef float v8fu __attribute__((vector_size(32), aligned(4)));
typedef int32_t v8i __attribute__((vector_size(32)));

#define LOAD(p) (*(const v8fu *)(p))
#define STORE(p, v) (*(v8fu *)(p) = (v))

static inline v8f splat(float a) { return (v8f){a, a, a, a, a, a, a, a}; }

static inline v8f vclamp(v8f x, float lo, float hi) {
    v8i below = x < splat(lo), above = x > splat(hi);
    v8i bits = (v8i)x;
    bits = (bits & ~below) | ((v8i)splat(lo) & below);
    bits = (bits & ~above) | ((v8i)splat(hi) & above);
    return (v8f)bits;
}

/* exp(x) for |x| <= 87: x = n ln2 + r with |r| < ln2, degree-8 Taylor polynomial for e^r,
 * 2^n put straight into the exponent bits. Relative error about 1e-7. */
static inline v8f vexp(v8f x) {
    x = vclamp(x, -87.0f, 87.0f);
    v8i n = __builtin_convertvector(x * splat(1.44269504088896341f), v8i); /* truncates toward 0 */
    v8f nf = __builtin_convertvector(n, v8f);
    v8f r = (x - nf * splat(0.693145751953125f)) - nf * splat(1.428606765330187e-06f);
    v8f p = splat(1.0f / 40320.0f);
    p = p * r + splat(1.0f / 5040.0f);
    p = p * r + splat(1.0f / 720.0f);
    p = p * r + splat(1.0f / 120.0f);
    p = p * r + splat(1.0f / 24.0f);
    p = p * r + splat(1.0f / 6.0f);
    p = p * r + splat(0.5f);
    p = p * r + splat(1.0f);
    p = p * r + splat(1.0f);
    v8i scale = (n + 127) << 23;
    return p * (v8f)scale;
}

static inline v8f vsigmoid(v8f x) { return splat(1.0f) / (splat(1.0f) + vexp(-x)); }
static inline v8f vtanh(v8f x) { return splat(2.0f) / (splat(1.0f) + vexp(x * splat(-2.0f))) - splat(1.0f); }

/* C[M x N] = (acc ? C : 0) + A B with A(i, k) = A[i * ars + k * acs], B row-major (ldb), C row-major
 * (ldc); N a multiple of 8. Register tiles of 4 rows x 16 columns. */
static void gemm(int M, int N, int K, const float *A, long ars, long acs, const float *B, long ldb,
                 float *C, long ldc, int acc) {
    int i = 0;
    for (; i + 4 <= M; i += 4) {
        const float *a0 = A + i * ars, *a1 = a0 + ars, *a2 = a1 + ars, *a3 = a2 + ars;
        float *c0 = C + i * ldc, *c1 = c0 + ldc, *c2 = c1 + ldc, *c3 = c2 + ldc;
        int j = 0;
        for (; j + 16 <= N; j += 16) {
            v8f s00 = splat(0), s01 = splat(0), s10 = splat(0), s11 = splat(0);
            v8f s20 = splat(0), s21 = splat(0), s30 = splat(0), s31 = splat(0);
            if (acc) {
                s00 = LOAD(c0 + j); s01 = LOAD(c0 + j + 8); s10 = LOAD(c1 + j); s11 = LOAD(c1 + j + 8);
                s20 = LOAD(c2 + j); s21 = LOAD(c2 + j + 8); s30 = LOAD(c3 + j); s31 = LOAD(c3 + j + 8);
            }
            const float *b = B + j;
            for (int k = 0; k < K; k++, b += ldb) {
                v8f b0 = LOAD(b), b1 = LOAD(b + 8);
                long o = k * acs;
                v8f x0 = splat(a0[o]), x1 = splat(a1[o]), x2 = splat(a2[o]), x3 = splat(a3[o]);
                s00 += x0 * b0; s01 += x0 * b1; s10 += x1 * b0; s11 += x1 * b1;
                s20 += x2 * b0; s21 += x2 * b1; s30 += x3 * b0; s31 += x3 * b1;
            }
            STORE(c0 + j, s00); STORE(c0 + j + 8, s01); STORE(c1 + j, s10); STORE(c1 + j + 8, s11);
            STORE(c2 + j, s20); STORE(c2 + j + 8, s21); STORE(c3 + j, s30); STORE(c3 + j + 8, s31);
        }
        for (; j < N; j += 8) {
            v8f s0 = acc ? LOAD(c0 + j) : splat(0), s1 = acc ? LOAD(c1 + j) : splat(0);
            v8f s2 = acc ? LOAD(c2 + j) : splat(0), s3 = acc ? LOAD(c3 + j) : splat(0);
            const float *b = B + j;
            for (int k = 0; k < K; k++, b += ldb) {
                v8f b0 = LOAD(b);
                long o = k * acs;
                s0 += splat(a0[o]) * b0; s1 += splat(a1[o]) * b0;
                s2 += splat(a2[o]) * b0; s3 += splat(a3[o]) * b0;
            }
            STORE(c0 + j, s0); STORE(c1 + j, s1); STORE(c2 + j, s2); STORE(c3 + j, s3);
        }
    }
    for (; i < M; i++) {
        const float *a0 = A + i * ars;
        float *c0 = C + i * ldc;
        for (int j = 0; j < N; j += 8) {
            v8f s0 = acc ? LOAD(c0 + j) : splat(0);
            const float *b = B + j;
            for (int k = 0; k < K; k++, b += ldb) s0 += splat(a0[k * acs]) * LOAD(b);
            STORE(c0 + j, s0);
        }
    }
}

/* Forward and backward over one batch of nb windows; adds the gradient into grad (zeroed by the
 * caller) and returns the batch's mean loss. xb is time-major [T][nb][F]. */
static double batch_grad(const float *params, float *grad, const float *xb, const float *yb, int nb, int T,
                         int F, int H, int loss_kind, float delta, float *work) {
    const int G = 4 * H, NV = H / 8;
    const float *Wih = params, *Whh = Wih + (long)G * F, *bih = Whh + (long)G * H, *bhh = bih + G;
    const float *wout = bhh + G, *bout = wout + H;
    float *gWih = grad, *gWhh = gWih + (long)G * F, *gbih = gWhh + (long)G * H, *gbhh = gbih + G;
    float *gwout = gbhh + G, *gbout = gwout + H;

    float *WihT = work;                          /* [F][G] */
    float *WhhT = WihT + (long)F * G;            /* [H][G] */
    float *Hs = WhhT + (long)H * G;              /* [T+1][nb][H], Hs[0] = 0 */
    float *Cs = Hs + (long)(T + 1) * nb * H;     /* [T+1][nb][H] */
    float *TC = Cs + (long)(T + 1) * nb * H;     /* [T][nb][H] tanh(c_t) */
    float *Z = TC + (long)T * nb * H;            /* [T][nb][G]: activations, then dz in place */
    float *dH = Z + (long)T * nb * G;            /* [nb][H] */
    float *dC = dH + (long)nb * H;               /* [nb][H] */
    float *gT = dC + (long)nb * H;               /* [max(H, F)][G]: W_hh's or W_ih's gradient, transposed */
    float *dy = gT + (long)(H > F ? H : F) * G;  /* [nb] */

    for (int j = 0; j < G; j++) {
        for (int f = 0; f < F; f++) WihT[(long)f * G + j] = Wih[(long)j * F + f];
        for (int k = 0; k < H; k++) WhhT[(long)k * G + j] = Whh[(long)j * H + k];
    }
    memset(Hs, 0, sizeof(float) * nb * H);
    memset(Cs, 0, sizeof(float) * nb * H);

    /* forward */
    for (int t = 0; t < T; t++) {
        float *z = Z + (long)t * nb * G;
        for (int b = 0; b < nb; b++)
            for (int j = 0; j < G; j++) z[(long)b * G + j] = bih[j] + bhh[j];
        gemm(nb, G, F, xb + (long)t * nb * F, F, 1, WihT, G, z, G, 1);
        gemm(nb, G, H, Hs + (long)t * nb * H, H, 1, WhhT, G, z, G, 1);
        const float *cp = Cs + (long)t * nb * H;
        float *cn = Cs + (long)(t + 1) * nb * H, *hn = Hs + (long)(t + 1) * nb * H, *tc = TC + (long)t * nb * H;
        for (int b = 0; b < nb; b++) {
            float *zb = z + (long)b * G;
            for (int v = 0; v < NV; v++) {
                long o = (long)b * H + 8 * v;
                v8f i = vsigmoid(LOAD(zb + 8 * v)), f = vsigmoid(LOAD(zb + H + 8 * v));
                v8f g = vtanh(LOAD(zb + 2 * H + 8 * v)), og = vsigmoid(LOAD(zb + 3 * H + 8 * v));
                v8f c = f * LOAD(cp + o) + i * g, th = vtanh(c);
                STORE(zb + 8 * v, i); STORE(zb + H + 8 * v, f); STORE(zb + 2 * H + 8 * v, g);
                STORE(zb + 3 * H + 8 * v, og);
                STORE(cn + o, c); STORE(tc + o, th); STORE(hn + o, og * th);
            }
        }
    }

    /* head and loss */
    const float *hT = Hs + (long)T * nb * H;
    double loss = 0.0;
    for (int b = 0; b < nb; b++) {
        float yhat = bout[0];
        for (int k = 0; k < H; k++) yhat += wout[k] * hT[(long)b * H + k];
        float d = yhat - yb[b];
        if (loss_kind == 1 && fabsf(d) >= delta) {
            loss += delta * (fabsf(d) - 0.5f * delta);
            dy[b] = (d > 0 ? delta : -delta) / nb;
        } else {
            loss += loss_kind == 1 ? 0.5 * d * d : (double)d * d;
            dy[b] = (loss_kind == 1 ? d : 2.0f * d) / nb;
        }
    }
    for (int b = 0; b < nb; b++) {
        gbout[0] += dy[b];
        for (int k = 0; k < H; k++) {
            gwout[k] += dy[b] * hT[(long)b * H + k];
            dH[(long)b * H + k] = dy[b] * wout[k];
        }
    }
    memset(dC, 0, sizeof(float) * nb * H);

    /* backward through time; dz overwrites the activations */
    for (int t = T - 1; t >= 0; t--) {
        float *z = Z + (long)t * nb * G;
        if (t < T - 1) gemm(nb, H, G, Z + (long)(t + 1) * nb * G, G, 1, Whh, H, dH, H, 0);
        const float *cp = Cs + (long)t * nb * H, *tc = TC + (long)t * nb * H;
        for (int b = 0; b < nb; b++) {
            float *zb = z + (long)b * G;
            for (int v = 0; v < NV; v++) {
                long o = (long)b * H + 8 * v;
                v8f i = LOAD(zb + 8 * v), f = LOAD(zb + H + 8 * v), g = LOAD(zb + 2 * H + 8 * v);
                v8f og = LOAD(zb + 3 * H + 8 * v), th = LOAD(tc + o), dh = LOAD(dH + o);
                v8f one = splat(1.0f);
                v8f dc = LOAD(dC + o) + dh * og * (one - th * th);
                STORE(zb + 8 * v, dc * g * i * (one - i));
                STORE(zb + H + 8 * v, dc * LOAD(cp + o) * f * (one - f));
                STORE(zb + 2 * H + 8 * v, dc * i * (one - g * g));
                STORE(zb + 3 * H + 8 * v, dh * th * og * (one - og));
                STORE(dC + o, dc * f);
            }
        }
    }

    /* weight gradients over all (t, b) rows at once */
    long R = (long)T * nb;
    gemm(H, G, (int)R, Hs, 1, H, Z, G, gT, G, 0);
    for (int j = 0; j < G; j++)
        for (int k = 0; k < H; k++) gWhh[(long)j * H + k] += gT[(long)k * G + j];
    gemm(F, G, (int)R, xb, 1, F, Z, G, gT, G, 0);
    for (int j = 0; j < G; j++)
        for (int f = 0; f < F; f++) gWih[(long)j * F + f] += gT[(long)f * G + j];
    for (long r = 0; r < R; r++) {
        const float *zr = Z + r * G;
        for (int j = 0; j < G; j++) gbih[j] += zr[j];
    }
    for (int j = 0; j < G; j++) gbhh[j] = gbih[j];
    return nb ? loss / nb : 0.0;
}

long lt_work_floats(int T, int F, int H, int B) {
    long G = 4L * H;
    return F * G + H * G + 2L * (T + 1) * B * H + (long)T * B * H + (long)T * B * G + 2L * B * H
           + (long)(H > F ? H : F) * G + B;
}

long lt_param_count(int F, int H) { return 4L * H * F + 4L * H * H + 8L * H + H + 1; }

/* Loss and gradient of one batch (for tests against autograd). work: lt_work_floats floats. */
double lt_loss_grad(const float *params, float *grad, const float *x, const float *y, int nb, int T, int F,
                    int H, int loss_kind, float delta, float *work) {
    memset(grad, 0, sizeof(float) * lt_param_count(F, H));
    float *xb = malloc(sizeof(float) * (size_t)T * nb * F);
    if (!xb) return -1.0;
    for (int b = 0; b < nb; b++)
        for (int t = 0; t < T; t++)
            for (int f = 0; f < F; f++) xb[((long)t * nb + b) * F + f] = x[((long)b * T + t) * F + f];
    double loss = batch_grad(params, grad, xb, y, nb, T, F, H, loss_kind, delta, work);
    free(xb);
    return loss;
}

/* One epoch: batches of `batch` rows of x [N][T][F] in the given order, an Adam step after each.
 * m, v: Adam moments; *step: Adam's step count (in and out). Returns the epoch's mean loss
 * (sum of batch mean loss x batch rows / N), or -1 when memory runs out. */
double lt_train_epoch(float *params, float *m, float *v, long *step, const float *x, const float *y,
                      const int64_t *order, long N, int T, int F, int H, int batch, float lr, float beta1,
                      float beta2, float eps, int loss_kind, float delta) {
    long P = lt_param_count(F, H);
    float *work = malloc(sizeof(float) * (size_t)lt_work_floats(T, F, H, batch));
    float *grad = malloc(sizeof(float) * (size_t)P);
    float *xb = malloc(sizeof(float) * (size_t)T * batch * F);
    float *yb = malloc(sizeof(float) * (size_t)batch);
    double total = 0.0;
    if (!work || !grad || !xb || !yb) {
        total = -1.0;
        goto done;
    }
    for (long lo = 0; lo < N; lo += batch) {
        int nb = (int)(N - lo < batch ? N - lo : batch);
        for (int b = 0; b < nb; b++) {
            long row = order[lo + b];
            yb[b] = y[row];
            const float *src = x + row * T * F;
            for (int t = 0; t < T; t++)
                for (int f = 0; f < F; f++) xb[((long)t * nb + b) * F + f] = src[(long)t * F + f];
        }
        memset(grad, 0, sizeof(float) * P);
        total += batch_grad(params, grad, xb, yb, nb, T, F, H, loss_kind, delta, work) * nb;
        long s = ++*step;
        float c2 = (float)sqrt(1.0 - pow(beta2, (double)s));
        float size = (float)(lr / (1.0 - pow(beta1, (double)s)));
        for (long p = 0; p < P; p++) {
            float g = grad[p];
            m[p] = beta1 * m[p] + (1.0f - beta1) * g;
            v[p] = beta2 * v[p] + (1.0f - beta2) * g * g;
            params[p] -= size * m[p] / (sqrtf(v[p]) / c2 + eps);
        }
    }
    total /= N;
done:
    free(work);
    free(grad);
    free(xb);
    free(yb);
    return total;
}
